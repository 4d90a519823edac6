/*
 * Elementwise int8 functions by table lookup: TANH and RSQRT, whose 256
 * outputs (one per int8 input) tinyml computes at compile time with TFLite
 * Micro's integer arithmetic and places in flash.
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

#endif /* TINYML_TM_LUT_H */
