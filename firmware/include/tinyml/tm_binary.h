/*
 * Broadcasting binary family beyond ADD and MUL: MAXIMUM, MINIMUM, SUB and
 * SQUARED_DIFFERENCE (and PRELU, whose alpha broadcasts the same way).
 *
 * Operand dims follow tm_elementwise.h: right-aligned NHWC, each dim of an
 * input equal to the output's or 1 (repeated), adjacent dims with the same
 * broadcast pattern merged by tinyml before the call. Each kernel supplies a
 * row function; tm_broadcast_binary_s8 walks the output row by row (one flat
 * row when nothing broadcasts). Element i of every operand is read before
 * element i of the output is written, so the output may overwrite an input of
 * its own size.
 */
#ifndef TINYML_TM_BINARY_H
#define TINYML_TM_BINARY_H

#include "tinyml/tm_elementwise.h"
#include "tinyml/tm_types.h"

/* SQUARED_DIFFERENCE: both offset inputs are shifted left, rescaled to a common scale, and the square of
 * their difference is rescaled to the output (quant: input 1, input 2, output, as tm_add_quant). */
typedef struct {
  int32_t input1_offset;
  int32_t input2_offset;
  int32_t output_offset;
  int32_t left_shift;
} tm_squared_difference_params;

/* MAXIMUM and MINIMUM compare raw int8 values, as TFLite Micro does: the quantization is the same throughout. */
tm_status tm_maximum_s8(const tm_context *ctx, const tm_dims *input1_dims, const int8_t *input1,
                        const tm_dims *input2_dims, const int8_t *input2, const tm_dims *output_dims, int8_t *output);

tm_status tm_minimum_s8(const tm_context *ctx, const tm_dims *input1_dims, const int8_t *input1,
                        const tm_dims *input2_dims, const int8_t *input2, const tm_dims *output_dims, int8_t *output);

/* SUB: ADD's params and quant, input 2's rescaled value subtracted instead of added. */
tm_status tm_sub_s8(const tm_context *ctx, const tm_add_params *params, const tm_add_quant *quant,
                    const tm_dims *input1_dims, const int8_t *input1, const tm_dims *input2_dims,
                    const int8_t *input2, const tm_dims *output_dims, int8_t *output);

tm_status tm_squared_difference_s8(const tm_context *ctx, const tm_squared_difference_params *params,
                                   const tm_add_quant *quant, const tm_dims *input1_dims, const int8_t *input1,
                                   const tm_dims *input2_dims, const int8_t *input2, const tm_dims *output_dims,
                                   int8_t *output);

/* One row of `count` outputs from `a` and `b` (a stride of 0 repeats that operand's first element). */
typedef void (*tm_binary_row_s8)(const void *consts, int32_t count, const int8_t *a, int32_t stride_a,
                                 const int8_t *b, int32_t stride_b, int8_t *out);

static inline tm_status tm_broadcast_binary_s8(const void *consts, tm_binary_row_s8 row, const tm_dims *input1_dims,
                                               const int8_t *input1, const tm_dims *input2_dims,
                                               const int8_t *input2, const tm_dims *output_dims, int8_t *output) {
  if (tm_dims_equal(input1_dims, output_dims) && tm_dims_equal(input2_dims, output_dims)) {
    row(consts, output_dims->n * output_dims->h * output_dims->w * output_dims->c, input1, 1, input2, 1, output);
    return TM_OK;
  }
  tm_dims s1, s2;
  if (!tm_broadcast_strides(input1_dims, output_dims, &s1) || !tm_broadcast_strides(input2_dims, output_dims, &s2)) {
    return TM_ERROR_ARG;
  }
  for (int32_t n = 0; n < output_dims->n; ++n) {
    for (int32_t h = 0; h < output_dims->h; ++h) {
      for (int32_t w = 0; w < output_dims->w; ++w) {
        const int8_t *a = input1 + n * s1.n + h * s1.h + w * s1.w;
        const int8_t *b = input2 + n * s2.n + h * s2.h + w * s2.w;
        row(consts, output_dims->c, a, s1.c, b, s2.c, output);
        output += output_dims->c;
      }
    }
  }
  return TM_OK;
}

#endif /* TINYML_TM_BINARY_H */
