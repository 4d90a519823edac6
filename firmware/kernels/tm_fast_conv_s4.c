/*
 * CONV_2D with int4 weights, any kernel size, stride and padding (tinyml's fast kernels, see tm_fast.h).
 *
 * tm_fast_conv_s8's driver (gather, pixel pairs, in place through a ring of
 * input rows) around the int4-weight product, tm_fast_mat_mult_s4: the same
 * scratch and in-place rules, half the weights' flash.
 */
#include "tinyml/tm_fast.h"

int32_t tm_fast_conv_s4_get_buffer_size(const tm_dims *input_dims, const tm_dims *filter_dims) {
  return tm_fast_conv_s8_get_buffer_size(input_dims, filter_dims);
}

int32_t tm_fast_conv_s4_in_place_get_buffer_size(const tm_fast_conv_params *params, const tm_dims *input_dims,
                                                 const tm_dims *filter_dims) {
  return tm_fast_conv_s8_in_place_get_buffer_size(params, input_dims, filter_dims);
}

tm_status tm_fast_conv_s4(const tm_context *ctx, const tm_fast_conv_params *params, const tm_dims *input_dims,
                          const int8_t *input, const tm_dims *filter_dims, const int8_t *weights,
                          const tm_fast_channel *channels, const tm_dims *output_dims, int8_t *output) {
  return tm_fast_conv_run(ctx, params, input_dims, input, filter_dims, weights, channels, output_dims, output,
                          tm_fast_mat_mult_s4);
}
