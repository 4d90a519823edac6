/*
 * Layout family: TRANSPOSE, SPLIT, SPLIT_V, SLICE, STRIDED_SLICE, DEPTH_TO_SPACE, SPACE_TO_DEPTH and GATHER
 * (bytes moved as they are), and the resizes (RESIZE_NEAREST_NEIGHBOR copies, RESIZE_BILINEAR interpolates).
 * Every coordinate computation is done at compile time: kernels take strides and lookup tables.
 */
#ifndef TINYML_TM_LAYOUT_H
#define TINYML_TM_LAYOUT_H

#include "tinyml/tm_types.h"

#define TM_STRIDED_DIMS 6

/*
 * A strided view of the input, written densely: output element (i0, .., i5) is
 * input[offset + i0 * strides[0] + .. + i5 * strides[5]]. Strides are in
 * elements and may be zero or negative.
 */
typedef struct {
  int32_t dims[TM_STRIDED_DIMS];
  int32_t strides[TM_STRIDED_DIMS];
  int32_t offset;
} tm_strided_params;

tm_status tm_copy_strided_s8(const tm_strided_params *params, const int8_t *input, int8_t *output);

/* GATHER: batch x outer x positions copies of `inner` elements; a position outside [0, axis_size) fails. */
typedef struct {
  int32_t batch;
  int32_t outer;
  int32_t axis_size;
  int32_t positions;
  int32_t inner;
} tm_gather_params;

tm_status tm_gather_s8(const tm_gather_params *params, const int32_t *positions, const int8_t *input,
                       int8_t *output);

/* Per output row (column): the input row (column) it reads; bilinear also the second one and its weight. */
typedef struct {
  const int32_t *lower;
  const int32_t *upper;  /* bilinear only (NULL for nearest neighbour) */
  const int32_t *weight; /* bilinear only: the upper one's weight, of 1 << 10 */
} tm_resize_axis;

typedef struct {
  tm_resize_axis rows;
  tm_resize_axis cols;
} tm_resize_params;

tm_status tm_resize_nearest_s8(const tm_resize_params *params, const tm_dims *input_dims, const int8_t *input,
                               const tm_dims *output_dims, int8_t *output);

tm_status tm_resize_bilinear_s8(const tm_resize_params *params, const tm_dims *input_dims, const int8_t *input,
                                const tm_dims *output_dims, int8_t *output);

#endif /* TINYML_TM_LAYOUT_H */
