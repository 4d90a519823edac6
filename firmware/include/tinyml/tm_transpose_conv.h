/* TRANSPOSE_CONV. */
#ifndef TINYML_TM_TRANSPOSE_CONV_H
#define TINYML_TM_TRANSPOSE_CONV_H

#include "tinyml/tm_conv.h"

/*
 * Transposed convolution, int8 activations and weights, per-channel
 * requantization. Filter dims: n = output channels, h/w = kernel, c = input
 * channels. params->padding is the (left, top) padding TFLite works out for
 * the forward convolution that maps the output onto the input; dilation is
 * unused. bias is the layer's own int32 bias (not folded), or NULL.
 * Scratch: none (each output gathers the taps that reach it).
 */
int32_t tm_transpose_conv2d_s8_get_buffer_size(const tm_conv_params *params, const tm_dims *input_dims,
                                               const tm_dims *filter_dims, const tm_dims *output_dims);
tm_status tm_transpose_conv2d_s8(const tm_context *ctx, const tm_conv_params *params,
                                 const tm_per_channel_quant *quant, const tm_dims *input_dims, const int8_t *input,
                                 const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                 const int32_t *bias, const tm_dims *output_dims, int8_t *output);

#endif /* TINYML_TM_TRANSPOSE_CONV_H */
