/*
 * TRANSPOSE, SPLIT, SPLIT_V, SLICE, STRIDED_SLICE, DEPTH_TO_SPACE, SPACE_TO_DEPTH, int8: a strided read, a dense
 * write.
 *
 * The compiler merges dims that are contiguous in both tensors, so the innermost
 * loop is as long as it can be; when it reads consecutive elements it is one memcpy.
 */
#include <string.h>

#include "tinyml/tm_kernels.h"

tm_status tm_copy_strided_s8(const tm_strided_params *params, const int8_t *input, int8_t *output) {
  const int32_t *d = params->dims;
  const int32_t *s = params->strides;
  for (int32_t k = 0; k < TM_STRIDED_DIMS; ++k) {
    if (d[k] < 1) {
      return TM_ERROR_ARG;
    }
  }
  const int contiguous = s[5] == 1;
  for (int32_t i0 = 0; i0 < d[0]; ++i0) {
    const int8_t *p0 = input + params->offset + i0 * s[0];
    for (int32_t i1 = 0; i1 < d[1]; ++i1) {
      const int8_t *p1 = p0 + i1 * s[1];
      for (int32_t i2 = 0; i2 < d[2]; ++i2) {
        const int8_t *p2 = p1 + i2 * s[2];
        for (int32_t i3 = 0; i3 < d[3]; ++i3) {
          const int8_t *p3 = p2 + i3 * s[3];
          for (int32_t i4 = 0; i4 < d[4]; ++i4) {
            const int8_t *p4 = p3 + i4 * s[4];
            if (contiguous) {
              memcpy(output, p4, (size_t)d[5]);
              output += d[5];
            } else {
              for (int32_t i5 = 0; i5 < d[5]; ++i5) {
                *output++ = p4[i5 * s[5]];
              }
            }
          }
        }
      }
    }
  }
  return TM_OK;
}
