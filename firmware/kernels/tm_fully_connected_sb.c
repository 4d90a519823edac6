/*
 * FULLY_CONNECTED with operands of 8, 4 or 2 bits (tm_subbyte.h), per-tensor
 * or per-channel requantization. A packed input row is unpacked a chunk of 32
 * at a time into a small buffer on the stack (no scratch: an unpacked row
 * would take more memory than packing saved), each chunk serving 8 units. A
 * non-zero filter offset takes the exact path of tm_fully_connected_s8.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

/* Input elements unpacked at a time, and units that share each unpacked chunk. */
#define CHUNK 32
#define UNITS 8

int32_t tm_fully_connected_sb_get_buffer_size(const tm_fc_sb_params *params, const tm_dims *filter_dims) {
  (void)params;
  (void)filter_dims;
  return 0;
}

/* acc[j] += the dot product of input row elements [first, first + depth) with unit u0 + j's weights, for the n
 * units from u0: a packed row is unpacked a chunk at a time, each chunk serving all n units. */
static void dot_units(const void *input, int32_t first, int32_t in_bits, const void *filter, int32_t u0, int32_t n,
                      int32_t depth, int32_t w_bits, int32_t *acc) {
  if (in_bits == 8) {
    for (int32_t j = 0; j < n; ++j) {
      acc[j] += tm_sb_dot((const int8_t *)input + first, filter, (u0 + j) * depth, depth, w_bits);
    }
    return;
  }
  int8_t chunk[CHUNK];
  for (int32_t i = 0; i < depth; i += CHUNK) {
    const int32_t len = depth - i < CHUNK ? depth - i : CHUNK;
    tm_sb_unpack(input, first + i, len, in_bits, chunk);
    for (int32_t j = 0; j < n; ++j) {
      acc[j] += tm_sb_dot(chunk, filter, (u0 + j) * depth + i, len, w_bits);
    }
  }
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
    for (int32_t u0 = 0; u0 < units; u0 += UNITS) {
      const int32_t n = units - u0 < UNITS ? units - u0 : UNITS;
      int32_t acc[UNITS];
      for (int32_t j = 0; j < n; ++j) {
        acc[j] = bias[u0 + j] + f_off * x_sum;
      }
      dot_units(input, row, in_bits, filter, u0, n, depth, w_bits, acc);
      for (int32_t j = 0; j < n; ++j) {
        const int32_t q = params->per_channel ? u0 + j : 0;
        const int32_t v = tm_requantize(acc[j], quant->multiplier[q], quant->shift[q]) + p->output_offset;
        tm_sb_store(output, b * units + u0 + j, out_bits, tm_clamp_s8(v, p->activation.min, p->activation.max));
      }
    }
  }
  return TM_OK;
}
