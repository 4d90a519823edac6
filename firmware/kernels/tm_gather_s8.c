/*
 * GATHER, int8 values, int32 positions: one memcpy of `inner` elements per position, as TFLite Micro copies.
 * Positions may be computed at run time, so each is checked; one outside the axis fails the inference.
 */
#include <string.h>

#include "tinyml/tm_kernels.h"

tm_status tm_gather_s8(const tm_gather_params *params, const int32_t *positions, const int8_t *input,
                       int8_t *output) {
  const int32_t inner = params->inner;
  for (int32_t b = 0; b < params->batch; ++b) {
    const int32_t *pos = positions + b * params->positions;
    for (int32_t o = 0; o < params->outer; ++o) {
      const int8_t *slab = input + (b * params->outer + o) * params->axis_size * inner;
      for (int32_t i = 0; i < params->positions; ++i) {
        if (pos[i] < 0 || pos[i] >= params->axis_size) {
          return TM_ERROR_ARG;
        }
        memcpy(output, slab + pos[i] * inner, (size_t)inner);
        output += inner;
      }
    }
  }
  return TM_OK;
}
