/*
 * MAX_POOL_2D, int8.
 *
 * Windows are clipped to the input (padding never wins the max). Each output
 * pixel's channels are updated tap by tap, so every pass reads contiguous
 * channel vectors; the result is clamped to the fused activation range.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

tm_status tm_maxpool2d_s8(const tm_context *ctx, const tm_pool_params *params, const tm_dims *input_dims,
                          const int8_t *input, const tm_dims *filter_dims, const tm_dims *output_dims,
                          int8_t *output) {
  (void)ctx;
  const int32_t in_h = input_dims->h;
  const int32_t in_w = input_dims->w;
  const int32_t ch = input_dims->c;
  if (input_dims->n != output_dims->n || ch != output_dims->c) {
    return TM_ERROR_ARG;
  }
  const int32_t row_stride = in_w * ch;
  const int32_t act_min = params->activation.min;
  const int32_t act_max = params->activation.max;

  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int8_t *image = input + b * in_h * row_stride;
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      const int32_t y0 = oy * params->stride.h - params->padding.h;
      const int32_t ky_start = TM_MAX(0, -y0);
      const int32_t ky_end = TM_MIN(filter_dims->h, in_h - y0);
      for (int32_t ox = 0; ox < output_dims->w; ++ox) {
        const int32_t x0 = ox * params->stride.w - params->padding.w;
        const int32_t kx_start = TM_MAX(0, -x0);
        const int32_t kx_end = TM_MIN(filter_dims->w, in_w - x0);
        if (ky_end <= ky_start || kx_end <= kx_start) {
          return TM_ERROR_ARG;
        }
        const int8_t *row = image + (y0 + ky_start) * row_stride + (x0 + kx_start) * ch;
        for (int32_t c = 0; c < ch; ++c) {
          output[c] = row[c];
        }
        for (int32_t ky = ky_start; ky < ky_end; ++ky) {
          const int8_t *p = row;
          for (int32_t kx = kx_start; kx < kx_end; ++kx) {
            for (int32_t c = 0; c < ch; ++c) {
              output[c] = p[c] > output[c] ? p[c] : output[c];
            }
            p += ch;
          }
          row += row_stride;
        }
        for (int32_t c = 0; c < ch; ++c) {
          output[c] = tm_clamp_s8(output[c], act_min, act_max);
        }
        output += ch;
      }
    }
  }
  return TM_OK;
}
