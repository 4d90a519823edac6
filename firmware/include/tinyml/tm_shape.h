/* Data movement family: PAD/PADV2 and CONCATENATION (no arithmetic, bytes copied as they are). */
#ifndef TINYML_TM_SHAPE_H
#define TINYML_TM_SHAPE_H

#include "tinyml/tm_types.h"

/* Constant padding: `before` elements lead each dimension; what is left of the output trails it. */
typedef struct {
  tm_dims before;
  int32_t value; /* the quantized pad value (output zero point or PADV2's constant) */
} tm_pad_params;

/* One input's place in a concatenation: its start along `axis` (0..3 = n, h, w, c) of the output. */
typedef struct {
  int32_t axis;
  int32_t offset;
} tm_concat_params;

tm_status tm_pad_s8(const tm_context *ctx, const tm_pad_params *params, const tm_dims *input_dims,
                    const int8_t *input, const tm_dims *output_dims, int8_t *output);

/*
 * Copies one input into its slab of the output; a concatenation is one call
 * per input. Every dim but `axis` must match the output's.
 */
tm_status tm_concat_s8(const tm_context *ctx, const tm_concat_params *params, const tm_dims *input_dims,
                       const int8_t *input, const tm_dims *output_dims, int8_t *output);

/* A rectangle of `rows` x `cols` pixels: where it starts in the source and in the destination. */
typedef struct {
  int32_t src_y;
  int32_t src_x;
  int32_t dst_y;
  int32_t dst_x;
  int32_t rows;
  int32_t cols;
} tm_region_params;

/* Copies a rectangle of pixels (every channel) between NHWC buffers with the same channel count. */
tm_status tm_copy_region_s8(const tm_region_params *params, const tm_dims *src_dims, const int8_t *src,
                            const tm_dims *dst_dims, int8_t *dst);

#endif /* TINYML_TM_SHAPE_H */
