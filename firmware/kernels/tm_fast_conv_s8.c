/*
 * CONV_2D, any kernel size, stride and padding (tinyml's fast kernels, see tm_fast.h).
 *
 * Im2col for two pixels at a time, written straight in the sign-extended cols
 * layout the 2x2 blocked product reads: with whole words of input channels a
 * window tap is a few word loads; other channel counts (RGB images, 1-channel
 * spectrograms) gather an int8 patch first. Taps in the padding read the
 * input zero point, so the folded bias needs no correction.
 *
 * Windows are gathered through one pointer per kernel row, so the output may
 * be the input (stride 1, same shape, one image): output row y is written
 * over input row y once that row is saved in a ring of padding.h + 1 rows in
 * the scratch, from which later rows read it.
 */
#include "tinyml/tm_fast.h"

static int32_t groups_of(const tm_dims *filter_dims) {
  return (filter_dims->h * filter_dims->w * filter_dims->c + 3) / 4;
}

int32_t tm_fast_conv_s8_get_buffer_size(const tm_dims *input_dims, const tm_dims *filter_dims) {
  const int32_t groups = groups_of(filter_dims);
  const int32_t patch = input_dims->c % 4 != 0 ? groups * 4 : 0;
  return 2 * groups * 8 + patch;
}

int32_t tm_fast_conv_s8_in_place_get_buffer_size(const tm_fast_conv_params *params, const tm_dims *input_dims,
                                                 const tm_dims *filter_dims) {
  const int32_t ring = (params->padding.h + 1) * input_dims->w * input_dims->c;
  return tm_fast_conv_s8_get_buffer_size(input_dims, filter_dims) + ring;
}

/* Hides a pointer's value from the optimiser, so that short loops stay loops instead of library calls. */
#if defined(__GNUC__)
#define OPAQUE(p) __asm__("" : "+r"(p))
#else
#define OPAQUE(p) (void)(p)
#endif

/* Copies n bytes, a word at a time while it can (n is small: one window row). */
static inline void copy_run(int8_t *dst, const int8_t *src, int32_t n) {
  for (; n >= 4; n -= 4) {
    const uint32_t v = tm_fast_load32(src);
    memcpy(dst, &v, 4);
    src += 4;
    dst += 4;
  }
  for (; n > 0; --n) {
    *dst++ = *src++;
    OPAQUE(dst);
  }
}

/* n bytes of v (n is small: a few taps of padding), a word at a time while it can. */
static inline void fill_bytes(int8_t *dst, int8_t v, int32_t n) {
  const uint32_t v4 = (uint32_t)(uint8_t)v * 0x01010101u;
  for (; n >= 4; n -= 4) {
    memcpy(dst, &v4, 4);
    dst += 4;
    OPAQUE(dst);
  }
  for (; n > 0; --n) {
    *dst++ = v;
    OPAQUE(dst);
  }
}

/* The window of output pixel ox (of the output row whose input rows are `rows`, NULL in the padding) as an
 * int8 patch, zero-point padded and rounded up to whole words. */
static void gather_patch(const int8_t *const *rows, const tm_dims *in, const tm_dims *f,
                         const tm_fast_conv_params *params, int32_t ox, int8_t *patch, int32_t groups) {
  const int32_t c = in->c;
  const int32_t row = f->w * c;
  const int8_t zp = (int8_t)params->input_zero_point;
  const int32_t x0 = ox * params->stride.w - params->padding.w;
  const int32_t kx_lo = x0 < 0 ? -x0 : 0;
  const int32_t kx_hi = x0 + f->w > in->w ? in->w - x0 : f->w;
  int8_t *dst = patch;
  if (kx_lo == 0 && kx_hi == f->w) { /* no padding left or right: whole rows */
    for (int32_t ky = 0; ky < f->h; ++ky) {
      if (rows[ky] == NULL) {
        fill_bytes(dst, zp, row);
      } else {
        copy_run(dst, rows[ky] + x0 * c, row);
      }
      dst += row;
    }
  } else {
    for (int32_t ky = 0; ky < f->h; ++ky) {
      if (rows[ky] == NULL || kx_lo >= kx_hi) {
        fill_bytes(dst, zp, row);
      } else {
        fill_bytes(dst, zp, kx_lo * c);
        copy_run(dst + kx_lo * c, rows[ky] + (x0 + kx_lo) * c, (kx_hi - kx_lo) * c);
        fill_bytes(dst + kx_hi * c, zp, (f->w - kx_hi) * c);
      }
      dst += row;
    }
  }
  fill_bytes(dst, 0, groups * 4 - f->h * row);
}

/* Fills n groups of cols with the sign-extended zero point. */
static uint32_t *fill_zp(uint32_t *dst, int32_t n, uint32_t zpa, int32_t step) {
  for (; n > 0; --n) {
    dst[0] = zpa;
    dst[1] = zpa;
    dst += step;
  }
  return dst;
}

/* The window of output pixel ox straight into cols (input channels a multiple of 4): per kernel row, the
 * taps inside the image are one contiguous run of input. */
static void gather_cols(const int8_t *const *rows, const tm_dims *in, const tm_dims *f,
                        const tm_fast_conv_params *params, int32_t ox, int32_t pixels, int32_t which, uint32_t *cols) {
  const int32_t cg = in->c / 4;
  const uint32_t zpa = tm_fast_sxtb16((uint32_t)(uint8_t)params->input_zero_point * 0x01010101u);
  const int32_t step = 2 * pixels;
  const int32_t x0 = ox * params->stride.w - params->padding.w;
  const int32_t kx_lo = x0 < 0 ? -x0 : 0;
  const int32_t kx_hi = x0 + f->w > in->w ? in->w - x0 : f->w;
  uint32_t *dst = cols + 2 * which;
  for (int32_t ky = 0; ky < f->h; ++ky) {
    if (rows[ky] == NULL || kx_lo >= kx_hi) {
      dst = fill_zp(dst, f->w * cg, zpa, step);
      continue;
    }
    dst = fill_zp(dst, kx_lo * cg, zpa, step);
    const int32_t run = (kx_hi - kx_lo) * cg;
    tm_fast_pack_cols(rows[ky] + (x0 + kx_lo) * in->c, run, pixels, 0, dst);
    dst = fill_zp(dst + run * step, (f->w - kx_hi) * cg, zpa, step);
  }
}

tm_status tm_fast_conv_run(const tm_context *ctx, const tm_fast_conv_params *params, const tm_dims *input_dims,
                           const int8_t *input, const tm_dims *filter_dims, const int8_t *weights,
                           const tm_fast_channel *channels, const tm_dims *output_dims, int8_t *output,
                           tm_fast_product product) {
  const int32_t out_c = output_dims->c;
  const int32_t groups = groups_of(filter_dims);
  const int in_place = (const int8_t *)output == input;
  if (filter_dims->c != input_dims->c || filter_dims->n != out_c || input_dims->n != output_dims->n ||
      filter_dims->h > TM_FAST_CONV_MAX_KH) {
    return TM_ERROR_ARG;
  }
  if (in_place && (params->stride.w != 1 || params->stride.h != 1 || input_dims->n != 1 ||
                   input_dims->h != output_dims->h || input_dims->w != output_dims->w || input_dims->c != out_c ||
                   params->padding.h >= filter_dims->h)) {
    return TM_ERROR_ARG;
  }
  const int32_t need = in_place ? tm_fast_conv_s8_in_place_get_buffer_size(params, input_dims, filter_dims)
                                : tm_fast_conv_s8_get_buffer_size(input_dims, filter_dims);
  if (ctx->buf == NULL || ctx->size < need) {
    return TM_ERROR_SCRATCH;
  }
  uint32_t *cols = (uint32_t *)ctx->buf;
  const int direct = input_dims->c % 4 == 0;
  int8_t *patch = (int8_t *)(cols + 4 * groups);
  int8_t *ring = patch + (direct ? 0 : 4 * groups); /* in place: input rows y - padding.h .. y */
  const int32_t keep = params->padding.h + 1;
  const int32_t line = input_dims->w * input_dims->c;
  const int32_t out_w = output_dims->w;
  const int32_t per_image = output_dims->h * out_w;
  const int32_t image_size = input_dims->h * line;
  const int8_t *row_sets[2][TM_FAST_CONV_MAX_KH]; /* this output row's input rows, and the last one's */
  const int8_t *const *rows_of[2];                 /* the row set of each pending pixel */
  int32_t x_of[2];
  for (int32_t b = 0; b < output_dims->n; ++b) {
    const int8_t *image = input + b * image_size;
    int32_t n = 0;
    for (int32_t oy = 0; oy < output_dims->h; ++oy) {
      if (in_place) { /* input row oy is about to be overwritten: later rows read it from the ring */
        memcpy(ring + oy % keep * line, image + oy * line, (size_t)line);
      }
      const int8_t **rows = row_sets[oy & 1];
      const int32_t y0 = oy * params->stride.h - params->padding.h;
      for (int32_t ky = 0; ky < filter_dims->h; ++ky) {
        const int32_t y = y0 + ky;
        if (y < 0 || y >= input_dims->h) {
          rows[ky] = NULL;
        } else {
          rows[ky] = in_place && y <= oy ? ring + y % keep * line : image + y * line;
        }
      }
      for (int32_t ox = 0; ox < out_w; ++ox) {
        rows_of[n] = rows;
        x_of[n] = ox;
        ++n;
        /* Pairs may span two rows, except in place: a row's outputs must be done before the next is saved. */
        const int row_end = ox == out_w - 1 && (in_place || oy == output_dims->h - 1);
        if (n < 2 && !row_end) {
          continue;
        }
        for (int32_t i = 0; i < n; ++i) {
          if (direct) {
            gather_cols(rows_of[i], input_dims, filter_dims, params, x_of[i], n, i, cols);
          } else {
            gather_patch(rows_of[i], input_dims, filter_dims, params, x_of[i], patch, groups);
            tm_fast_pack_cols(patch, groups, n, i, cols);
          }
        }
        int8_t *out0 = output + (b * per_image + oy * out_w + ox + 1 - n) * out_c;
        product(cols, groups, n, weights, channels, out_c, &params->activation, out0, out0 + out_c);
        n = 0;
      }
    }
  }
  return TM_OK;
}

tm_status tm_fast_conv_s8(const tm_context *ctx, const tm_fast_conv_params *params, const tm_dims *input_dims,
                          const int8_t *input, const tm_dims *filter_dims, const int8_t *weights,
                          const tm_fast_channel *channels, const tm_dims *output_dims, int8_t *output) {
  return tm_fast_conv_run(ctx, params, input_dims, input, filter_dims, weights, channels, output_dims, output,
                          tm_fast_mat_mult_s8);
}
