/*
 * AVERAGE_POOL_2D and MAX_POOL_2D, int16, as TFLite Micro's int16 reference
 * pools (the int8 arithmetic): windows clipped to the input, the average's
 * int32 sum divided by the in-image tap count with halves rounded away from
 * zero, then the fused activation clamp.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

/* Both pools: each output pixel and channel over the window clipped to the input. */
static tm_status pool_s16(const tm_pool_params *params, const tm_dims *input_dims, const int16_t *input,
                          const tm_dims *filter_dims, const tm_dims *output_dims, int16_t *output, int average) {
  const int32_t in_h = input_dims->h;
  const int32_t in_w = input_dims->w;
  const int32_t ch = input_dims->c;
  if (input_dims->n != output_dims->n || ch != output_dims->c) {
    return TM_ERROR_ARG;
  }
  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int16_t *image = input + b * in_h * in_w * ch;
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      const int32_t y0 = oy * params->stride.h - params->padding.h;
      const int32_t y_start = TM_MAX(0, y0);
      const int32_t y_end = TM_MIN(in_h, y0 + filter_dims->h);
      for (int32_t ox = 0; ox < output_dims->w; ++ox) {
        const int32_t x0 = ox * params->stride.w - params->padding.w;
        const int32_t x_start = TM_MAX(0, x0);
        const int32_t x_end = TM_MIN(in_w, x0 + filter_dims->w);
        const int32_t count = (y_end - y_start) * (x_end - x_start);
        if (y_end <= y_start || x_end <= x_start) {
          return TM_ERROR_ARG;
        }
        for (int32_t c = 0; c < ch; ++c) {
          int32_t acc = average ? 0 : INT16_MIN;
          for (int32_t y = y_start; y < y_end; ++y) {
            for (int32_t x = x_start; x < x_end; ++x) {
              const int32_t v = image[(y * in_w + x) * ch + c];
              acc = average ? acc + v : TM_MAX(acc, v);
            }
          }
          if (average) {
            acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
          }
          output[c] = tm_clamp_s16(acc, params->activation.min, params->activation.max);
        }
        output += ch;
      }
    }
  }
  return TM_OK;
}

tm_status tm_avgpool2d_s16(const tm_context *ctx, const tm_pool_params *params, const tm_dims *input_dims,
                           const int16_t *input, const tm_dims *filter_dims, const tm_dims *output_dims,
                           int16_t *output) {
  (void)ctx;
  return pool_s16(params, input_dims, input, filter_dims, output_dims, output, 1);
}

tm_status tm_maxpool2d_s16(const tm_context *ctx, const tm_pool_params *params, const tm_dims *input_dims,
                           const int16_t *input, const tm_dims *filter_dims, const tm_dims *output_dims,
                           int16_t *output) {
  (void)ctx;
  return pool_s16(params, input_dims, input, filter_dims, output_dims, output, 0);
}
