/*
 * 16x8 kernels: int16 activations, int8 weights and int64 biases (TFLite's
 * 16x8 quantization), as TFLite Micro's reference kernels compute them.
 * Convolutions and fully connected layers accumulate in int64 and
 * requantize with tm_requantize_s64; the other ops use the int8 arithmetic
 * on int16 values. Parameter structs are the int8 families'.
 */
#ifndef TINYML_TM_S16_H
#define TINYML_TM_S16_H

#include "tinyml/tm_types.h"
#include "tinyml/tm_conv.h"
#include "tinyml/tm_fc.h"
#include "tinyml/tm_elementwise.h"
#include "tinyml/tm_pool.h"
#include "tinyml/tm_shape.h"
#include "tinyml/tm_activation.h"
#include "tinyml/tm_reduce.h"

/*
 * TFLite Micro's MultiplyByQuantizedMultiplier for an int64 accumulator: the
 * multiplier rounded to 16 bits, one rounding shift by 15 - shift, the result
 * truncated to int32.
 */
static inline int32_t tm_requantize_s64(int64_t x, int32_t multiplier, int32_t shift) {
  const int32_t reduced = multiplier < 0x7FFF0000 ? ((multiplier + (1 << 15)) >> 16) : 0x7FFF;
  const int32_t total_shift = 15 - shift;
  const int64_t rounded = x * (int64_t)reduced + ((int64_t)1 << (total_shift - 1));
  return (int32_t)(rounded >> total_shift);
}

static inline int16_t tm_clamp_s16(int32_t v, int32_t lo, int32_t hi) {
  return (int16_t)(v < lo ? lo : (v > hi ? hi : v));
}

/*
 * The 16x8 convolutions' window at one output position: its top-left input
 * position (y0, x0) and the kernel taps [ky0, ky1) x [kx0, kx1) that land
 * inside the image. TFLite Micro skips the others (padding adds nothing, in
 * any zero point, as 16x8 inputs have zero point 0).
 */
typedef struct {
  int32_t y0, x0;
  int32_t ky0, ky1, kx0, kx1;
} tm_window_s16;

/* The taps [*first, *end) of `kernel` along one axis that read start + k * dilation inside [0, extent). */
static inline void tm_window_taps(int32_t start, int32_t dilation, int32_t kernel, int32_t extent, int32_t *first,
                                  int32_t *end) {
  const int32_t lo = start < 0 ? (dilation - 1 - start) / dilation : 0;
  const int32_t hi = start < extent ? (extent - start + dilation - 1) / dilation : 0;
  *first = lo < kernel ? lo : kernel;
  *end = hi < *first ? *first : (hi < kernel ? hi : kernel);
}

static inline tm_window_s16 tm_window_s16_at(int32_t oy, int32_t ox, tm_tile stride, tm_tile padding,
                                             tm_tile dilation, const tm_dims *filter_dims, const tm_dims *input_dims) {
  tm_window_s16 win;
  win.y0 = oy * stride.h - padding.h;
  win.x0 = ox * stride.w - padding.w;
  tm_window_taps(win.y0, dilation.h, filter_dims->h, input_dims->h, &win.ky0, &win.ky1);
  tm_window_taps(win.x0, dilation.w, filter_dims->w, input_dims->w, &win.kx0, &win.kx1);
  return win;
}

/* CONV_2D (grouped when input channels are a multiple of the filter's); bias may be NULL. */
tm_status tm_conv2d_s16(const tm_context *ctx, const tm_conv_params *params, const tm_per_channel_quant *quant,
                        const tm_dims *input_dims, const int16_t *input, const tm_dims *filter_dims,
                        const int8_t *filter, const tm_dims *bias_dims, const int64_t *bias,
                        const tm_dims *output_dims, int16_t *output);

/* DEPTHWISE_CONV_2D, any depth multiplier; bias may be NULL. */
tm_status tm_depthwise_conv2d_s16(const tm_context *ctx, const tm_dw_conv_params *params,
                                  const tm_per_channel_quant *quant, const tm_dims *input_dims, const int16_t *input,
                                  const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                  const int64_t *bias, const tm_dims *output_dims, int16_t *output);

/* FULLY_CONNECTED, a multiplier per unit (per-tensor weights repeat theirs); bias may be NULL. */
tm_status tm_fully_connected_s16(const tm_context *ctx, const tm_fc_params *params,
                                 const tm_per_channel_quant *quant, const tm_dims *input_dims, const int16_t *input,
                                 const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                 const int64_t *bias, const tm_dims *output_dims, int16_t *output);

/* ADD (left shift 15 for int16) and MUL, with broadcasting, as the int8 kernels compute them. */
tm_status tm_add_s16(const tm_context *ctx, const tm_add_params *params, const tm_add_quant *quant,
                     const tm_dims *input1_dims, const int16_t *input1, const tm_dims *input2_dims,
                     const int16_t *input2, const tm_dims *output_dims, int16_t *output);
tm_status tm_mul_s16(const tm_context *ctx, const tm_mul_params *params, const tm_per_tensor_quant *quant,
                     const tm_dims *input1_dims, const int16_t *input1, const tm_dims *input2_dims,
                     const int16_t *input2, const tm_dims *output_dims, int16_t *output);

/* AVERAGE_POOL_2D and MAX_POOL_2D, as the int8 kernels compute them. */
tm_status tm_avgpool2d_s16(const tm_context *ctx, const tm_pool_params *params, const tm_dims *input_dims,
                           const int16_t *input, const tm_dims *filter_dims, const tm_dims *output_dims,
                           int16_t *output);
tm_status tm_maxpool2d_s16(const tm_context *ctx, const tm_pool_params *params, const tm_dims *input_dims,
                           const int16_t *input, const tm_dims *filter_dims, const tm_dims *output_dims,
                           int16_t *output);

/* PAD / PADV2 with an int16 value; CONCATENATION's copy of one int16 input into its slab of the output. */
tm_status tm_pad_s16(const tm_context *ctx, const tm_pad_params *params, const tm_dims *input_dims,
                     const int16_t *input, const tm_dims *output_dims, int16_t *output);
tm_status tm_concat_s16(const tm_context *ctx, const tm_concat_params *params, const tm_dims *input_dims,
                        const int16_t *input, const tm_dims *output_dims, int16_t *output);

/* A patch stage's region copy between int16 NHWC buffers with the same channel count. */
tm_status tm_copy_region_s16(const tm_region_params *params, const tm_dims *src_dims, const int16_t *src,
                             const tm_dims *dst_dims, int16_t *dst);

/* RELU and RELU6 as standalone ops. */
tm_status tm_relu_s16(const tm_context *ctx, const tm_relu_params *params, const tm_per_tensor_quant *quant,
                      const tm_dims *input_dims, const int16_t *input, const tm_dims *output_dims, int16_t *output);
tm_status tm_relu6_s16(const tm_context *ctx, const tm_relu6_params *params, const tm_dims *input_dims,
                       const int16_t *input, const tm_dims *output_dims, int16_t *output);

/* MEAN over h and w (tm_mean_s8's arithmetic). */
tm_status tm_mean_s16(const tm_context *ctx, const tm_reduce_params *params, const tm_per_tensor_quant *quant,
                      const tm_dims *input_dims, const int16_t *input, const tm_dims *output_dims,
                      int16_t *output);

#endif /* TINYML_TM_S16_H */
