/* L2_NORMALIZATION over the last axis: int8 in, int8 out at scale 1/128 and zero point 0 (TFLite Micro's). */
#ifndef TINYML_TM_L2NORM_H
#define TINYML_TM_L2NORM_H

#include "tinyml/tm_types.h"

typedef struct {
  int32_t input_offset; /* minus the input zero point */
} tm_l2_normalization_params;

/* Each of the n * h * w rows of c values (c <= 33025, so the sum of squares fits int32) divided by its norm. */
tm_status tm_l2_normalization_s8(const tm_context *ctx, const tm_l2_normalization_params *params,
                                 const tm_dims *input_dims, const int8_t *input, const tm_dims *output_dims,
                                 int8_t *output);

#endif /* TINYML_TM_L2NORM_H */
