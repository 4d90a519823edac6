/*
 * DEPTHWISE_CONV_2D, int8, any depth multiplier, per-channel requantization.
 *
 * The bias must already hold b[oc] + input_offset * sum over the kernel of
 * filter[oc]. Windows fully inside the image then need only int8 products;
 * windows on the border subtract input_offset * filter for the taps that
 * fall outside, which reproduces TFLite's "skip the padding" exactly.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

TM_DEFINE_NO_SCRATCH(tm_depthwise_conv2d_s8_get_buffer_size, tm_dw_conv_params)

tm_status tm_depthwise_conv2d_s8(const tm_context *ctx, const tm_dw_conv_params *params,
                                 const tm_per_channel_quant *quant, const tm_dims *input_dims, const int8_t *input,
                                 const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                 const int32_t *bias, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  (void)bias_dims;
  const int32_t in_c = input_dims->c;
  const int32_t out_c = output_dims->c;
  const int32_t mult = params->ch_mult;
  if (!tm_dw_conv_dims_ok(mult, input_dims, filter_dims, output_dims)) {
    return TM_ERROR_ARG;
  }
  const int32_t kh = filter_dims->h;
  const int32_t kw = filter_dims->w;
  const int32_t dil_h = params->dilation.h;
  const int32_t dil_w = params->dilation.w;
  const int32_t in_w = input_dims->w;
  const int32_t in_h = input_dims->h;
  const int32_t in_offset = params->input_offset;
  const int32_t out_offset = params->output_offset;
  const int32_t act_min = params->activation.min;
  const int32_t act_max = params->activation.max;
  const int32_t row_stride = in_w * in_c;

  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int8_t *image = input + b * in_h * row_stride;
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      const int32_t y0 = oy * params->stride.h - params->padding.h;
      const int inside_y = y0 >= 0 && y0 + (kh - 1) * dil_h < in_h;
      for (int32_t ox = 0; ox < output_dims->w; ++ox) {
        const int32_t x0 = ox * params->stride.w - params->padding.w;
        const int inside = inside_y && x0 >= 0 && x0 + (kw - 1) * dil_w < in_w;
        const int8_t *window = inside ? image + y0 * row_stride + x0 * in_c : image;
        for (int32_t ic = 0; ic < in_c; ++ic) {
          for (int32_t m = 0; m < mult; ++m) {
            const int32_t oc = ic * mult + m;
            int32_t acc = bias[oc];
            if (inside) {
              for (int32_t ky = 0; ky < kh; ++ky) {
                const int8_t *src = window + ky * dil_h * row_stride + ic;
                const int8_t *f = filter + ky * kw * out_c + oc;
                for (int32_t kx = 0; kx < kw; ++kx) {
                  acc += src[kx * dil_w * in_c] * f[kx * out_c];
                }
              }
            } else {
              for (int32_t ky = 0; ky < kh; ++ky) {
                const int32_t y = y0 + ky * dil_h;
                for (int32_t kx = 0; kx < kw; ++kx) {
                  const int32_t x = x0 + kx * dil_w;
                  const int32_t f = filter[(ky * kw + kx) * out_c + oc];
                  if (y < 0 || y >= in_h || x < 0 || x >= in_w) {
                    acc -= in_offset * f;
                  } else {
                    acc += image[y * row_stride + x * in_c + ic] * f;
                  }
                }
              }
            }
            acc = tm_requantize(acc, quant->multiplier[oc], quant->shift[oc]) + out_offset;
            output[oc] = tm_clamp_s8(acc, act_min, act_max);
          }
        }
        output += out_c;
      }
    }
  }
  return TM_OK;
}
