/*
 * Exp-based activations: SOFTMAX and LOGISTIC, int8 in and int8 out with
 * the output fixed at scale 1/256, zero point -128 (what TFLite requires),
 * and int16 SOFTMAX (16x8 models) by TFLite Micro's tables.
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

/* TFLite Micro's two int16 softmax tables, 513 entries each (512 steps, one more to interpolate the last). */
typedef struct {
  const int16_t *exp_lut;                 /* exp(x), x in [-10, 0], in steps of 2/65535 */
  const int16_t *one_over_one_plus_x_lut; /* 1 / (1 + x), x in [0, 1], in steps of 2/65535 */
} tm_softmax_s16_params;

/*
 * int16 softmax over c, for each of the n * h * w rows (zero points 0,
 * output Q0.15). quant takes an input difference (x - row max) to steps of
 * 10/65535 of beta * scale * diff, as TFLite's MultiplyByQuantizedMultiplier.
 * output may be input (in place); rows of at most 65538 values.
 */
tm_status tm_softmax_s16(const tm_context *ctx, const tm_softmax_s16_params *params, const tm_per_tensor_quant *quant,
                         const tm_dims *input_dims, const int16_t *input, const tm_dims *output_dims,
                         int16_t *output);

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
