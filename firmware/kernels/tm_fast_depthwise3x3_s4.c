/*
 * DEPTHWISE_CONV_2D 3x3 with int4 weights, depth multiplier 1, stride 1 or 2, padding <= 1 (tinyml's fast
 * kernels, see tm_fast.h).
 *
 * tm_fast_depthwise3x3_s8's driver: a channel's 9 weights are unpacked as the
 * channel starts (a few instructions against its plane's hundreds), so the
 * speed, the scratch and the in-place rule are the int8 kernel's.
 */
#include "tinyml/tm_fast.h"

int32_t tm_fast_depthwise3x3_s4_get_buffer_size(const tm_fast_conv_params *params, const tm_dims *input_dims,
                                                const tm_dims *output_dims) {
  return tm_fast_depthwise3x3_s8_get_buffer_size(params, input_dims, output_dims);
}

tm_status tm_fast_depthwise3x3_s4(const tm_context *ctx, const tm_fast_conv_params *params,
                                  const tm_dims *input_dims, const int8_t *input, const int8_t *weights,
                                  const tm_fast_channel *channels, const tm_dims *output_dims, int8_t *output) {
  return tm_fast_depthwise3x3_run(ctx, params, input_dims, input, weights, 4, channels, output_dims, output);
}
