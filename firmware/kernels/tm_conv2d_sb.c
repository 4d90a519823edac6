/*
 * CONV_2D with operands of 8, 4 or 2 bits (tm_subbyte.h): packed activations
 * in and out, packed signed weights.
 *
 * An int8 input is read where it is (as tm_conv2d_s8 reads it). A packed one:
 * for each output pixel (and group) the window is gathered once into scratch
 * as int8 values, the taps in the padding holding -input_offset so that they
 * contribute nothing (TFLite skips them; the folded bias expects every tap).
 * Output channels then take dot products of that column with their weight
 * rows, two at a time for int8 weights, packed rows decoded a byte at a time. The output is written element by element.
 *
 * In place (output == input: stride 1, one image, the spatial shape kept, no
 * more output bits per pixel than input bits, padding.h below the kernel
 * height): output row y is written over the input's first rows once input row
 * y is saved, unpacked, in a ring of padding.h + 1 rows in the scratch, from
 * which later output rows read rows <= y. Output row y ends where input row
 * y + 1 begins, or before (bit for bit), so rows still to be read are intact.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

int32_t tm_conv2d_sb_get_buffer_size(const tm_conv_sb_params *params, const tm_dims *input_dims,
                                     const tm_dims *filter_dims, const tm_dims *output_dims) {
  (void)input_dims;
  (void)output_dims;
  return params->bits.input == 8 ? 0 : filter_dims->h * filter_dims->w * filter_dims->c;
}

int32_t tm_conv2d_sb_in_place_get_buffer_size(const tm_conv_sb_params *params, const tm_dims *input_dims,
                                              const tm_dims *filter_dims) {
  const int32_t ring = (params->conv.padding.h + 1) * input_dims->w * input_dims->c;
  return tm_conv2d_sb_get_buffer_size(params, input_dims, filter_dims, input_dims) + ring;
}

/* Adds to acc0/acc1 the taps of one kernel row (`row` NULL in the padding) for channels oc and oc + 1 (the same
 * channel twice when alone): a row inside the image with contiguous taps is one dot product per channel, other
 * taps one each, taps in the padding taking back what the folded bias counted for them. */
static void direct_row(const tm_conv_params *p, const int8_t *row, int32_t x0, int32_t in_w, int32_t in_c,
                       int32_t g, int32_t fc, int32_t kw, const void *filter, int32_t w0, int32_t w1, int32_t w_bits,
                       int32_t *acc0, int32_t *acc1) {
  if (row == NULL) {
    *acc0 -= p->input_offset * tm_sb_sum(filter, w0, kw * fc, w_bits);
    *acc1 -= p->input_offset * tm_sb_sum(filter, w1, kw * fc, w_bits);
    return;
  }
  if (p->dilation.w == 1 && fc == in_c && x0 >= 0 && x0 + kw <= in_w) {
    tm_sb_dot2(row + x0 * in_c, filter, w0, w1, kw * fc, w_bits, acc0, acc1);
    return;
  }
  for (int32_t kx = 0; kx < kw; ++kx) {
    const int32_t x = x0 + kx * p->dilation.w;
    if (x < 0 || x >= in_w) {
      *acc0 -= p->input_offset * tm_sb_sum(filter, w0 + kx * fc, fc, w_bits);
      *acc1 -= p->input_offset * tm_sb_sum(filter, w1 + kx * fc, fc, w_bits);
    } else {
      tm_sb_dot2(row + x * in_c + g * fc, filter, w0 + kx * fc, w1 + kx * fc, fc, w_bits, acc0, acc1);
    }
  }
}

/* Output channels [first, last) of one pixel from int8 rows read where they are (`rows[ky]`, NULL in the
 * padding), two channels per pass over the window. */
static void direct_pixel(const tm_conv_sb_params *params, const tm_per_channel_quant *quant, const int8_t *const *rows,
                         int32_t x0, int32_t in_w, int32_t in_c, int32_t g, const tm_dims *filter_dims,
                         const void *filter, const int32_t *bias, int32_t first, int32_t last, void *output,
                         int32_t o) {
  const tm_conv_params *p = &params->conv;
  const int32_t fc = filter_dims->c;
  const int32_t kw = filter_dims->w;
  const int32_t k = filter_dims->h * kw * fc;
  const int32_t w_bits = params->bits.filter;
  for (int32_t oc = first; oc < last; oc += 2) {
    const int pair = oc + 1 < last;
    int32_t acc0 = bias[oc];
    int32_t acc1 = pair ? bias[oc + 1] : 0;
    for (int32_t ky = 0; ky < filter_dims->h; ++ky) {
      const int32_t w0 = oc * k + ky * kw * fc;
      direct_row(p, rows[ky], x0, in_w, in_c, g, fc, kw, filter, w0, pair ? w0 + k : w0, w_bits, &acc0, &acc1);
    }
    for (int32_t i = 0; i < (pair ? 2 : 1); ++i) {
      const int32_t acc = tm_requantize(i ? acc1 : acc0, quant->multiplier[oc + i], quant->shift[oc + i]);
      tm_sb_store(output, o + oc + i, params->bits.output,
                  tm_clamp_s8(acc + p->output_offset, p->activation.min, p->activation.max));
    }
  }
}

tm_status tm_conv2d_sb(const tm_context *ctx, const tm_conv_sb_params *params, const tm_per_channel_quant *quant,
                       const tm_dims *input_dims, const void *input, const tm_dims *filter_dims, const void *filter,
                       const tm_dims *bias_dims, const int32_t *bias, const tm_dims *output_dims, void *output) {
  (void)bias_dims;
  const tm_conv_params *p = &params->conv;
  const int32_t in_bits = params->bits.input;
  const int32_t w_bits = params->bits.filter;
  const int32_t out_bits = params->bits.output;
  const int32_t fc = filter_dims->c;
  const int32_t in_c = input_dims->c;
  if (!tm_sb_valid_bits(in_bits) || !tm_sb_valid_bits(w_bits) || !tm_sb_valid_bits(out_bits) ||
      !tm_conv_dims_ok(input_dims, filter_dims, output_dims) || p->input_offset < -127 || p->input_offset > 128) {
    return TM_ERROR_ARG;
  }
  const int32_t kh = filter_dims->h;
  const int32_t kw = filter_dims->w;
  const int32_t k = kh * kw * fc;
  const int in_place = output == input;
  if (kh > TM_SB_CONV_MAX_KH) {
    return TM_ERROR_ARG;
  }
  if (in_place && (p->stride.w != 1 || p->stride.h != 1 || input_dims->n != 1 || input_dims->h != output_dims->h ||
                   input_dims->w != output_dims->w || output_dims->c * out_bits > in_c * in_bits ||
                   p->padding.h >= kh)) {
    return TM_ERROR_ARG;
  }
  const int direct = in_bits == 8; /* int8 input: read where it is, no window column */
  const int32_t need = in_place ? tm_conv2d_sb_in_place_get_buffer_size(params, input_dims, filter_dims)
                                : tm_conv2d_sb_get_buffer_size(params, input_dims, filter_dims, output_dims);
  if (need > 0 && (ctx->buf == NULL || ctx->size < need)) {
    return TM_ERROR_SCRATCH;
  }
  int8_t *column = (int8_t *)ctx->buf;
  int8_t *ring = column + (direct ? 0 : k); /* in place: input rows oy - padding.h .. oy, unpacked */
  const int32_t keep = p->padding.h + 1;
  const int32_t line = input_dims->w * in_c;
  const int8_t pad = (int8_t)(-p->input_offset);
  const int32_t groups = in_c / fc;
  const int32_t per_group = output_dims->c / groups;
  const int32_t in_h = input_dims->h;
  const int32_t in_w = input_dims->w;
  const int32_t out_c = output_dims->c;
  const int32_t act_min = p->activation.min;
  const int32_t act_max = p->activation.max;
  int32_t o = 0; /* flat index of the next output element */

  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int32_t image = b * in_h * in_w * in_c;
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      if (in_place) { /* input row oy is about to be overwritten: later rows read it from the ring */
        tm_sb_unpack(input, oy * line, line, in_bits, ring + oy % keep * line);
      }
      const int32_t y0 = oy * p->stride.h - p->padding.h;
      const int8_t *rows[TM_SB_CONV_MAX_KH];
      if (direct) {
        for (int32_t ky = 0; ky < kh; ++ky) {
          const int32_t y = y0 + ky * p->dilation.h;
          rows[ky] = y < 0 || y >= in_h ? NULL
                     : in_place && y <= oy ? ring + y % keep * line
                                           : (const int8_t *)input + image + y * line;
        }
      }
      for (int32_t ox = 0; ox < output_dims->w; ++ox) {
        const int32_t x0 = ox * p->stride.w - p->padding.w;
        for (int32_t g = 0; g < groups; ++g) {
          if (direct) {
            direct_pixel(params, quant, rows, x0, in_w, in_c, g, filter_dims, filter, bias, g * per_group,
                         (g + 1) * per_group, output, o);
            continue;
          }
          int8_t *dst = column;
          for (int32_t ky = 0; ky < kh; ++ky) {
            const int32_t y = y0 + ky * p->dilation.h;
            for (int32_t kx = 0; kx < kw; ++kx, dst += fc) {
              const int32_t x = x0 + kx * p->dilation.w;
              if (y < 0 || y >= in_h || x < 0 || x >= in_w) {
                for (int32_t c = 0; c < fc; ++c) {
                  dst[c] = pad;
                }
              } else if (in_place && y <= oy) {
                const int8_t *src = ring + y % keep * line + x * in_c + g * fc;
                for (int32_t c = 0; c < fc; ++c) {
                  dst[c] = src[c];
                }
              } else {
                tm_sb_unpack(input, image + (y * in_w + x) * in_c + g * fc, fc, in_bits, dst);
              }
            }
          }
          for (int32_t oc = g * per_group; oc < (g + 1) * per_group; oc += 2) {
            const int pair = oc + 1 < (g + 1) * per_group;
            int32_t acc0 = bias[oc];
            int32_t acc1 = pair ? bias[oc + 1] : 0;
            if (pair) {
              tm_sb_dot2(column, filter, oc * k, (oc + 1) * k, k, w_bits, &acc0, &acc1);
            } else {
              acc0 += tm_sb_dot(column, filter, oc * k, k, w_bits);
            }
            acc0 = tm_requantize(acc0, quant->multiplier[oc], quant->shift[oc]) + p->output_offset;
            tm_sb_store(output, o + oc, out_bits, tm_clamp_s8(acc0, act_min, act_max));
            if (pair) {
              acc1 = tm_requantize(acc1, quant->multiplier[oc + 1], quant->shift[oc + 1]) + p->output_offset;
              tm_sb_store(output, o + oc + 1, out_bits, tm_clamp_s8(acc1, act_min, act_max));
            }
          }
        }
        o += out_c;
      }
    }
  }
  return TM_OK;
}
