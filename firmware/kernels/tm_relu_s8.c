/*
 * RELU, int8: requantize from the input to the output scale, then clamp at the
 * output's zero. TFLite Micro always requantizes (an identity multiplier when
 * the scales match), so results are exact either way.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

tm_status tm_relu_s8(const tm_context *ctx, const tm_relu_params *params, const tm_per_tensor_quant *quant,
                     const tm_dims *input_dims, const int8_t *input, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (size != output_dims->n * output_dims->h * output_dims->w * output_dims->c) {
    return TM_ERROR_ARG;
  }
  const int32_t in_offset = params->input_offset;
  const int32_t out_offset = params->output_offset;
  const int32_t mult = quant->multiplier;
  const int32_t shift = quant->shift;
  const int32_t act_min = params->activation.min;
  const int32_t act_max = params->activation.max;
  for (int32_t i = 0; i < size; ++i) {
    output[i] = tm_clamp_s8(tm_requantize(input[i] + in_offset, mult, shift) + out_offset, act_min, act_max);
  }
  return TM_OK;
}
