/* ARG_MAX and ARG_MIN: int8 input, int32 index of the largest (smallest) value along one axis, the first on ties. */
#ifndef TINYML_TM_ARGMINMAX_H
#define TINYML_TM_ARGMINMAX_H

#include "tinyml/tm_types.h"

typedef struct {
  int32_t select_max; /* 1: ARG_MAX, 0: ARG_MIN */
} tm_arg_min_max_params;

/*
 * The input is seen as [h = outer][w = axis][c = inner] (n = 1), the output as [outer][inner]:
 * output_dims must be { 1, 1, outer, inner }.
 */
tm_status tm_arg_min_max_s8(const tm_context *ctx, const tm_arg_min_max_params *params, const tm_dims *input_dims,
                            const int8_t *input, const tm_dims *output_dims, int32_t *output);

#endif /* TINYML_TM_ARGMINMAX_H */
