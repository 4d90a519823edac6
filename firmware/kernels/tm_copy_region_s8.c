/*
 * Copy a rectangle of pixels (all channels) between two NHWC buffers of the
 * same channel count: how patch-based inference gathers a patch's input from
 * a larger tensor and scatters its output into the full feature map.
 */
#include "tinyml/tm_kernels.h"

tm_status tm_copy_region_s8(const tm_region_params *params, const tm_dims *src_dims, const int8_t *src,
                            const tm_dims *dst_dims, int8_t *dst) {
  const int32_t c = src_dims->c;
  if (dst_dims->c != c || params->src_y + params->rows > src_dims->h || params->src_x + params->cols > src_dims->w ||
      params->dst_y + params->rows > dst_dims->h || params->dst_x + params->cols > dst_dims->w) {
    return TM_ERROR_ARG;
  }
  const int32_t run = params->cols * c;
  for (int32_t r = 0; r < params->rows; ++r) {
    const int8_t *s = src + ((params->src_y + r) * src_dims->w + params->src_x) * c;
    int8_t *d = dst + ((params->dst_y + r) * dst_dims->w + params->dst_x) * c;
    for (int32_t i = 0; i < run; ++i) {
      d[i] = s[i];
    }
  }
  return TM_OK;
}
