/*
 * FULLY_CONNECTED, int8 activations, packed int4 weights, one requantization
 * per output unit. TFLite Micro refuses per-channel int4 fully connected
 * weights, so this kernel is checked against tinyml's reference interpreter.
 * Layout and bias as in tm_fully_connected_s4. No scratch.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_dot.h"
#include "tinyml/tm_math.h"

tm_status tm_fully_connected_per_channel_s4(const tm_context *ctx, const tm_fc_params *params,
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
    for (int32_t o = 0; o < units; o += 2) {
      const int pair = o + 1 < units;
      int32_t acc0 = bias[o];
      int32_t acc1 = pair ? bias[o + 1] : 0;
      tm_dot2_s4(input, filter, o * depth, (o + pair) * depth, depth, &acc0, &acc1);
      acc0 = tm_requantize(acc0, quant->multiplier[o], quant->shift[o]) + params->output_offset;
      output[o] = tm_clamp_s8(acc0, params->activation.min, params->activation.max);
      if (pair) {
        acc1 = tm_requantize(acc1, quant->multiplier[o + 1], quant->shift[o + 1]) + params->output_offset;
        output[o + 1] = tm_clamp_s8(acc1, params->activation.min, params->activation.max);
      }
    }
    input += depth;
    output += units;
  }
  return TM_OK;
}
