/* Quantization family: QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE (int8 -> float32). */
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

#endif /* TINYML_TM_QUANTIZE_H */
