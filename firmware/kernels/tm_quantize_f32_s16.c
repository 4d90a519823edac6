/*
 * QUANTIZE, float32 -> int16, as TFLite Micro's AffineQuantize: the int8
 * kernel's rounding (tm_quantize_round), with quotients saturating at +-2^17
 * (beyond the int16 range whatever the zero point, exact in float), plus the
 * zero point, clamped to int16.
 */
#include "tinyml/tm_kernels.h"

#define TM_QUANTIZE_S16_LIMIT 131072.0f

tm_status tm_quantize_f32_s16(const tm_context *ctx, const tm_affine_params *params, const tm_dims *input_dims,
                              const float *input, const tm_dims *output_dims, int16_t *output) {
  (void)ctx;
  const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (size != output_dims->n * output_dims->h * output_dims->w * output_dims->c) {
    return TM_ERROR_ARG;
  }
  const float scale = params->scale;
  const int32_t zero_point = params->zero_point;
  for (int32_t i = 0; i < size; ++i) {
    const int32_t r = tm_quantize_round(input[i], scale, TM_QUANTIZE_S16_LIMIT) + zero_point;
    output[i] = tm_clamp_s16(r, INT16_MIN, INT16_MAX);
  }
  return TM_OK;
}
