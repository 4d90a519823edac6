/*
 * Exp-based activations: SOFTMAX and LOGISTIC, int8 in and int8 out with
 * the output fixed at scale 1/256, zero point -128 (what TFLite requires).
 */
#ifndef TINYML_TM_SOFTMAX_H
#define TINYML_TM_SOFTMAX_H

#include "tinyml/tm_types.h"

/* Input differences below diff_min (negative) contribute exp() = 0. */
typedef struct {
  int32_t diff_min;
} tm_softmax_params;

/*
 * Softmax over c, for each of the n * h * w rows. quant turns an input
 * difference (x - row max, in input units) into Q5.26 of beta * scale * diff:
 * multiplier and a left shift in [0, 31] (no rounding shift).
 * Returns TM_ERROR_ARG when a row's exp sum reaches 512, where TFLite Micro
 * aborts (possible only for rows of 512 or more values).
 */
tm_status tm_softmax_s8(const tm_context *ctx, const tm_softmax_params *params, const tm_per_tensor_quant *quant,
                        const tm_dims *input_dims, const int8_t *input, const tm_dims *output_dims, int8_t *output);

/* Inputs at or beyond +-input_range_radius (after the offset) saturate. */
typedef struct {
  int32_t input_offset;
  int32_t input_range_radius;
} tm_logistic_params;

/*
 * Elementwise over n * h * w * c values. quant maps (x + input_offset) to
 * Q4.27 (shift >= 0, as TFLite's MultiplyByQuantizedMultiplier).
 */
tm_status tm_logistic_s8(const tm_context *ctx, const tm_logistic_params *params, const tm_per_tensor_quant *quant,
                         const tm_dims *input_dims, const int8_t *input, const tm_dims *output_dims, int8_t *output);

#endif /* TINYML_TM_SOFTMAX_H */
