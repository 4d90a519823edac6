/*
 * DEPTHWISE_CONV_2D 3x3 with int4 weights, depth multiplier 1, stride 1 or 2, padding <= 1 (tinyml's fast
 * kernels, see tm_fast.h).
 *
 * A depthwise layer has only 9 weights per channel, so they are unpacked once
 * per call into the scratch, behind tm_fast_depthwise3x3_s8's plane, and that
 * kernel runs on them: the same speed and the same in-place rule, half the
 * weights' flash for 9 * channels bytes of scratch.
 */
#include "tinyml/tm_fast.h"

int32_t tm_fast_depthwise3x3_s4_get_buffer_size(const tm_fast_conv_params *params, const tm_dims *input_dims,
                                                const tm_dims *output_dims) {
  return tm_fast_depthwise3x3_s8_get_buffer_size(params, input_dims, output_dims) + 9 * input_dims->c;
}

/* n int4 values, two to a byte low nibble first, as int8. */
static void unpack_s4(const int8_t *packed, int32_t n, int8_t *out) {
  for (int32_t i = 0; i + 1 < n; i += 2) {
    const int32_t b = packed[i / 2];
    out[i] = (int8_t)((int32_t)((uint32_t)b << 28) >> 28);
    out[i + 1] = (int8_t)(b >> 4);
  }
  if (n % 2 != 0) {
    out[n - 1] = (int8_t)((int32_t)((uint32_t)packed[n / 2] << 28) >> 28);
  }
}

tm_status tm_fast_depthwise3x3_s4(const tm_context *ctx, const tm_fast_conv_params *params,
                                  const tm_dims *input_dims, const int8_t *input, const int8_t *weights,
                                  const tm_fast_channel *channels, const tm_dims *output_dims, int8_t *output) {
  const int32_t plane = tm_fast_depthwise3x3_s8_get_buffer_size(params, input_dims, output_dims);
  if (ctx->buf == NULL || ctx->size < plane + 9 * input_dims->c) {
    return TM_ERROR_SCRATCH;
  }
  int8_t *unpacked = (int8_t *)ctx->buf + plane;
  unpack_s4(weights, 9 * input_dims->c, unpacked);
  const tm_context rest = {ctx->buf, plane};
  return tm_fast_depthwise3x3_s8(&rest, params, input_dims, input, unpacked, channels, output_dims, output);
}
