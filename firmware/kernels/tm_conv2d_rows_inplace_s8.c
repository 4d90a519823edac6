/*
 * CONV_2D (stride 1, no dilation, no groups, as many output channels and pixels
 * as input) writing its output over its input, row by row.
 *
 * Output row y needs input rows y - pad .. y - pad + kh - 1. Rows above y have
 * already been overwritten by output rows, and row y is about to be, so the
 * last pad + 1 input rows are kept in a ring in scratch; rows below y are
 * still intact in place. The bias must hold b[oc] + input_offset * sum(filter[oc]);
 * taps in the padding are taken back out as input_offset * filter.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_dot.h"
#include "tinyml/tm_math.h"

int32_t tm_conv2d_rows_inplace_s8_get_buffer_size(const tm_conv_params *params, const tm_dims *input_dims) {
  return (params->padding.h + 1) * input_dims->w * input_dims->c;
}

tm_status tm_conv2d_rows_inplace_s8(const tm_context *ctx, const tm_conv_params *params,
                                    const tm_per_channel_quant *quant, const tm_dims *input_dims,
                                    const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                    const int32_t *bias, const tm_dims *output_dims, int8_t *data) {
  (void)bias_dims;
  const int32_t c = input_dims->c;
  const int32_t h = input_dims->h;
  const int32_t w = input_dims->w;
  const int32_t kh = filter_dims->h;
  const int32_t kw = filter_dims->w;
  const int32_t pad_h = params->padding.h;
  const int32_t pad_w = params->padding.w;
  const int32_t ring_rows = pad_h + 1;
  const int32_t row_bytes = w * c;
  if (input_dims->n != 1 || output_dims->n != 1 || output_dims->h != h || output_dims->w != w ||
      output_dims->c != c || filter_dims->c != c || filter_dims->n != c || params->stride.h != 1 ||
      params->stride.w != 1 || params->dilation.h != 1 || params->dilation.w != 1 || pad_h >= kh) {
    return TM_ERROR_ARG;
  }
  int8_t *ring = (int8_t *)ctx->buf;
  if (ring == 0 || ctx->size < ring_rows * row_bytes) {
    return TM_ERROR_SCRATCH;
  }
  const int32_t k = kh * kw * c;
  const int32_t in_offset = params->input_offset;
  const int32_t out_offset = params->output_offset;
  const int32_t act_min = params->activation.min;
  const int32_t act_max = params->activation.max;

  for (int32_t y = 0; y < h; ++y) {
    int8_t *saved = ring + (y % ring_rows) * row_bytes;
    int8_t *out = data + y * row_bytes;
    for (int32_t i = 0; i < row_bytes; ++i) {
      saved[i] = out[i];
    }
    for (int32_t ox = 0; ox < w; ++ox) {
      const int32_t x0 = ox - pad_w;
      for (int32_t oc = 0; oc < c; oc += 2) {
        const int pair = oc + 1 < c;
        const int8_t *w0 = filter + oc * k;
        const int8_t *w1 = pair ? w0 + k : w0;
        int32_t acc0 = bias[oc];
        int32_t acc1 = pair ? bias[oc + 1] : 0;
        for (int32_t ky = 0; ky < kh; ++ky) {
          const int32_t r = y - pad_h + ky;
          const int8_t *wr0 = w0 + ky * kw * c;
          const int8_t *wr1 = w1 + ky * kw * c;
          if (r < 0 || r >= h) {
            acc0 -= in_offset * tm_sum_s8(wr0, kw * c);
            acc1 -= in_offset * tm_sum_s8(wr1, kw * c);
            continue;
          }
          const int8_t *row = r <= y ? ring + (r % ring_rows) * row_bytes : data + r * row_bytes;
          if (x0 >= 0 && x0 + kw <= w) {
            tm_dot2_s8(row + x0 * c, wr0, wr1, kw * c, &acc0, &acc1);
            continue;
          }
          for (int32_t kx = 0; kx < kw; ++kx) {
            const int32_t x = x0 + kx;
            if (x < 0 || x >= w) {
              acc0 -= in_offset * tm_sum_s8(wr0 + kx * c, c);
              acc1 -= in_offset * tm_sum_s8(wr1 + kx * c, c);
            } else {
              tm_dot2_s8(row + x * c, wr0 + kx * c, wr1 + kx * c, c, &acc0, &acc1);
            }
          }
        }
        acc0 = tm_requantize(acc0, quant->multiplier[oc], quant->shift[oc]) + out_offset;
        out[ox * c + oc] = tm_clamp_s8(acc0, act_min, act_max);
        if (pair) {
          acc1 = tm_requantize(acc1, quant->multiplier[oc + 1], quant->shift[oc + 1]) + out_offset;
          out[ox * c + oc + 1] = tm_clamp_s8(acc1, act_min, act_max);
        }
      }
    }
  }
  return TM_OK;
}
