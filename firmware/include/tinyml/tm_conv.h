/* Convolution family: CONV_2D and DEPTHWISE_CONV_2D. */
#ifndef TINYML_TM_CONV_H
#define TINYML_TM_CONV_H

#include "tinyml/tm_types.h"

typedef struct {
  int32_t input_offset;
  int32_t output_offset;
  tm_tile stride;
  tm_tile padding;
  tm_tile dilation;
  tm_activation activation;
} tm_conv_params;

typedef struct {
  int32_t ch_mult;
  int32_t input_offset;
  int32_t output_offset;
  tm_tile stride;
  tm_tile padding;
  tm_tile dilation;
  tm_activation activation;
} tm_dw_conv_params;

/*
 * Defines `name`, the *_get_buffer_size twin (CMSIS-NN's shape) of a convolution that needs no scratch: it
 * returns 0 whatever the params (of `params_type`) and dims.
 */
#define TM_DEFINE_NO_SCRATCH(name, params_type)                                                                 \
  int32_t name(const params_type *params, const tm_dims *input_dims, const tm_dims *filter_dims,                \
               const tm_dims *output_dims) {                                                                    \
    (void)params;                                                                                               \
    (void)input_dims;                                                                                           \
    (void)filter_dims;                                                                                          \
    (void)output_dims;                                                                                          \
    return 0;                                                                                                   \
  }

/*
 * Whether CONV_2D's dims fit together (every variant: int8, int4, 16x8, sub-byte): the filter's c splits the
 * input channels into groups, which share the output channels (filter n) evenly, one batch in, one out.
 */
static inline int tm_conv_dims_ok(const tm_dims *input_dims, const tm_dims *filter_dims, const tm_dims *output_dims) {
  const int32_t fc = filter_dims->c;
  return fc > 0 && input_dims->c % fc == 0 && input_dims->n == output_dims->n && filter_dims->n == output_dims->c &&
         output_dims->c % (input_dims->c / fc) == 0;
}

/* The same for DEPTHWISE_CONV_2D: ch_mult output channels (filter c) per input channel. */
static inline int tm_dw_conv_dims_ok(int32_t ch_mult, const tm_dims *input_dims, const tm_dims *filter_dims,
                                     const tm_dims *output_dims) {
  return input_dims->c * ch_mult == output_dims->c && filter_dims->c == output_dims->c &&
         input_dims->n == output_dims->n;
}

/*
 * Filter dims: n = output channels, h/w = kernel, c = input channels per group
 * (grouped convolution when input c is a multiple of it). bias[oc] must be
 * b[oc] + input_offset * sum(filter[oc]).
 */
int32_t tm_conv2d_s8_get_buffer_size(const tm_conv_params *params, const tm_dims *input_dims,
                                     const tm_dims *filter_dims, const tm_dims *output_dims);
tm_status tm_conv2d_s8(const tm_context *ctx, const tm_conv_params *params, const tm_per_channel_quant *quant,
                       const tm_dims *input_dims, const int8_t *input, const tm_dims *filter_dims,
                       const int8_t *filter, const tm_dims *bias_dims, const int32_t *bias,
                       const tm_dims *output_dims, int8_t *output);

/*
 * Filter dims: n = 1, h/w = kernel, c = output channels (= input c * ch_mult).
 * bias[oc] must be b[oc] + input_offset * sum over the kernel of filter[oc].
 */
int32_t tm_depthwise_conv2d_s8_get_buffer_size(const tm_dw_conv_params *params, const tm_dims *input_dims,
                                               const tm_dims *filter_dims, const tm_dims *output_dims);
tm_status tm_depthwise_conv2d_s8(const tm_context *ctx, const tm_dw_conv_params *params,
                                 const tm_per_channel_quant *quant, const tm_dims *input_dims, const int8_t *input,
                                 const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                 const int32_t *bias, const tm_dims *output_dims, int8_t *output);

/*
 * CONV_2D and DEPTHWISE_CONV_2D with packed int4 weights (the *_s4 twins of
 * the two above: same params, dims and folded bias). `filter` holds the
 * flattened filter two weights per byte, low nibble first, as TFLite's INT4
 * and CMSIS-NN's s4 kernels store it: element i is in byte i / 2, in its low
 * nibble when i is even. Rows need not start on a byte.
 */
int32_t tm_conv2d_s4_get_buffer_size(const tm_conv_params *params, const tm_dims *input_dims,
                                     const tm_dims *filter_dims, const tm_dims *output_dims);
tm_status tm_conv2d_s4(const tm_context *ctx, const tm_conv_params *params, const tm_per_channel_quant *quant,
                       const tm_dims *input_dims, const int8_t *input, const tm_dims *filter_dims,
                       const int8_t *filter, const tm_dims *bias_dims, const int32_t *bias,
                       const tm_dims *output_dims, int8_t *output);
int32_t tm_depthwise_conv2d_s4_get_buffer_size(const tm_dw_conv_params *params, const tm_dims *input_dims,
                                               const tm_dims *filter_dims, const tm_dims *output_dims);
tm_status tm_depthwise_conv2d_s4(const tm_context *ctx, const tm_dw_conv_params *params,
                                 const tm_per_channel_quant *quant, const tm_dims *input_dims, const int8_t *input,
                                 const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                 const int32_t *bias, const tm_dims *output_dims, int8_t *output);

/*
 * DEPTHWISE_CONV_2D in place: `data` holds the input on entry and the output on
 * return (depth multiplier 1, output no larger than the input). Each channel's
 * plane is first copied into scratch, padded with the input zero point, so
 * its slots in `data` may then be overwritten. Scratch: one padded plane.
 */
int32_t tm_depthwise_conv2d_inplace_s8_get_buffer_size(const tm_dw_conv_params *params, const tm_dims *input_dims,
                                                       const tm_dims *filter_dims, const tm_dims *output_dims);
tm_status tm_depthwise_conv2d_inplace_s8(const tm_context *ctx, const tm_dw_conv_params *params,
                                         const tm_per_channel_quant *quant, const tm_dims *input_dims,
                                         const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                         const int32_t *bias, const tm_dims *output_dims, int8_t *data);

/*
 * 1x1 CONV_2D (stride 1, no padding, no groups) in place: each output pixel
 * depends only on the same input pixel, so pixels are copied to scratch one at
 * a time and their outputs written over `data`; forwards when the output has
 * no more channels than the input, backwards otherwise. Scratch: one pixel.
 */
int32_t tm_conv2d_1x1_inplace_s8_get_buffer_size(const tm_dims *input_dims);
tm_status tm_conv2d_1x1_inplace_s8(const tm_context *ctx, const tm_conv_params *params,
                                   const tm_per_channel_quant *quant, const tm_dims *input_dims,
                                   const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                   const int32_t *bias, const tm_dims *output_dims, int8_t *data);

/*
 * CONV_2D in place, row by row (stride 1, no dilation, no groups, output the
 * shape of the input): the last padding.h + 1 input rows wait in a ring in
 * scratch while output rows overwrite them. Scratch: (padding.h + 1) rows.
 */
int32_t tm_conv2d_rows_inplace_s8_get_buffer_size(const tm_conv_params *params, const tm_dims *input_dims);
tm_status tm_conv2d_rows_inplace_s8(const tm_context *ctx, const tm_conv_params *params,
                                    const tm_per_channel_quant *quant, const tm_dims *input_dims,
                                    const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                    const int32_t *bias, const tm_dims *output_dims, int8_t *data);

#endif /* TINYML_TM_CONV_H */
