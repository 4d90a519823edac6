/*
 * Broadcasting binary family beyond ADD and MUL: MAXIMUM, MINIMUM, SUB and
 * SQUARED_DIFFERENCE (and PRELU, whose alpha broadcasts the same way).
 *
 * Operand dims follow tm_elementwise.h: right-aligned NHWC, each dim of an
 * input equal to the output's or 1 (repeated), adjacent dims with the same
 * broadcast pattern merged by tinyml before the call. Each kernel supplies a
 * row function to tm_broadcast_binary_s8 (tm_elementwise.h), as ADD and MUL do.
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

#endif /* TINYML_TM_BINARY_H */
