/*
 * QUANTIZE, float32 -> int8, as TFLite Micro's AffineQuantize: the quotient by
 * the scale rounded as tm_quantize_round says, plus the zero point, clamped to
 * int8.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

/* Any quotient beyond this saturates whatever the zero point; exact in float. */
#define TM_QUANTIZE_LIMIT 512.0f

tm_status tm_quantize_f32_s8(const tm_context *ctx, const tm_affine_params *params, const tm_dims *input_dims,
                             const float *input, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (size != output_dims->n * output_dims->h * output_dims->w * output_dims->c) {
    return TM_ERROR_ARG;
  }
  const float scale = params->scale;
  const int32_t zero_point = params->zero_point;
  for (int32_t i = 0; i < size; ++i) {
    output[i] = tm_clamp_s8(tm_quantize_round(input[i], scale, TM_QUANTIZE_LIMIT) + zero_point, INT8_MIN, INT8_MAX);
  }
  return TM_OK;
}
