/* Standalone activations: RELU and RELU6 that the converter could not fuse. */
#ifndef TINYML_TM_ACTIVATION_H
#define TINYML_TM_ACTIVATION_H

#include "tinyml/tm_types.h"

typedef struct {
  int32_t input_offset; /* minus the input zero point */
  int32_t output_offset;
  tm_activation activation;
} tm_relu_params;

/* RELU6 clamps in the input's quantization and copies: TFLite Micro ignores the output's. */
typedef struct {
  int32_t zero;
  int32_t six;
} tm_relu6_params;

/* RELU rescales to the output quantization, then clamps (flat: only element counts must match). */
tm_status tm_relu_s8(const tm_context *ctx, const tm_relu_params *params, const tm_per_tensor_quant *quant,
                     const tm_dims *input_dims, const int8_t *input, const tm_dims *output_dims, int8_t *output);

tm_status tm_relu6_s8(const tm_context *ctx, const tm_relu6_params *params, const tm_dims *input_dims,
                      const int8_t *input, const tm_dims *output_dims, int8_t *output);

#endif /* TINYML_TM_ACTIVATION_H */
