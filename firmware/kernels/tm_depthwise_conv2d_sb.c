/*
 * DEPTHWISE_CONV_2D with operands of 8, 4 or 2 bits (tm_subbyte.h), any depth
 * multiplier.
 *
 * For each output pixel, a block of up to TM_SB_DW_BLOCK input channels at a
 * time, the window is first gathered into scratch as int8 values, taps in the
 * padding holding -input_offset so that they contribute nothing (TFLite skips
 * them; the folded bias expects every tap). Each output channel is then a
 * strided dot product of that column with its weights.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

/* In place: the padded plane of one channel, so that every window of every output position lies inside. */
static int32_t plane_extent(const tm_dw_conv_params *p, const tm_dims *input_dims, const tm_dims *filter_dims,
                            const tm_dims *output_dims, int32_t *cols) {
  const int32_t need_h = (output_dims->h - 1) * p->stride.h + (filter_dims->h - 1) * p->dilation.h + 1;
  const int32_t need_w = (output_dims->w - 1) * p->stride.w + (filter_dims->w - 1) * p->dilation.w + 1;
  *cols = TM_MAX(need_w, input_dims->w + p->padding.w);
  return TM_MAX(need_h, input_dims->h + p->padding.h);
}

int32_t tm_depthwise_conv2d_sb_in_place_get_buffer_size(const tm_dw_conv_sb_params *params, const tm_dims *input_dims,
                                                        const tm_dims *filter_dims, const tm_dims *output_dims) {
  int32_t cols;
  const int32_t rows = plane_extent(&params->conv, input_dims, filter_dims, output_dims, &cols);
  return rows * cols;
}

/*
 * In place (output == input; depth multiplier 1, one image, the same bits in and out, no more output pixels than
 * input ones): channel c of the output depends only on channel c of the input, and output element (y, x, c) lands
 * on a channel-c slot (the same bits of the same bytes, since both are packed alike). So the input plane of channel
 * c is first unpacked into scratch, surrounded by -input_offset (padding adds nothing), then output plane c is
 * computed from it. Only channel-c slots are written, and channel c is saved.
 */
static void in_place(const tm_dw_conv_sb_params *params, const tm_per_channel_quant *quant, const tm_dims *input_dims,
                     const tm_dims *filter_dims, const void *filter, const int32_t *bias, const tm_dims *output_dims,
                     void *data, int8_t *plane) {
  const tm_dw_conv_params *p = &params->conv;
  const int32_t bits = params->bits.input;
  const int32_t w_bits = params->bits.filter;
  const int32_t channels = input_dims->c;
  int32_t cols;
  const int32_t rows = plane_extent(p, input_dims, filter_dims, output_dims, &cols);
  const int8_t pad = (int8_t)(-p->input_offset);
  for (int32_t c = 0; c < channels; ++c) {
    for (int32_t r = 0; r < rows; ++r) {
      const int32_t y = r - p->padding.h;
      for (int32_t col = 0; col < cols; ++col) {
        const int32_t x = col - p->padding.w;
        const int inside = y >= 0 && y < input_dims->h && x >= 0 && x < input_dims->w;
        plane[r * cols + col] = inside ? (int8_t)tm_sb_load(data, (y * input_dims->w + x) * channels + c, bits) : pad;
      }
    }
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      for (int32_t ox = 0; ox < output_dims->w; ++ox) {
        const int8_t *window = plane + oy * p->stride.h * cols + ox * p->stride.w;
        int32_t acc = bias[c];
        for (int32_t ky = 0; ky < filter_dims->h; ++ky) {
          for (int32_t kx = 0; kx < filter_dims->w; ++kx) {
            const int32_t w = tm_sb_load_signed(filter, (ky * filter_dims->w + kx) * channels + c, w_bits);
            acc += window[ky * p->dilation.h * cols + kx * p->dilation.w] * w;
          }
        }
        acc = tm_requantize(acc, quant->multiplier[c], quant->shift[c]) + p->output_offset;
        tm_sb_store(data, (oy * output_dims->w + ox) * channels + c, bits,
                    tm_clamp_s8(acc, p->activation.min, p->activation.max));
      }
    }
  }
}

int32_t tm_depthwise_conv2d_sb_get_buffer_size(const tm_dw_conv_sb_params *params, const tm_dims *input_dims,
                                               const tm_dims *filter_dims, const tm_dims *output_dims) {
  (void)params;
  (void)output_dims;
  return filter_dims->h * filter_dims->w * TM_MIN(input_dims->c, TM_SB_DW_BLOCK);
}

tm_status tm_depthwise_conv2d_sb(const tm_context *ctx, const tm_dw_conv_sb_params *params,
                                 const tm_per_channel_quant *quant, const tm_dims *input_dims, const void *input,
                                 const tm_dims *filter_dims, const void *filter, const tm_dims *bias_dims,
                                 const int32_t *bias, const tm_dims *output_dims, void *output) {
  (void)bias_dims;
  const tm_dw_conv_params *p = &params->conv;
  const int32_t in_bits = params->bits.input;
  const int32_t w_bits = params->bits.filter;
  const int32_t out_bits = params->bits.output;
  const int32_t in_c = input_dims->c;
  const int32_t out_c = output_dims->c;
  const int32_t mult = p->ch_mult;
  if (!tm_sb_valid_bits(in_bits) || !tm_sb_valid_bits(w_bits) || !tm_sb_valid_bits(out_bits) ||
      !tm_dw_conv_dims_ok(mult, input_dims, filter_dims, output_dims) || p->input_offset < -127 ||
      p->input_offset > 128) {
    return TM_ERROR_ARG;
  }
  if (output == input) {
    if (mult != 1 || input_dims->n != 1 || in_bits != out_bits ||
        output_dims->h * output_dims->w > input_dims->h * input_dims->w) {
      return TM_ERROR_ARG;
    }
    if (ctx->buf == NULL ||
        ctx->size < tm_depthwise_conv2d_sb_in_place_get_buffer_size(params, input_dims, filter_dims, output_dims)) {
      return TM_ERROR_SCRATCH;
    }
    in_place(params, quant, input_dims, filter_dims, filter, bias, output_dims, output, (int8_t *)ctx->buf);
    return TM_OK;
  }
  const int32_t kh = filter_dims->h;
  const int32_t kw = filter_dims->w;
  const int32_t taps = kh * kw;
  const int32_t block = TM_MIN(in_c, TM_SB_DW_BLOCK);
  if (ctx->buf == NULL || ctx->size < taps * block) {
    return TM_ERROR_SCRATCH;
  }
  int8_t *column = (int8_t *)ctx->buf;
  const int8_t pad = (int8_t)(-p->input_offset);
  const int32_t in_h = input_dims->h;
  const int32_t in_w = input_dims->w;
  const int32_t act_min = p->activation.min;
  const int32_t act_max = p->activation.max;
  int32_t o = 0;

  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int32_t image = b * in_h * in_w * in_c;
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      const int32_t y0 = oy * p->stride.h - p->padding.h;
      for (int32_t ox = 0; ox < output_dims->w; ++ox) {
        const int32_t x0 = ox * p->stride.w - p->padding.w;
        for (int32_t c0 = 0; c0 < in_c; c0 += block) {
          const int32_t width = TM_MIN(block, in_c - c0);
          int8_t *dst = column;
          for (int32_t ky = 0; ky < kh; ++ky) {
            const int32_t y = y0 + ky * p->dilation.h;
            for (int32_t kx = 0; kx < kw; ++kx, dst += width) {
              const int32_t x = x0 + kx * p->dilation.w;
              if (y < 0 || y >= in_h || x < 0 || x >= in_w) {
                for (int32_t c = 0; c < width; ++c) {
                  dst[c] = pad;
                }
              } else {
                tm_sb_unpack(input, image + (y * in_w + x) * in_c + c0, width, in_bits, dst);
              }
            }
          }
          for (int32_t ic = c0; ic < c0 + width; ++ic) {
            const int8_t *col = column + (ic - c0);
            for (int32_t m = 0; m < mult; ++m) {
              const int32_t oc = ic * mult + m;
              int32_t acc = bias[oc];
              if (w_bits == 8) {
                const int8_t *f = (const int8_t *)filter + oc;
                for (int32_t t = 0; t < taps; ++t) {
                  acc += col[t * width] * f[t * out_c];
                }
              } else {
                for (int32_t t = 0; t < taps; ++t) {
                  acc += col[t * width] * tm_sb_load_signed(filter, t * out_c + oc, w_bits);
                }
              }
              acc = tm_requantize(acc, quant->multiplier[oc], quant->shift[oc]) + p->output_offset;
              tm_sb_store(output, o + oc, out_bits, tm_clamp_s8(acc, act_min, act_max));
            }
          }
        }
        o += out_c;
      }
    }
  }
  return TM_OK;
}
