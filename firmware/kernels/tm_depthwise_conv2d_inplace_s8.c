/*
 * DEPTHWISE_CONV_2D (depth multiplier 1) writing its output over its input.
 *
 * Channel c of the output depends only on channel c of the input, and output
 * element (y, x, c) lands on a channel-c slot of the NHWC buffer. So: copy the
 * input plane of channel c into scratch, surrounded by the input zero point
 * (a padding tap then contributes (zp - zp) * w = 0, exactly TFLite's
 * "skip the padding"), then compute output plane c from scratch into `data`.
 * Only channel-c slots are written, and channel c is already saved.
 * The bias must hold b[c] + input_offset * sum over the kernel of filter[c].
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

/* Padded plane extents: every window of every output position lies inside. */
static void padded_extent(const tm_dw_conv_params *params, const tm_dims *input_dims, const tm_dims *filter_dims,
                          const tm_dims *output_dims, int32_t *rows, int32_t *cols) {
  const int32_t need_h = (output_dims->h - 1) * params->stride.h + (filter_dims->h - 1) * params->dilation.h + 1;
  const int32_t need_w = (output_dims->w - 1) * params->stride.w + (filter_dims->w - 1) * params->dilation.w + 1;
  *rows = TM_MAX(need_h, input_dims->h + params->padding.h);
  *cols = TM_MAX(need_w, input_dims->w + params->padding.w);
}

int32_t tm_depthwise_conv2d_inplace_s8_get_buffer_size(const tm_dw_conv_params *params, const tm_dims *input_dims,
                                                       const tm_dims *filter_dims, const tm_dims *output_dims) {
  int32_t rows, cols;
  padded_extent(params, input_dims, filter_dims, output_dims, &rows, &cols);
  return rows * cols;
}

tm_status tm_depthwise_conv2d_inplace_s8(const tm_context *ctx, const tm_dw_conv_params *params,
                                         const tm_per_channel_quant *quant, const tm_dims *input_dims,
                                         const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                         const int32_t *bias, const tm_dims *output_dims, int8_t *data) {
  (void)bias_dims;
  const int32_t channels = input_dims->c;
  if (params->ch_mult != 1 || output_dims->c != channels || filter_dims->c != channels || input_dims->n != 1 ||
      output_dims->n != 1 || output_dims->h * output_dims->w > input_dims->h * input_dims->w) {
    return TM_ERROR_ARG;
  }
  int32_t rows, cols;
  padded_extent(params, input_dims, filter_dims, output_dims, &rows, &cols);
  int8_t *plane = (int8_t *)ctx->buf;
  if (plane == 0 || ctx->size < rows * cols) {
    return TM_ERROR_SCRATCH;
  }
  const int8_t pad_value = (int8_t)(-params->input_offset);
  const int32_t in_h = input_dims->h;
  const int32_t in_w = input_dims->w;
  const int32_t kh = filter_dims->h;
  const int32_t kw = filter_dims->w;
  const int32_t out_offset = params->output_offset;
  const int32_t act_min = params->activation.min;
  const int32_t act_max = params->activation.max;

  for (int32_t c = 0; c < channels; ++c) {
    for (int32_t i = 0; i < rows * cols; ++i) {
      plane[i] = pad_value;
    }
    for (int32_t y = 0; y < in_h; ++y) {
      int8_t *dst = plane + (y + params->padding.h) * cols + params->padding.w;
      const int8_t *src = data + y * in_w * channels + c;
      for (int32_t x = 0; x < in_w; ++x) {
        dst[x] = src[x * channels];
      }
    }
    const int32_t multiplier = quant->multiplier[c];
    const int32_t shift = quant->shift[c];
    int8_t *out = data + c;
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      const int8_t *row0 = plane + oy * params->stride.h * cols;
      for (int32_t ox = 0; ox < output_dims->w; ++ox) {
        const int8_t *window = row0 + ox * params->stride.w;
        int32_t acc = bias[c];
        for (int32_t ky = 0; ky < kh; ++ky) {
          const int8_t *src = window + ky * params->dilation.h * cols;
          const int8_t *f = filter + ky * kw * channels + c;
          for (int32_t kx = 0; kx < kw; ++kx) {
            acc += src[kx * params->dilation.w] * f[kx * channels];
          }
        }
        acc = tm_requantize(acc, multiplier, shift) + out_offset;
        *out = tm_clamp_s8(acc, act_min, act_max);
        out += channels;
      }
    }
  }
  return TM_OK;
}
