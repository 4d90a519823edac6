/* Pooling family: AVERAGE_POOL_2D and MAX_POOL_2D. */
#ifndef TINYML_TM_POOL_H
#define TINYML_TM_POOL_H

#include "tinyml/tm_types.h"

/*
 * Input and output share one quantization (TFLite requires it), so pooling
 * needs no requantization: only the window geometry and the output clamp.
 */
typedef struct {
  tm_tile stride;
  tm_tile padding;
  tm_activation activation;
} tm_pool_params;

/*
 * Filter dims: h/w = window (n and c are ignored). Windows are clipped to the
 * input; the average divides by the number of taps inside it, rounding
 * halves away from zero.
 */
tm_status tm_avgpool2d_s8(const tm_context *ctx, const tm_pool_params *params, const tm_dims *input_dims,
                          const int8_t *input, const tm_dims *filter_dims, const tm_dims *output_dims,
                          int8_t *output);
tm_status tm_maxpool2d_s8(const tm_context *ctx, const tm_pool_params *params, const tm_dims *input_dims,
                          const int8_t *input, const tm_dims *filter_dims, const tm_dims *output_dims,
                          int8_t *output);

#endif /* TINYML_TM_POOL_H */
