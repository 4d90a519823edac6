/*
 * DEPTHWISE_CONV_2D with operands of 8, 4 or 2 bits (tm_subbyte.h), any depth
 * multiplier. Taps in the padding subtract input_offset * filter, taking back
 * what the folded bias counted for them, as tm_depthwise_conv2d_s8 does.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

int32_t tm_depthwise_conv2d_sb_get_buffer_size(const tm_dw_conv_sb_params *params, const tm_dims *input_dims,
                                               const tm_dims *filter_dims, const tm_dims *output_dims) {
  (void)params;
  (void)input_dims;
  (void)filter_dims;
  (void)output_dims;
  return 0;
}

tm_status tm_depthwise_conv2d_sb(const tm_context *ctx, const tm_dw_conv_sb_params *params,
                                 const tm_per_channel_quant *quant, const tm_dims *input_dims, const void *input,
                                 const tm_dims *filter_dims, const void *filter, const tm_dims *bias_dims,
                                 const int32_t *bias, const tm_dims *output_dims, void *output) {
  (void)ctx;
  (void)bias_dims;
  const tm_dw_conv_params *p = &params->conv;
  const int32_t in_bits = params->bits.input;
  const int32_t w_bits = params->bits.filter;
  const int32_t out_bits = params->bits.output;
  const int32_t in_c = input_dims->c;
  const int32_t out_c = output_dims->c;
  const int32_t mult = p->ch_mult;
  if (!tm_sb_valid_bits(in_bits) || !tm_sb_valid_bits(w_bits) || !tm_sb_valid_bits(out_bits) ||
      in_c * mult != out_c || filter_dims->c != out_c || input_dims->n != output_dims->n) {
    return TM_ERROR_ARG;
  }
  const int32_t kh = filter_dims->h;
  const int32_t kw = filter_dims->w;
  const int32_t in_h = input_dims->h;
  const int32_t in_w = input_dims->w;
  const int32_t in_offset = p->input_offset;
  const int32_t act_min = p->activation.min;
  const int32_t act_max = p->activation.max;
  int32_t o = 0;

  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int32_t image = b * in_h * in_w * in_c;
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      const int32_t y0 = oy * p->stride.h - p->padding.h;
      for (int32_t ox = 0; ox < output_dims->w; ++ox) {
        const int32_t x0 = ox * p->stride.w - p->padding.w;
        for (int32_t ic = 0; ic < in_c; ++ic) {
          for (int32_t m = 0; m < mult; ++m) {
            const int32_t oc = ic * mult + m;
            int32_t acc = bias[oc];
            for (int32_t ky = 0; ky < kh; ++ky) {
              const int32_t y = y0 + ky * p->dilation.h;
              for (int32_t kx = 0; kx < kw; ++kx) {
                const int32_t x = x0 + kx * p->dilation.w;
                const int32_t f = tm_sb_load_signed(filter, (ky * kw + kx) * out_c + oc, w_bits);
                if (y < 0 || y >= in_h || x < 0 || x >= in_w) {
                  acc -= in_offset * f;
                } else {
                  acc += tm_sb_load(input, image + (y * in_w + x) * in_c + ic, in_bits) * f;
                }
              }
            }
            acc = tm_requantize(acc, quant->multiplier[oc], quant->shift[oc]) + p->output_offset;
            tm_sb_store(output, o + oc, out_bits, tm_clamp_s8(acc, act_min, act_max));
          }
        }
        o += out_c;
      }
    }
  }
  return TM_OK;
}
