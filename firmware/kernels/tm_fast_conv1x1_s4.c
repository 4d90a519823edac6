/*
 * CONV_2D with int4 weights, a 1x1 filter and no padding (tinyml's fast kernels, see tm_fast.h).
 *
 * tm_fast_conv1x1_s8's driver (pixel pairs, forwards or backwards so that the
 * output may be the input) around the int4-weight product, tm_fast_mat_mult_s4.
 */
#include "tinyml/tm_fast.h"

int32_t tm_fast_conv1x1_s4_get_buffer_size(const tm_dims *input_dims) {
  return tm_fast_conv1x1_s8_get_buffer_size(input_dims);
}

tm_status tm_fast_conv1x1_s4(const tm_context *ctx, const tm_fast_conv_params *params, const tm_dims *input_dims,
                             const int8_t *input, const int8_t *weights, const tm_fast_channel *channels,
                             const tm_dims *output_dims, int8_t *output) {
  return tm_fast_conv1x1_run(ctx, params, input_dims, input, weights, channels, output_dims, output,
                             tm_fast_mat_mult_s4);
}
