/*
 * AVERAGE_POOL_2D with activations of 8, 4 or 2 bits (tm_subbyte.h).
 *
 * As tm_avgpool2d_s8, on int8 values: TFLite rounds the average's halves away
 * from zero, so the sum must be of the values (stored + input_level), not of
 * the codes. The result is written as value - output_level.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

tm_status tm_avgpool2d_sb(const tm_context *ctx, const tm_pool_sb_params *params, const tm_dims *input_dims,
                          const void *input, const tm_dims *filter_dims, const tm_dims *output_dims, void *output) {
  (void)ctx;
  const tm_pool_params *p = &params->pool;
  const int32_t in_bits = params->bits.input;
  const int32_t out_bits = params->bits.output;
  const int32_t in_h = input_dims->h;
  const int32_t in_w = input_dims->w;
  const int32_t ch = input_dims->c;
  if (!tm_sb_valid_bits(in_bits) || !tm_sb_valid_bits(out_bits) || input_dims->n != output_dims->n ||
      ch != output_dims->c) {
    return TM_ERROR_ARG;
  }
  const int32_t act_min = p->activation.min;
  const int32_t act_max = p->activation.max;
  int32_t o = 0;

  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int32_t image = b * in_h * in_w * ch;
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      const int32_t y0 = oy * p->stride.h - p->padding.h;
      const int32_t ky_start = TM_MAX(0, -y0);
      const int32_t ky_end = TM_MIN(filter_dims->h, in_h - y0);
      for (int32_t ox = 0; ox < output_dims->w; ++ox) {
        const int32_t x0 = ox * p->stride.w - p->padding.w;
        const int32_t kx_start = TM_MAX(0, -x0);
        const int32_t kx_end = TM_MIN(filter_dims->w, in_w - x0);
        if (ky_end <= ky_start || kx_end <= kx_start) {
          return TM_ERROR_ARG;
        }
        const int32_t count = (ky_end - ky_start) * (kx_end - kx_start);
        const int32_t half = count / 2;
        for (int32_t c = 0; c < ch; ++c) {
          int32_t acc = 0;
          for (int32_t ky = ky_start; ky < ky_end; ++ky) {
            for (int32_t kx = kx_start; kx < kx_end; ++kx) {
              acc += tm_sb_load(input, image + ((y0 + ky) * in_w + x0 + kx) * ch + c, in_bits);
            }
          }
          acc += count * params->input_level;
          acc = acc > 0 ? (acc + half) / count : (acc - half) / count;
          tm_sb_store(output, o + c, out_bits, tm_clamp_s8(acc - params->output_level, act_min, act_max));
        }
        o += ch;
      }
    }
  }
  return TM_OK;
}
