/*
 * CONV_2D with a 1x1 filter and no padding (tinyml's fast kernels, see tm_fast.h).
 *
 * Pixels go in pairs: both are sign-extended once into the cols layout (a
 * quarter of an instruction per input byte), then every output channel pair
 * runs the 2x2 blocked product over them. Strided convolutions just pick
 * their pixels; the odd last pixel, if any, runs alone. Either way round the
 * kernel may write over its input: forwards when the output has no more
 * channels than the input, else backwards (stride 1). The driver
 * (tm_fast_conv1x1_run) takes the product to call: the int4-weight kernel
 * (tm_fast_conv1x1_s4.c) shares it.
 */
#include "tinyml/tm_fast.h"

int32_t tm_fast_conv1x1_s8_get_buffer_size(const tm_dims *input_dims) {
  return 2 * ((input_dims->c + 3) / 4) * 8;
}

tm_status tm_fast_conv1x1_run(const tm_context *ctx, const tm_fast_conv_params *params, const tm_dims *input_dims,
                              const int8_t *input, const int8_t *weights, const tm_fast_channel *channels,
                              const tm_dims *output_dims, int8_t *output, tm_fast_product product) {
  const int32_t in_c = input_dims->c;
  const int32_t out_c = output_dims->c;
  const int32_t groups = (in_c + 3) / 4;
  if (in_c % 4 != 0 || input_dims->n != output_dims->n) {
    return TM_ERROR_ARG;
  }
  if (ctx->buf == NULL || ctx->size < tm_fast_conv1x1_s8_get_buffer_size(input_dims)) {
    return TM_ERROR_SCRATCH;
  }
  uint32_t *cols = (uint32_t *)ctx->buf;
  const int32_t out_w = output_dims->w;
  const int32_t pixels = output_dims->n * output_dims->h * out_w;
  if (out_c > in_c && params->stride.w == 1 && params->stride.h == 1) {
    /* Backwards: output pixel p starts at or after input pixel p, so each pair's outputs land on input
     * already consumed and the output may overwrite the input. The odd pixel, if any, goes first. */
    for (int32_t p = pixels; p > 0;) {
      const int32_t n = p % 2 != 0 ? 1 : 2;
      p -= n;
      for (int32_t i = 0; i < n; ++i) {
        tm_fast_pack_cols(input + (p + i) * in_c, groups, n, i, cols);
      }
      int8_t *out0 = output + p * out_c;
      product(cols, groups, n, weights, channels, out_c, &params->activation, out0, out0 + out_c);
    }
    return TM_OK;
  }
  /* Forwards: with out_c <= in_c, output pixel p ends below input pixel p + 1 (strides only move that
   * further), so here too the output may overwrite the input. */
  const int32_t sx = params->stride.w * in_c;
  const int32_t sy = params->stride.h * input_dims->w * in_c;
  const int32_t image = input_dims->h * input_dims->w * in_c;
  const int8_t *src[2];
  int32_t n = 0;
  int32_t x = 0;
  int32_t y = 0;
  int32_t b = 0;
  for (int32_t p = 0; p < pixels; ++p) {
    src[n++] = input + b * image + y * sy + x * sx;
    if (++x == out_w) {
      x = 0;
      if (++y == output_dims->h) {
        y = 0;
        ++b;
      }
    }
    if (n == 2 || p == pixels - 1) {
      for (int32_t i = 0; i < n; ++i) {
        tm_fast_pack_cols(src[i], groups, n, i, cols);
      }
      int8_t *out0 = output + (p + 1 - n) * out_c;
      product(cols, groups, n, weights, channels, out_c, &params->activation, out0, out0 + out_c);
      n = 0;
    }
  }
  return TM_OK;
}

tm_status tm_fast_conv1x1_s8(const tm_context *ctx, const tm_fast_conv_params *params, const tm_dims *input_dims,
                             const int8_t *input, const int8_t *weights, const tm_fast_channel *channels,
                             const tm_dims *output_dims, int8_t *output) {
  return tm_fast_conv1x1_run(ctx, params, input_dims, input, weights, channels, output_dims, output,
                             tm_fast_mat_mult_s8);
}
