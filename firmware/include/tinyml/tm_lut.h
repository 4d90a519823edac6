/*
 * Elementwise functions by table lookup: int8 TANH and RSQRT, whose 256
 * outputs (one per int8 input) tinyml computes at compile time with TFLite
 * Micro's integer arithmetic and places in flash; int16 TANH and LOGISTIC,
 * which interpolate in TFLM's 256-entry sigmoid table.
 */
#ifndef TINYML_TM_LUT_H
#define TINYML_TM_LUT_H

#include "tinyml/tm_types.h"

typedef struct {
  const int8_t *table; /* 256 outputs, the one for input -128 first */
  int32_t min_input;   /* inputs below it are invalid (RSQRT of a negative value): TM_ERROR_ARG */
} tm_lut_params;

/* output[i] = table[input[i] + 128] over n * h * w * c values; output may be input (in place). */
tm_status tm_lut_s8(const tm_context *ctx, const tm_lut_params *params, const tm_dims *input_dims,
                    const int8_t *input, const tm_dims *output_dims, int8_t *output);

typedef struct {
  const uint16_t *table; /* sigmoid(i / 24), i = 0..255, in 0.16 format */
  int32_t multiplier;    /* input rescaling: (x * multiplier + rounding) >> left_shift, multiplier <= 32767 */
  int32_t left_shift;
  int32_t is_tanh;       /* 1: TANH (tanh(x) = 2 sigmoid(2x) - 1), 0: LOGISTIC */
} tm_sigmoid_s16_params;

/* int16 TANH / LOGISTIC (zero points 0, output Q0.15) by linear interpolation in the sigmoid table. */
tm_status tm_sigmoid_s16(const tm_context *ctx, const tm_sigmoid_s16_params *params, const tm_dims *input_dims,
                         const int16_t *input, const tm_dims *output_dims, int16_t *output);

#endif /* TINYML_TM_LUT_H */
