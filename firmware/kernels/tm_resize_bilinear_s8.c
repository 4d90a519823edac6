/*
 * RESIZE_BILINEAR, int8, as TFLite Micro's ResizeBilinearInteger: four neighbours weighted in 10-bit fixed
 * point, the sum rounded half away from zero and divided by 2^20 (truncating), then cast to int8 (wrapping).
 *
 * Weights lie in [-512, 1536] (half-pixel centres make them leave [0, 1024] at the borders), so every product
 * and the sum stay below 2^30 in magnitude: int32 holds exactly what TFLite Micro's int64 does.
 */
#include "tinyml/tm_kernels.h"

tm_status tm_resize_bilinear_s8(const tm_resize_params *params, const tm_dims *input_dims, const int8_t *input,
                                const tm_dims *output_dims, int8_t *output) {
  const int32_t one = 1 << 10;
  const int32_t depth = input_dims->c;
  if (output_dims->n != input_dims->n || output_dims->c != depth) {
    return TM_ERROR_ARG;
  }
  const int32_t row = input_dims->w * depth;
  for (int32_t n = 0; n < output_dims->n; ++n) {
    const int8_t *image = input + n * input_dims->h * row;
    for (int32_t y = 0; y < output_dims->h; ++y) {
      const int8_t *top = image + params->rows.lower[y] * row;
      const int8_t *bottom = image + params->rows.upper[y] * row;
      const int32_t wy = params->rows.weight[y];
      for (int32_t x = 0; x < output_dims->w; ++x) {
        const int32_t left = params->cols.lower[x] * depth;
        const int32_t right = params->cols.upper[x] * depth;
        const int32_t wx = params->cols.weight[x];
        const int32_t w_tl = (one - wy) * (one - wx);
        const int32_t w_bl = wy * (one - wx);
        const int32_t w_tr = (one - wy) * wx;
        const int32_t w_br = wy * wx;
        for (int32_t c = 0; c < depth; ++c) {
          const int32_t sum = top[left + c] * w_tl + bottom[left + c] * w_bl + top[right + c] * w_tr +
                              bottom[right + c] * w_br;
          const int32_t rounded = sum + (sum > 0 ? (1 << 19) : -(1 << 19));
          *output++ = (int8_t)(rounded / (1 << 20));
        }
      }
    }
  }
  return TM_OK;
}
