/*
 * RESIZE_NEAREST_NEIGHBOR, int8: each output pixel is the input pixel the row and column tables name (TFLite's
 * GetNearestNeighbor, evaluated at compile time), copied with all its channels.
 */
#include <string.h>

#include "tinyml/tm_kernels.h"

tm_status tm_resize_nearest_s8(const tm_resize_params *params, const tm_dims *input_dims, const int8_t *input,
                               const tm_dims *output_dims, int8_t *output) {
  const int32_t depth = input_dims->c;
  if (output_dims->n != input_dims->n || output_dims->c != depth) {
    return TM_ERROR_ARG;
  }
  const int32_t row = input_dims->w * depth;
  for (int32_t n = 0; n < output_dims->n; ++n) {
    const int8_t *image = input + n * input_dims->h * row;
    for (int32_t y = 0; y < output_dims->h; ++y) {
      const int8_t *in_row = image + params->rows.lower[y] * row;
      for (int32_t x = 0; x < output_dims->w; ++x) {
        memcpy(output, in_row + params->cols.lower[x] * depth, (size_t)depth);
        output += depth;
      }
    }
  }
  return TM_OK;
}
