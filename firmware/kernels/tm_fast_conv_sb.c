/*
 * CONV_2D with packed activations (tm_subbyte.h) on tinyml's fast matrix
 * product (tm_fast.h): int8 weights in the fast layout, inputs and outputs of
 * 8, 4 or 2 bits.
 *
 * Each pixel pair's window is unpacked into an int8 patch (padding reads the
 * stored zero point, which the folded bias expects), sign-extended into cols
 * and multiplied as tm_fast_conv_s8 does; the pair's int8 results land in
 * scratch and are stored packed. No dilation, groups or in-place variant.
 */
#include "tinyml/tm_kernels.h"

static int32_t groups_of(const tm_dims *filter_dims) {
  return (filter_dims->h * filter_dims->w * filter_dims->c + 3) / 4;
}

int32_t tm_fast_conv_sb_get_buffer_size(const tm_dims *input_dims, const tm_dims *filter_dims,
                                        const tm_dims *output_dims) {
  (void)input_dims;
  const int32_t groups = groups_of(filter_dims);
  return 2 * groups * 8 + groups * 4 + 2 * output_dims->c;
}

/* The window of output pixel (oy, ox) of image b as int8, zero-point padded, rounded up to whole words. */
static void gather(const void *input, int32_t bits, const tm_dims *in, const tm_dims *f,
                   const tm_fast_conv_params *params, int32_t b, int32_t oy, int32_t ox, int8_t *patch,
                   int32_t groups) {
  const int8_t zp = (int8_t)params->input_zero_point;
  const int32_t c = in->c;
  const int32_t y0 = oy * params->stride.h - params->padding.h;
  const int32_t x0 = ox * params->stride.w - params->padding.w;
  int8_t *dst = patch;
  for (int32_t ky = 0; ky < f->h; ++ky) {
    const int32_t y = y0 + ky;
    for (int32_t kx = 0; kx < f->w; ++kx, dst += c) {
      const int32_t x = x0 + kx;
      if (y < 0 || y >= in->h || x < 0 || x >= in->w) {
        for (int32_t i = 0; i < c; ++i) {
          dst[i] = zp;
        }
      } else {
        tm_sb_unpack(input, ((b * in->h + y) * in->w + x) * c, c, bits, dst);
      }
    }
  }
  for (int8_t *end = patch + groups * 4; dst < end; ++dst) {
    *dst = 0;
  }
}

tm_status tm_fast_conv_sb(const tm_context *ctx, const tm_fast_conv_sb_params *params, const tm_dims *input_dims,
                          const void *input, const tm_dims *filter_dims, const int8_t *weights,
                          const tm_fast_channel *channels, const tm_dims *output_dims, void *output) {
  const tm_fast_conv_params *p = &params->conv;
  const int32_t in_bits = params->input_bits;
  const int32_t out_bits = params->output_bits;
  const int32_t out_c = output_dims->c;
  const int32_t groups = groups_of(filter_dims);
  if (!tm_sb_valid_bits(in_bits) || !tm_sb_valid_bits(out_bits) || filter_dims->c != input_dims->c ||
      filter_dims->n != out_c || input_dims->n != output_dims->n || p->input_zero_point < -128 ||
      p->input_zero_point > 127) {
    return TM_ERROR_ARG;
  }
  if (ctx->buf == NULL || ctx->size < tm_fast_conv_sb_get_buffer_size(input_dims, filter_dims, output_dims)) {
    return TM_ERROR_SCRATCH;
  }
  uint32_t *cols = (uint32_t *)ctx->buf;
  int8_t *patch = (int8_t *)(cols + 4 * groups);
  int8_t *results = patch + 4 * groups;
  const int32_t per_image = output_dims->h * output_dims->w;
  const int32_t total = output_dims->n * per_image;
  for (int32_t first = 0; first < total; first += 2) {
    const int32_t n = total - first >= 2 ? 2 : 1;
    for (int32_t i = 0; i < n; ++i) {
      const int32_t pixel = first + i;
      const int32_t b = pixel / per_image;
      const int32_t oy = pixel % per_image / output_dims->w;
      const int32_t ox = pixel % output_dims->w;
      gather(input, in_bits, input_dims, filter_dims, p, b, oy, ox, patch, groups);
      tm_fast_pack_cols(patch, groups, n, i, cols);
    }
    int8_t *out0 = out_bits == 8 ? (int8_t *)output + first * out_c : results;
    tm_fast_mat_mult_s8(cols, groups, n, weights, channels, out_c, &p->activation, out0, out0 + out_c);
    if (out_bits != 8) {
      for (int32_t i = 0; i < n * out_c; ++i) {
        tm_sb_store(output, first * out_c + i, out_bits, results[i]);
      }
    }
  }
  return TM_OK;
}
