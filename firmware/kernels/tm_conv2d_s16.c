/*
 * CONV_2D, 16x8: int16 input and output (zero point 0), int8 weights, int64
 * bias, as TFLite Micro's reference ConvPerChannel for int16: an int64
 * accumulator over the taps inside the image (padding contributes nothing),
 * plus the bias, requantized per output channel by tm_requantize_s64.
 */
#include "tinyml/tm_kernels.h"

tm_status tm_conv2d_s16(const tm_context *ctx, const tm_conv_params *params, const tm_per_channel_quant *quant,
                        const tm_dims *input_dims, const int16_t *input, const tm_dims *filter_dims,
                        const int8_t *filter, const tm_dims *bias_dims, const int64_t *bias,
                        const tm_dims *output_dims, int16_t *output) {
  (void)ctx;
  (void)bias_dims;
  const int32_t fc = filter_dims->c;
  const int32_t in_c = input_dims->c;
  if (!tm_conv_dims_ok(input_dims, filter_dims, output_dims)) {
    return TM_ERROR_ARG;
  }
  const int32_t per_group = output_dims->c / (in_c / fc);
  const int32_t kh = filter_dims->h;
  const int32_t kw = filter_dims->w;
  const int32_t in_w = input_dims->w;
  const int32_t act_min = params->activation.min;
  const int32_t act_max = params->activation.max;
  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int16_t *image = input + b * input_dims->h * in_w * in_c;
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      for (int32_t ox = 0; ox < output_dims->w; ++ox) {
        const tm_window_s16 win =
            tm_window_s16_at(oy, ox, params->stride, params->padding, params->dilation, filter_dims, input_dims);
        for (int32_t oc = 0; oc < output_dims->c; ++oc) {
          const int16_t *channels = image + (oc / per_group) * fc;
          const int8_t *w = filter + oc * kh * kw * fc;
          int64_t acc = 0;
          for (int32_t ky = win.ky0; ky < win.ky1; ++ky) {
            const int32_t y = win.y0 + ky * params->dilation.h;
            for (int32_t kx = win.kx0; kx < win.kx1; ++kx) {
              const int32_t x = win.x0 + kx * params->dilation.w;
              const int16_t *px = channels + (y * in_w + x) * in_c;
              const int8_t *wk = w + (ky * kw + kx) * fc;
              for (int32_t c = 0; c < fc; ++c) {
                acc += (int32_t)px[c] * (int32_t)wk[c];
              }
            }
          }
          if (bias != NULL) {
            acc += bias[oc];
          }
          const int32_t v = tm_requantize_s64(acc, quant->multiplier[oc], quant->shift[oc]) + params->output_offset;
          output[oc] = tm_clamp_s16(v, act_min, act_max);
        }
        output += output_dims->c;
      }
    }
  }
  return TM_OK;
}
