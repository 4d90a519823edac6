/*
 * Quantization family: QUANTIZE (float32 -> int8 or int16; int8 -> int8, uint8 or int16; uint8 -> int8;
 * int16 -> int8 or int16) and DEQUANTIZE (int8, uint8 or int16 -> float32).
 */
#ifndef TINYML_TM_QUANTIZE_H
#define TINYML_TM_QUANTIZE_H

#include "tinyml/tm_types.h"

/* The int8 side's affine quantization: real = scale * (q - zero_point). */
typedef struct {
  float scale;
  int32_t zero_point;
} tm_affine_params;

typedef struct {
  int32_t input_offset; /* minus the input zero point */
  int32_t output_offset;
} tm_requantize_params;

/*
 * round_half_away(x / scale), as TFLite Micro's AffineQuantize computes it: a
 * float32 division by the scale (not a multiplication by its reciprocal, which
 * rounds differently) and C round() (halves away from zero), done by hand to
 * need no libm. Quotients beyond +-limit (and NaN, low) saturate before the
 * float-to-int conversion, where TFLite Micro's cast would be undefined; a
 * limit past the output type's range whatever the zero point, exact in float,
 * leaves every result in range unchanged.
 */
static inline int32_t tm_quantize_round(float x, float scale, float limit) {
  float q = x / scale;
  if (!(q > -limit)) {
    q = -limit;
  } else if (q > limit) {
    q = limit;
  }
  int32_t r = (int32_t)q;          /* toward zero */
  const float frac = q - (float)r; /* exact (Sterbenz; r = 0 when |q| < 1), as |q| < 2^24 */
  if (frac >= 0.5f) {
    ++r;
  } else if (frac <= -0.5f) {
    --r;
  }
  return r;
}

/*
 * q = clamp(round_half_away(x / scale) + zero_point). Elementwise: only the
 * element counts of input and output must match (as for the others below).
 */
tm_status tm_quantize_f32_s8(const tm_context *ctx, const tm_affine_params *params, const tm_dims *input_dims,
                             const float *input, const tm_dims *output_dims, int8_t *output);

/* Rescale int8 values to another scale and zero point. */
tm_status tm_requantize_s8(const tm_context *ctx, const tm_requantize_params *params,
                           const tm_per_tensor_quant *quant, const tm_dims *input_dims, const int8_t *input,
                           const tm_dims *output_dims, int8_t *output);

/* x = scale * (q - zero_point), rounded once to float. */
tm_status tm_dequantize_s8_f32(const tm_context *ctx, const tm_affine_params *params, const tm_dims *input_dims,
                               const int8_t *input, const tm_dims *output_dims, float *output);

/* The same for int16 outputs (quotients saturate at +-2^17 before the conversion). */
tm_status tm_quantize_f32_s16(const tm_context *ctx, const tm_affine_params *params, const tm_dims *input_dims,
                              const float *input, const tm_dims *output_dims, int16_t *output);

/* Requantization between integer types: TFLite Micro's Requantize, one function per pair it runs. */
#define TM_DECLARE_REQUANTIZE(name, in_type, out_type)                                                        \
  tm_status name(const tm_context *ctx, const tm_requantize_params *params, const tm_per_tensor_quant *quant,  \
                 const tm_dims *input_dims, const in_type *input, const tm_dims *output_dims, out_type *output);
TM_DECLARE_REQUANTIZE(tm_requantize_s8_u8, int8_t, uint8_t)
TM_DECLARE_REQUANTIZE(tm_requantize_u8_s8, uint8_t, int8_t)
TM_DECLARE_REQUANTIZE(tm_requantize_s8_s16, int8_t, int16_t)
TM_DECLARE_REQUANTIZE(tm_requantize_s16_s8, int16_t, int8_t)
TM_DECLARE_REQUANTIZE(tm_requantize_s16_s16, int16_t, int16_t)

/* DEQUANTIZE of uint8 and int16 values: one float32 multiply of an exact difference, as for int8. */
tm_status tm_dequantize_u8_f32(const tm_context *ctx, const tm_affine_params *params, const tm_dims *input_dims,
                               const uint8_t *input, const tm_dims *output_dims, float *output);
tm_status tm_dequantize_s16_f32(const tm_context *ctx, const tm_affine_params *params, const tm_dims *input_dims,
                                const int16_t *input, const tm_dims *output_dims, float *output);

#endif /* TINYML_TM_QUANTIZE_H */
