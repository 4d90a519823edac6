/*
 * DEPTHWISE_CONV_2D, 16x8, as TFLite Micro's reference
 * DepthwiseConvPerChannel for int16: output channel c * ch_mult + m
 * convolves input channel c with filter channel c * ch_mult + m, in an int64
 * accumulator over the taps inside the image, plus the int64 bias,
 * requantized per output channel by tm_requantize_s64.
 */
#include "tinyml/tm_kernels.h"

tm_status tm_depthwise_conv2d_s16(const tm_context *ctx, const tm_dw_conv_params *params,
                                  const tm_per_channel_quant *quant, const tm_dims *input_dims, const int16_t *input,
                                  const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                  const int64_t *bias, const tm_dims *output_dims, int16_t *output) {
  (void)ctx;
  (void)bias_dims;
  const int32_t mult = params->ch_mult;
  const int32_t in_c = input_dims->c;
  const int32_t out_c = output_dims->c;
  if (!tm_dw_conv_dims_ok(mult, input_dims, filter_dims, output_dims)) {
    return TM_ERROR_ARG;
  }
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
        for (int32_t oc = 0; oc < out_c; ++oc) {
          const int32_t ic = oc / mult;
          int64_t acc = 0;
          for (int32_t ky = win.ky0; ky < win.ky1; ++ky) {
            const int32_t y = win.y0 + ky * params->dilation.h;
            for (int32_t kx = win.kx0; kx < win.kx1; ++kx) {
              const int32_t x = win.x0 + kx * params->dilation.w;
              acc += (int32_t)image[(y * in_w + x) * in_c + ic] * (int32_t)filter[(ky * kw + kx) * out_c + oc];
            }
          }
          if (bias != NULL) {
            acc += bias[oc];
          }
          const int32_t v = tm_requantize_s64(acc, quant->multiplier[oc], quant->shift[oc]) + params->output_offset;
          output[oc] = tm_clamp_s16(v, act_min, act_max);
        }
        output += out_c;
      }
    }
  }
  return TM_OK;
}
