/*
 * QUANTIZE, float32 -> int8, as TFLite Micro's AffineQuantize: a float32
 * division by the scale (not a multiplication by its reciprocal, which rounds
 * differently), C round() (halves away from zero), plus the zero point,
 * clamped to int8. Rounding is done by hand to need no libm; values far out of
 * range (and NaN, low) saturate before the float-to-int conversion, where
 * TFLite Micro's cast would be undefined.
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
    float q = input[i] / scale;
    if (!(q > -TM_QUANTIZE_LIMIT)) {
      q = -TM_QUANTIZE_LIMIT;
    } else if (q > TM_QUANTIZE_LIMIT) {
      q = TM_QUANTIZE_LIMIT;
    }
    int32_t r = (int32_t)q;         /* toward zero */
    const float frac = q - (float)r; /* exact (Sterbenz), r = 0 when |q| < 1 */
    if (frac >= 0.5f) {
      ++r;
    } else if (frac <= -0.5f) {
      --r;
    }
    output[i] = tm_clamp_s8(r + zero_point, INT8_MIN, INT8_MAX);
  }
  return TM_OK;
}
