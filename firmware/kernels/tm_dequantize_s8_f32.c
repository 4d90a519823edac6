/*
 * DEQUANTIZE, int8 -> float32. TFLite Micro computes
 * (float)((double)scale * (q - zero_point)); that double product of a float
 * and a 9-bit integer is exact, so a single float32 multiply, which rounds the
 * same exact product once, gives identical bits without double arithmetic
 * (software-emulated on Cortex-M4/M7 single-precision FPUs).
 */
#include "tinyml/tm_kernels.h"

tm_status tm_dequantize_s8_f32(const tm_context *ctx, const tm_affine_params *params, const tm_dims *input_dims,
                               const int8_t *input, const tm_dims *output_dims, float *output) {
  (void)ctx;
  const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (size != output_dims->n * output_dims->h * output_dims->w * output_dims->c) {
    return TM_ERROR_ARG;
  }
  const float scale = params->scale;
  const int32_t zero_point = params->zero_point;
  for (int32_t i = 0; i < size; ++i) {
    output[i] = scale * (float)(input[i] - zero_point);
  }
  return TM_OK;
}
