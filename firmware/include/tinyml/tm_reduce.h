/* Reduction family: MEAN. */
#ifndef TINYML_TM_REDUCE_H
#define TINYML_TM_REDUCE_H

#include "tinyml/tm_types.h"

typedef struct {
  int32_t sum_offset;    /* added to each raw sum: -input zero point * elements reduced */
  int32_t output_offset; /* output zero point */
} tm_reduce_params;

/*
 * Mean over h and w: input (n, h, w, c) to output (n, 1, 1, c). The quant
 * multiplier already includes the 1/(h*w) factor, so each output is
 * requantize(sum + sum_offset) + output_offset, saturated to int8.
 */
tm_status tm_mean_s8(const tm_context *ctx, const tm_reduce_params *params, const tm_per_tensor_quant *quant,
                     const tm_dims *input_dims, const int8_t *input, const tm_dims *output_dims, int8_t *output);

#endif /* TINYML_TM_REDUCE_H */
