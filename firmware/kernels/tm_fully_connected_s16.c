/*
 * FULLY_CONNECTED, 16x8, as TFLite Micro's reference FullyConnected and
 * FullyConnectedPerChannel for int16 with an int64 bias: each unit's int64
 * dot product with a row of the input (zero points are 0: TFLM adds the
 * input and weight offsets, which tinyml passes through), plus the bias,
 * requantized by tm_requantize_s64.
 */
#include "tinyml/tm_kernels.h"

tm_status tm_fully_connected_s16(const tm_context *ctx, const tm_fc_params *params,
                                 const tm_per_channel_quant *quant, const tm_dims *input_dims, const int16_t *input,
                                 const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                 const int64_t *bias, const tm_dims *output_dims, int16_t *output) {
  (void)ctx;
  (void)bias_dims;
  const int32_t depth = filter_dims->c;
  const int32_t units = filter_dims->n;
  if (input_dims->c != depth || output_dims->c != units || input_dims->n != output_dims->n) {
    return TM_ERROR_ARG;
  }
  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int16_t *row = input + b * depth;
    for (int32_t u = 0; u < units; ++u) {
      const int8_t *w = filter + u * depth;
      int64_t acc = 0;
      for (int32_t d = 0; d < depth; ++d) {
        acc += ((int32_t)w[d] + params->filter_offset) * ((int32_t)row[d] + params->input_offset);
      }
      if (bias != NULL) {
        acc += bias[u];
      }
      const int32_t v = tm_requantize_s64(acc, quant->multiplier[u], quant->shift[u]) + params->output_offset;
      output[b * units + u] = tm_clamp_s16(v, params->activation.min, params->activation.max);
    }
  }
  return TM_OK;
}
