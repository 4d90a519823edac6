/*
 * TRANSPOSE_CONV, int8 activations and weights, per-channel requantization.
 *
 * TFLite Micro scatters each input pixel through the filter into an int32
 * buffer the size of the output, then requantizes it. Here each output value
 * gathers instead the input pixels whose taps land on it: output row oy is
 * reached by kernel row ky from input row (oy + pad - ky) / stride when that
 * divides exactly and lies in the input. The same int32 products are summed
 * (in another order, which two's-complement addition does not notice), so
 * the result is bit-identical and no scratch is needed.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

TM_DEFINE_NO_SCRATCH(tm_transpose_conv2d_s8_get_buffer_size, tm_conv_params)

tm_status tm_transpose_conv2d_s8(const tm_context *ctx, const tm_conv_params *params,
                                 const tm_per_channel_quant *quant, const tm_dims *input_dims, const int8_t *input,
                                 const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                 const int32_t *bias, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  (void)bias_dims;
  const int32_t in_c = input_dims->c;
  const int32_t out_c = output_dims->c;
  if (filter_dims->c != in_c || filter_dims->n != out_c || input_dims->n != output_dims->n || params->stride.h < 1 ||
      params->stride.w < 1) {
    return TM_ERROR_ARG;
  }
  const int32_t in_h = input_dims->h;
  const int32_t in_w = input_dims->w;
  const int32_t kh = filter_dims->h;
  const int32_t kw = filter_dims->w;
  const int32_t sh = params->stride.h;
  const int32_t sw = params->stride.w;
  const int32_t in_offset = params->input_offset;

  for (int32_t b = 0; b < output_dims->n; ++b) {
    const int8_t *image = input + b * in_h * in_w * in_c;
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      const int32_t ry = oy + params->padding.h; /* the output row on the scatter's canvas */
      for (int32_t ox = 0; ox < output_dims->w; ++ox) {
        const int32_t rx = ox + params->padding.w;
        for (int32_t oc = 0; oc < out_c; ++oc) {
          int32_t acc = 0;
          /* kernel rows ry % sh, ry % sh + sh, ...: their input rows count down from ry / sh */
          for (int32_t ky = ry % sh, iy = ry / sh; ky < kh && iy >= 0; ky += sh, --iy) {
            if (iy >= in_h) {
              continue;
            }
            for (int32_t kx = rx % sw, ix = rx / sw; kx < kw && ix >= 0; kx += sw, --ix) {
              if (ix >= in_w) {
                continue;
              }
              const int8_t *x = image + (iy * in_w + ix) * in_c;
              const int8_t *w = filter + ((oc * kh + ky) * kw + kx) * in_c;
              for (int32_t c = 0; c < in_c; ++c) {
                acc += (x[c] + in_offset) * w[c];
              }
            }
          }
          if (bias != 0) {
            acc += bias[oc];
          }
          acc = tm_requantize(acc, quant->multiplier[oc], quant->shift[oc]) + params->output_offset;
          *output++ = tm_clamp_s8(acc, params->activation.min, params->activation.max);
        }
      }
    }
  }
  return TM_OK;
}
