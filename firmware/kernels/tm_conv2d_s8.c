/*
 * CONV_2D, int8 activations and weights, per-channel requantization.
 *
 * The bias must already hold b[oc] + input_offset * sum(filter[oc]) (tinyml
 * folds it at compile time), so taps inside the image need only int8
 * products. Taps that fall in the padding contribute nothing in TFLite; since
 * the folded bias counted them, they are taken back out as
 * input_offset * filter. Reading the input in place needs no scratch.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_dot.h"
#include "tinyml/tm_math.h"

TM_DEFINE_NO_SCRATCH(tm_conv2d_s8_get_buffer_size, tm_conv_params)

/* Two output channels share each input load. */
tm_status tm_conv2d_s8(const tm_context *ctx, const tm_conv_params *params, const tm_per_channel_quant *quant,
                       const tm_dims *input_dims, const int8_t *input, const tm_dims *filter_dims,
                       const int8_t *filter, const tm_dims *bias_dims, const int32_t *bias,
                       const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  (void)bias_dims;
  const int32_t fc = filter_dims->c;
  const int32_t in_c = input_dims->c;
  if (!tm_conv_dims_ok(input_dims, filter_dims, output_dims)) {
    return TM_ERROR_ARG;
  }
  const int32_t groups = in_c / fc;
  const int32_t per_group = output_dims->c / groups;
  const int32_t kh = filter_dims->h;
  const int32_t kw = filter_dims->w;
  const int32_t in_h = input_dims->h;
  const int32_t in_w = input_dims->w;
  const int32_t dil_h = params->dilation.h;
  const int32_t dil_w = params->dilation.w;
  const int32_t k = kh * kw * fc;
  /* With unit dilation along x and no groups, a window row is one contiguous run. */
  const int contiguous_rows = dil_w == 1 && groups == 1;
  const int32_t in_offset = params->input_offset;
  const int32_t out_offset = params->output_offset;
  const int32_t act_min = params->activation.min;
  const int32_t act_max = params->activation.max;
  const int32_t row_stride = in_w * in_c;

  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int8_t *image = input + b * in_h * row_stride;
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      const int32_t y0 = oy * params->stride.h - params->padding.h;
      for (int32_t ox = 0; ox < output_dims->w; ++ox) {
        const int32_t x0 = ox * params->stride.w - params->padding.w;
        for (int32_t g = 0; g < groups; ++g) {
          const int8_t *pixel = image + g * fc;
          for (int32_t oc = g * per_group; oc < (g + 1) * per_group; oc += 2) {
            const int pair = oc + 1 < (g + 1) * per_group;
            const int8_t *w0 = filter + oc * k;
            const int8_t *w1 = pair ? w0 + k : w0;
            int32_t acc0 = bias[oc];
            int32_t acc1 = pair ? bias[oc + 1] : 0;
            for (int32_t ky = 0; ky < kh; ++ky) {
              const int32_t y = y0 + ky * dil_h;
              const int8_t *wr0 = w0 + ky * kw * fc;
              const int8_t *wr1 = w1 + ky * kw * fc;
              if (y < 0 || y >= in_h) {
                acc0 -= in_offset * tm_sum_s8(wr0, kw * fc);
                acc1 -= in_offset * tm_sum_s8(wr1, kw * fc);
                continue;
              }
              const int8_t *row = pixel + y * row_stride;
              if (contiguous_rows && x0 >= 0 && x0 + kw <= in_w) {
                tm_dot2_s8(row + x0 * in_c, wr0, wr1, kw * fc, &acc0, &acc1);
                continue;
              }
              for (int32_t kx = 0; kx < kw; ++kx) {
                const int32_t x = x0 + kx * dil_w;
                if (x < 0 || x >= in_w) {
                  acc0 -= in_offset * tm_sum_s8(wr0 + kx * fc, fc);
                  acc1 -= in_offset * tm_sum_s8(wr1 + kx * fc, fc);
                } else {
                  tm_dot2_s8(row + x * in_c, wr0 + kx * fc, wr1 + kx * fc, fc, &acc0, &acc1);
                }
              }
            }
            acc0 = tm_requantize(acc0, quant->multiplier[oc], quant->shift[oc]) + out_offset;
            output[oc] = tm_clamp_s8(acc0, act_min, act_max);
            if (pair) {
              acc1 = tm_requantize(acc1, quant->multiplier[oc + 1], quant->shift[oc + 1]) + out_offset;
              output[oc + 1] = tm_clamp_s8(acc1, act_min, act_max);
            }
          }
        }
        output += output_dims->c;
      }
    }
  }
  return TM_OK;
}
