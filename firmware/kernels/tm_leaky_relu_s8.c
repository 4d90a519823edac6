/*
 * LEAKY_RELU, int8: x >= 0 is rescaled by in/out, x < 0 by |in * alpha / out|
 * with alpha's sign applied after the rounding, as TFLite Micro's reference
 * kernel does (its multipliers are never negative).
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

tm_status tm_leaky_relu_s8(const tm_context *ctx, const tm_leaky_relu_params *params,
                           const tm_leaky_relu_quant *quant, const tm_dims *input_dims, const int8_t *input,
                           const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (size != output_dims->n * output_dims->h * output_dims->w * output_dims->c) {
    return TM_ERROR_ARG;
  }
  const int32_t in_zero = params->input_zero_point;
  const int32_t out_zero = params->output_zero_point;
  const int32_t negate = params->alpha_negative;
  const int32_t mult_id = quant->identity.multiplier;
  const int32_t shift_id = quant->identity.shift;
  const int32_t mult_alpha = quant->alpha.multiplier;
  const int32_t shift_alpha = quant->alpha.shift;
  for (int32_t i = 0; i < size; ++i) {
    const int32_t v = input[i] - in_zero;
    int32_t y;
    if (v >= 0) {
      y = tm_requantize(v, mult_id, shift_id);
    } else {
      const int32_t scaled = tm_requantize(v, mult_alpha, shift_alpha);
      y = negate ? -scaled : scaled;
    }
    output[i] = tm_clamp_s8(y + out_zero, INT8_MIN, INT8_MAX);
  }
  return TM_OK;
}
