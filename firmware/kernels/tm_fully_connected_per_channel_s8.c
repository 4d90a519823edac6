/*
 * FULLY_CONNECTED, int8, one requantization per output unit (per-channel weights,
 * whose zero points are all zero). The bias must already hold
 * b[o] + input_offset * sum(filter[o]).
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

tm_status tm_fully_connected_per_channel_s8(const tm_context *ctx, const tm_fc_params *params,
                                            const tm_per_channel_quant *quant, const tm_dims *input_dims,
                                            const int8_t *input, const tm_dims *filter_dims, const int8_t *filter,
                                            const tm_dims *bias_dims, const int32_t *bias,
                                            const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  (void)bias_dims;
  const int32_t depth = input_dims->c;
  const int32_t units = output_dims->c;
  if (filter_dims->c != depth || filter_dims->n != units || params->filter_offset != 0) {
    return TM_ERROR_ARG;
  }
  for (int32_t b = 0; b < input_dims->n; ++b) {
    for (int32_t o = 0; o < units; ++o) {
      const int8_t *w = filter + o * depth;
      int32_t acc = bias[o];
      for (int32_t i = 0; i < depth; ++i) {
        acc += input[i] * w[i];
      }
      acc = tm_requantize(acc, quant->multiplier[o], quant->shift[o]) + params->output_offset;
      output[o] = tm_clamp_s8(acc, params->activation.min, params->activation.max);
    }
    input += depth;
    output += units;
  }
  return TM_OK;
}
