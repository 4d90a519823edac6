/*
 * DEQUANTIZE, uint8 or int16 -> float32. TFLite Micro computes
 * (float)((double)scale * (q - zero_point)); q - zero_point has at most 17
 * bits, so it converts to float exactly and the double product is exact: one
 * float32 multiply rounds the same product once and gives the same bits.
 */
#include "tinyml/tm_kernels.h"

#define TM_DEFINE_DEQUANTIZE(name, in_type)                                                                      \
  tm_status name(const tm_context *ctx, const tm_affine_params *params, const tm_dims *input_dims,             \
                 const in_type *input, const tm_dims *output_dims, float *output) {                            \
    (void)ctx;                                                                                                   \
    const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;                          \
    if (size != output_dims->n * output_dims->h * output_dims->w * output_dims->c) {                             \
      return TM_ERROR_ARG;                                                                                       \
    }                                                                                                            \
    const float scale = params->scale;                                                                           \
    const int32_t zero_point = params->zero_point;                                                               \
    for (int32_t i = 0; i < size; ++i) {                                                                         \
      output[i] = scale * (float)((int32_t)input[i] - zero_point);                                               \
    }                                                                                                            \
    return TM_OK;                                                                                                \
  }

TM_DEFINE_DEQUANTIZE(tm_dequantize_u8_f32, uint8_t)
TM_DEFINE_DEQUANTIZE(tm_dequantize_s16_f32, int16_t)
