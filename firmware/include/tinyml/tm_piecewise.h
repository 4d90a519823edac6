/*
 * Activations that scale each side of zero differently: PRELU (a broadcast
 * int8 alpha operand), LEAKY_RELU (a constant alpha) and HARD_SWISH
 * (x * relu6(x + 3) / 6 in 16-bit fixed point), as TFLite Micro computes them.
 */
#ifndef TINYML_TM_PIECEWISE_H
#define TINYML_TM_PIECEWISE_H

#include "tinyml/tm_types.h"

typedef struct {
  int32_t input_offset; /* minus the input zero point */
  int32_t alpha_offset; /* minus alpha's zero point */
  int32_t output_offset;
} tm_prelu_params;

/* x >= 0: x * in/out; x < 0: x * (alpha + alpha_offset) * in * alpha_scale / out. */
typedef struct {
  tm_per_tensor_quant positive;
  tm_per_tensor_quant negative;
} tm_prelu_quant;

typedef struct {
  int32_t input_zero_point; /* subtracted from the input (TFLite Micro's sign convention here) */
  int32_t output_zero_point;
  int32_t alpha_negative; /* the alpha multiplier is |in * alpha / out|; its sign is applied after */
} tm_leaky_relu_params;

typedef struct {
  tm_per_tensor_quant identity;
  tm_per_tensor_quant alpha;
} tm_leaky_relu_quant;

/* int16 multipliers with exponents: the high-resolution input (x * 2^7) to the output and to the
 * "relu-ish" scale, where 3.0 is 2^15. */
typedef struct {
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t output_multiplier;
  int32_t output_exponent;
  int32_t reluish_multiplier;
  int32_t reluish_exponent;
} tm_hard_swish_params;

/* PRELU broadcasts alpha against the input (dims as in tm_binary.h). */
tm_status tm_prelu_s8(const tm_context *ctx, const tm_prelu_params *params, const tm_prelu_quant *quant,
                      const tm_dims *input_dims, const int8_t *input, const tm_dims *alpha_dims, const int8_t *alpha,
                      const tm_dims *output_dims, int8_t *output);

/* LEAKY_RELU and HARD_SWISH are flat: only element counts must match. */
tm_status tm_leaky_relu_s8(const tm_context *ctx, const tm_leaky_relu_params *params,
                           const tm_leaky_relu_quant *quant, const tm_dims *input_dims, const int8_t *input,
                           const tm_dims *output_dims, int8_t *output);

tm_status tm_hard_swish_s8(const tm_context *ctx, const tm_hard_swish_params *params, const tm_dims *input_dims,
                           const int8_t *input, const tm_dims *output_dims, int8_t *output);

#endif /* TINYML_TM_PIECEWISE_H */
