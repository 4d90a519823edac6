/*
 * FULLY_CONNECTED with operands of 8, 4 or 2 bits (tm_subbyte.h), per-tensor
 * or per-channel requantization. A packed input row is unpacked into scratch
 * once, then dotted with each unit's weight row. A non-zero filter offset
 * takes the exact path of tm_fully_connected_s8.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

int32_t tm_fully_connected_sb_get_buffer_size(const tm_fc_sb_params *params, const tm_dims *filter_dims) {
  return params->bits.input == 8 ? 0 : filter_dims->c;
}

tm_status tm_fully_connected_sb(const tm_context *ctx, const tm_fc_sb_params *params,
                                const tm_per_channel_quant *quant, const tm_dims *input_dims, const void *input,
                                const tm_dims *filter_dims, const void *filter, const tm_dims *bias_dims,
                                const int32_t *bias, const tm_dims *output_dims, void *output) {
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
  if (in_bits != 8 && (ctx->buf == NULL || ctx->size < depth)) {
    return TM_ERROR_SCRATCH;
  }
  const int32_t f_off = p->filter_offset;
  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int8_t *x = (const int8_t *)input + b * depth;
    if (in_bits != 8) {
      tm_sb_unpack(input, b * depth, depth, in_bits, (int8_t *)ctx->buf);
      x = (const int8_t *)ctx->buf;
    }
    int32_t x_sum = 0;
    if (f_off != 0) {
      /* sum((w + f_off) * (x + i_off)) = folded terms + f_off * sum(x + i_off) */
      for (int32_t i = 0; i < depth; ++i) {
        x_sum += x[i] + p->input_offset;
      }
    }
    for (int32_t u = 0; u < units; ++u) {
      const int32_t q = params->per_channel ? u : 0;
      int32_t acc = bias[u] + f_off * x_sum + tm_sb_dot(x, filter, u * depth, depth, w_bits);
      acc = tm_requantize(acc, quant->multiplier[q], quant->shift[q]) + p->output_offset;
      tm_sb_store(output, b * units + u, out_bits, tm_clamp_s8(acc, p->activation.min, p->activation.max));
    }
  }
  return TM_OK;
}
