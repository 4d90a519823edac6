/*
 * FULLY_CONNECTED with operands of 8, 4 or 2 bits (tm_subbyte.h), per-tensor
 * or per-channel requantization. A packed input row is unpacked a chunk at a
 * time into a small buffer on the stack (no scratch: an unpacked row would
 * take more memory than packing saved) and dotted with each unit's weights. A
 * non-zero filter offset takes the exact path of tm_fully_connected_s8.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

/* Input elements unpacked at a time. */
#define CHUNK 32

int32_t tm_fully_connected_sb_get_buffer_size(const tm_fc_sb_params *params, const tm_dims *filter_dims) {
  (void)params;
  (void)filter_dims;
  return 0;
}

/* Dot product of input row elements [first, first + n) with n weights from element `w_first`. */
static int32_t dot(const void *input, int32_t first, int32_t in_bits, const void *filter, int32_t w_first,
                   int32_t w_bits, int32_t n) {
  if (in_bits == 8) {
    return tm_sb_dot((const int8_t *)input + first, filter, w_first, n, w_bits);
  }
  int8_t chunk[CHUNK];
  int32_t acc = 0;
  for (int32_t i = 0; i < n; i += CHUNK) {
    const int32_t len = n - i < CHUNK ? n - i : CHUNK;
    tm_sb_unpack(input, first + i, len, in_bits, chunk);
    acc += tm_sb_dot(chunk, filter, w_first + i, len, w_bits);
  }
  return acc;
}

tm_status tm_fully_connected_sb(const tm_context *ctx, const tm_fc_sb_params *params,
                                const tm_per_channel_quant *quant, const tm_dims *input_dims, const void *input,
                                const tm_dims *filter_dims, const void *filter, const tm_dims *bias_dims,
                                const int32_t *bias, const tm_dims *output_dims, void *output) {
  (void)ctx;
  (void)bias_dims;
  const tm_fc_params *p = &params->fc;
  const int32_t in_bits = params->bits.input;
  const int32_t w_bits = params->bits.filter;
  const int32_t out_bits = params->bits.output;
  const int32_t depth = input_dims->c;
  const int32_t units = output_dims->c;
  if (!tm_sb_valid_bits(in_bits) || !tm_sb_valid_bits(w_bits) || !tm_sb_valid_bits(out_bits) ||
      filter_dims->c != depth || filter_dims->n != units) {
    return TM_ERROR_ARG;
  }
  const int32_t f_off = p->filter_offset;
  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int32_t row = b * depth;
    int32_t x_sum = 0;
    if (f_off != 0) {
      /* sum((w + f_off) * (x + i_off)) = folded terms + f_off * sum(x + i_off) */
      for (int32_t i = 0; i < depth; ++i) {
        x_sum += tm_sb_load(input, row + i, in_bits) + p->input_offset;
      }
    }
    for (int32_t u = 0; u < units; ++u) {
      const int32_t q = params->per_channel ? u : 0;
      int32_t acc = bias[u] + f_off * x_sum + dot(input, row, in_bits, filter, u * depth, w_bits, depth);
      acc = tm_requantize(acc, quant->multiplier[q], quant->shift[q]) + p->output_offset;
      tm_sb_store(output, b * units + u, out_bits, tm_clamp_s8(acc, p->activation.min, p->activation.max));
    }
  }
  return TM_OK;
}
