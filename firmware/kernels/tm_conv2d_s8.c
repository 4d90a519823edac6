/*
 * CONV_2D, int8 activations and weights, per-channel requantization.
 *
 * The bias must already hold b[oc] + input_offset * sum(filter[oc]) (tinyml
 * folds it at compile time), so the inner loop is a plain int8 dot product.
 * Each output pixel's receptive field is gathered into scratch (im2col), with
 * padding filled by the input zero point, whose folded contribution is zero.
 * 1x1 kernels without padding read the input in place and need no scratch.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

static int conv_reads_in_place(const tm_conv_params *params, const tm_dims *input_dims, const tm_dims *filter_dims) {
  return filter_dims->h == 1 && filter_dims->w == 1 && params->padding.h == 0 && params->padding.w == 0 &&
         filter_dims->c == input_dims->c;
}

int32_t tm_conv2d_s8_get_buffer_size(const tm_conv_params *params, const tm_dims *input_dims,
                                     const tm_dims *filter_dims, const tm_dims *output_dims) {
  (void)output_dims;
  if (conv_reads_in_place(params, input_dims, filter_dims)) {
    return 0;
  }
  return filter_dims->h * filter_dims->w * filter_dims->c;
}

static void im2col(const tm_conv_params *params, const tm_dims *input_dims, const int8_t *image,
                   const tm_dims *filter_dims, int32_t group, int32_t in_y0, int32_t in_x0, int8_t *col) {
  const int32_t fc = filter_dims->c;
  const int8_t pad_value = (int8_t)(-params->input_offset);
  for (int32_t ky = 0; ky < filter_dims->h; ++ky) {
    const int32_t in_y = in_y0 + ky * params->dilation.h;
    for (int32_t kx = 0; kx < filter_dims->w; ++kx) {
      const int32_t in_x = in_x0 + kx * params->dilation.w;
      if (in_y < 0 || in_y >= input_dims->h || in_x < 0 || in_x >= input_dims->w) {
        for (int32_t i = 0; i < fc; ++i) {
          col[i] = pad_value;
        }
      } else {
        const int8_t *src = image + ((in_y * input_dims->w + in_x) * input_dims->c) + group * fc;
        for (int32_t i = 0; i < fc; ++i) {
          col[i] = src[i];
        }
      }
      col += fc;
    }
  }
}

tm_status tm_conv2d_s8(const tm_context *ctx, const tm_conv_params *params, const tm_per_channel_quant *quant,
                       const tm_dims *input_dims, const int8_t *input, const tm_dims *filter_dims,
                       const int8_t *filter, const tm_dims *bias_dims, const int32_t *bias,
                       const tm_dims *output_dims, int8_t *output) {
  (void)bias_dims;
  const int32_t fc = filter_dims->c;
  if (fc <= 0 || input_dims->c % fc != 0 || input_dims->n != output_dims->n || filter_dims->n != output_dims->c) {
    return TM_ERROR_ARG;
  }
  const int32_t groups = input_dims->c / fc;
  const int32_t per_group = output_dims->c / groups;
  const int32_t k = filter_dims->h * filter_dims->w * fc;
  const int in_place = conv_reads_in_place(params, input_dims, filter_dims);
  int8_t *col = (int8_t *)ctx->buf;
  if (!in_place && (col == 0 || ctx->size < k)) {
    return TM_ERROR_SCRATCH;
  }
  const int32_t act_min = params->activation.min;
  const int32_t act_max = params->activation.max;
  const int32_t out_offset = params->output_offset;
  const int32_t image_size = input_dims->h * input_dims->w * input_dims->c;

  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int8_t *image = input + b * image_size;
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      const int32_t in_y0 = oy * params->stride.h - params->padding.h;
      for (int32_t ox = 0; ox < output_dims->w; ++ox) {
        const int32_t in_x0 = ox * params->stride.w - params->padding.w;
        for (int32_t g = 0; g < groups; ++g) {
          const int8_t *src;
          if (in_place) {
            src = image + (in_y0 * input_dims->w + in_x0) * input_dims->c;
          } else {
            im2col(params, input_dims, image, filter_dims, g, in_y0, in_x0, col);
            src = col;
          }
          int32_t oc = g * per_group;
          const int32_t oc_end = oc + per_group;
          /* Two output channels per pass share each input load. */
          for (; oc + 1 < oc_end; oc += 2) {
            const int8_t *w0 = filter + oc * k;
            const int8_t *w1 = w0 + k;
            int32_t acc0 = bias[oc];
            int32_t acc1 = bias[oc + 1];
            for (int32_t i = 0; i < k; ++i) {
              const int32_t x = src[i];
              acc0 += x * w0[i];
              acc1 += x * w1[i];
            }
            acc0 = tm_requantize(acc0, quant->multiplier[oc], quant->shift[oc]) + out_offset;
            acc1 = tm_requantize(acc1, quant->multiplier[oc + 1], quant->shift[oc + 1]) + out_offset;
            output[oc] = tm_clamp_s8(acc0, act_min, act_max);
            output[oc + 1] = tm_clamp_s8(acc1, act_min, act_max);
          }
          if (oc < oc_end) {
            const int8_t *w0 = filter + oc * k;
            int32_t acc0 = bias[oc];
            for (int32_t i = 0; i < k; ++i) {
              acc0 += src[i] * w0[i];
            }
            acc0 = tm_requantize(acc0, quant->multiplier[oc], quant->shift[oc]) + out_offset;
            output[oc] = tm_clamp_s8(acc0, act_min, act_max);
          }
        }
        output += output_dims->c;
      }
    }
  }
  return TM_OK;
}
