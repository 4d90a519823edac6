/*
 * Copy a rectangle of pixels (all channels) between two NHWC tensors of the
 * same channel count and bit width (tm_subbyte.h): patch-based inference's
 * gathers and scatters of packed feature maps. Whole bytes are copied when a
 * run starts and ends on byte boundaries in both tensors.
 */
#include "tinyml/tm_kernels.h"

tm_status tm_copy_region_sb(const tm_region_sb_params *params, const tm_dims *src_dims, const void *src,
                            const tm_dims *dst_dims, void *dst) {
  const tm_region_params *p = &params->region;
  const int32_t bits = params->bits;
  const int32_t c = src_dims->c;
  if (!tm_sb_valid_bits(bits) || dst_dims->c != c || p->src_y + p->rows > src_dims->h ||
      p->src_x + p->cols > src_dims->w || p->dst_y + p->rows > dst_dims->h || p->dst_x + p->cols > dst_dims->w) {
    return TM_ERROR_ARG;
  }
  const int32_t per_byte = 8 / bits;
  const int32_t run = p->cols * c;
  for (int32_t r = 0; r < p->rows; ++r) {
    const int32_t s = ((p->src_y + r) * src_dims->w + p->src_x) * c;
    const int32_t d = ((p->dst_y + r) * dst_dims->w + p->dst_x) * c;
    if (s % per_byte == 0 && d % per_byte == 0 && run % per_byte == 0) {
      const uint8_t *from = (const uint8_t *)src + s / per_byte;
      uint8_t *to = (uint8_t *)dst + d / per_byte;
      for (int32_t i = 0; i < run / per_byte; ++i) {
        to[i] = from[i];
      }
    } else {
      for (int32_t i = 0; i < run; ++i) {
        tm_sb_store(dst, d + i, bits, tm_sb_load(src, s + i, bits));
      }
    }
  }
  return TM_OK;
}
