/*
 * tinyml's specialised int8 kernels ("fast" kernels), bit-exact with TFLite Micro.
 *
 * They lean on what the compiler knows before the device runs:
 * - weights are re-laid out at compile time (output channels interleaved in
 *   pairs, rows padded to whole words) so the inner loops are straight word
 *   loads feeding SXTB16 and SMLAD;
 * - each output channel carries a tm_fast_channel: the folded bias
 *   (b + input_offset * sum(w), so no offset is added per element) and a
 *   requantization recast for a short instruction sequence (tm_fast_requant);
 * - padding is read as the input zero point, which the folded bias expects.
 * The tinyml compiler only picks these kernels when the recast requantization
 * is provably equal to tm_requantize for every reachable accumulator.
 *
 * With the DSP extension the helpers below are single instructions; on other
 * cores (and the host, where tests run) they are plain C with the same results.
 */
#ifndef TINYML_TM_FAST_H
#define TINYML_TM_FAST_H

#include <stdint.h>
#include <string.h>

#include "tinyml/tm_types.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TM_FAST_DSP 1
#else
#define TM_FAST_DSP 0
#endif

/*
 * One output channel. out = clamp((smmlar(2 acc, mult, add + (acc < 0 ? -1 : 0)) >> shift)), where
 * add = 2^(shift-1) + output_offset * 2^shift folds TFLM's rounding and the output offset into one
 * rounding multiply-accumulate. Exact when |acc| < 2^30 and shift >= 1 (checked at compile time).
 */
typedef struct {
  int32_t bias;
  int32_t mult;
  int32_t add;
  int32_t shift;
} tm_fast_channel;

/* --- single instructions with the DSP extension, plain C elsewhere --- */

static inline uint32_t tm_fast_load32(const void *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

#if TM_FAST_DSP
static inline uint32_t tm_fast_sxtb16(uint32_t x) { return (uint32_t)__sxtb16((int32_t)x); }

static inline uint32_t tm_fast_sxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

static inline int32_t tm_fast_smlad(uint32_t a, uint32_t b, int32_t acc) {
  return __smlad((int32_t)a, (int32_t)b, acc);
}

static inline int32_t tm_fast_smmlar(int32_t a, int32_t b, int32_t acc) {
  int32_t r;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
}

static inline int32_t tm_fast_smladx(uint32_t a, uint32_t b, int32_t acc) {
  return __smladx((int32_t)a, (int32_t)b, acc);
}

static inline int32_t tm_fast_smlabb(uint32_t a, uint32_t b, int32_t acc) {
  return __smlabb((int32_t)a, (int32_t)b, acc);
}

static inline int32_t tm_fast_smlatb(uint32_t a, uint32_t b, int32_t acc) {
  return __smlatb((int32_t)a, (int32_t)b, acc);
}

static inline int32_t tm_fast_sat8(int32_t x) { return __ssat(x, 8); }
#else
static inline uint32_t tm_fast_sxtb16(uint32_t x) {
  const uint32_t lo = (uint32_t)(int32_t)(int8_t)(x & 0xFFu) & 0xFFFFu;
  const uint32_t hi = (uint32_t)(int32_t)(int8_t)((x >> 16) & 0xFFu) << 16;
  return lo | hi;
}

static inline uint32_t tm_fast_sxtb16_ror8(uint32_t x) { return tm_fast_sxtb16((x >> 8) | (x << 24)); }

static inline int32_t tm_fast_smlad(uint32_t a, uint32_t b, int32_t acc) {
  const int32_t lo = (int32_t)(int16_t)(a & 0xFFFFu) * (int32_t)(int16_t)(b & 0xFFFFu);
  const int32_t hi = (int32_t)(int16_t)(a >> 16) * (int32_t)(int16_t)(b >> 16);
  return (int32_t)((uint32_t)acc + (uint32_t)lo + (uint32_t)hi);
}

static inline int32_t tm_fast_smmlar(int32_t a, int32_t b, int32_t acc) {
  const int64_t p = (int64_t)a * b + (1LL << 31);
  return (int32_t)((uint32_t)acc + (uint32_t)(int32_t)(p >> 32));
}

static inline int32_t tm_fast_smladx(uint32_t a, uint32_t b, int32_t acc) {
  return tm_fast_smlad(a, (b >> 16) | (b << 16), acc);
}

static inline int32_t tm_fast_smlabb(uint32_t a, uint32_t b, int32_t acc) {
  return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)(a & 0xFFFFu) * (int32_t)(int16_t)(b & 0xFFFFu)));
}

static inline int32_t tm_fast_smlatb(uint32_t a, uint32_t b, int32_t acc) {
  return tm_fast_smlabb(a >> 16, b, acc);
}

static inline int32_t tm_fast_sat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
#endif

/* Low half of a, high half of b (PKHBT). */
static inline uint32_t tm_fast_pkhbt(uint32_t a, uint32_t b) {
#if TM_FAST_DSP
  uint32_t r;
  __asm__("pkhbt %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
#else
  return (a & 0xFFFFu) | (b & 0xFFFF0000u);
#endif
}

/* tm_requantize(acc) + output_offset, for a channel recast as above (before the activation clamp). */
static inline int32_t tm_fast_requant(int32_t acc, int32_t mult, int32_t add, int32_t shift) {
  return tm_fast_smmlar((int32_t)((uint32_t)acc << 1), mult, add + (acc >> 31)) >> shift;
}

/* (a, b) as two halfwords: a's low half below b's (PKHBT with a 16-bit shift). */
static inline uint32_t tm_fast_pack16(int32_t a, int32_t b) {
#if TM_FAST_DSP
  uint32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
  return r;
#else
  return ((uint32_t)a & 0xFFFFu) | ((uint32_t)b << 16);
#endif
}

/* --- kernels --- */

/*
 * Blocked int8 matrix product behind the convolutions: out[p][oc] for one or two pixels.
 * cols: per group of 4 reduction elements, sxtb16(x) and sxtb16_ror8(x) of pixel 0, then of pixel 1
 * (when pixels == 2); see tm_fast_pack_cols. weights: output channels in pairs, each group's word of
 * channel 2j then of 2j+1 (an odd last channel is paired with zeros); `groups` words per channel.
 */
void tm_fast_mat_mult_s8(const uint32_t *cols, int32_t groups, int32_t pixels, const int8_t *weights,
                         const tm_fast_channel *channels, int32_t out_ch, const tm_activation *act, int8_t *out0,
                         int8_t *out1);

/*
 * The same product with int4 weights: per channel pair, one word per group, channel 2j's four weights in
 * the high nibbles of its bytes 0..3 and channel 2j+1's in the low nibbles (tm_fast_mat_mult_s4.c).
 */
void tm_fast_mat_mult_s4(const uint32_t *cols, int32_t groups, int32_t pixels, const int8_t *weights,
                         const tm_fast_channel *channels, int32_t out_ch, const tm_activation *act, int8_t *out0,
                         int8_t *out1);

/* Either product, for the convolution drivers shared by the int8- and int4-weight kernels. */
typedef void (*tm_fast_product)(const uint32_t *cols, int32_t groups, int32_t pixels, const int8_t *weights,
                                const tm_fast_channel *channels, int32_t out_ch, const tm_activation *act,
                                int8_t *out0, int8_t *out1);

/* Expand `groups` words of int8 (4 each, any alignment) into the cols layout for pixel `which` of `pixels`. */
static inline void tm_fast_pack_cols(const int8_t *src, int32_t groups, int32_t pixels, int32_t which,
                                     uint32_t *cols) {
  uint32_t *dst = cols + 2 * which;
  const int32_t step = 2 * pixels;
  for (; groups >= 2; groups -= 2) { /* two groups per turn: fewer loop instructions per store */
    const uint32_t x = tm_fast_load32(src);
    const uint32_t y = tm_fast_load32(src + 4);
    src += 8;
    dst[0] = tm_fast_sxtb16(x);
    dst[1] = tm_fast_sxtb16_ror8(x);
    dst[step] = tm_fast_sxtb16(y);
    dst[step + 1] = tm_fast_sxtb16_ror8(y);
    dst += 2 * step;
  }
  if (groups > 0) {
    const uint32_t x = tm_fast_load32(src);
    dst[0] = tm_fast_sxtb16(x);
    dst[1] = tm_fast_sxtb16_ror8(x);
  }
}

typedef struct {
  tm_tile stride;
  tm_tile padding;
  tm_activation activation;
  int32_t input_zero_point;
} tm_fast_conv_params;

/*
 * CONV_2D 1x1 without padding (any stride): a matrix product over pixel pairs. The output may be the
 * input (in place) when out_c <= in_c, or at stride 1.
 * Scratch: tm_fast_conv1x1_s8_get_buffer_size bytes (one pixel pair of cols).
 */
int32_t tm_fast_conv1x1_s8_get_buffer_size(const tm_dims *input_dims);
tm_status tm_fast_conv1x1_s8(const tm_context *ctx, const tm_fast_conv_params *params, const tm_dims *input_dims,
                             const int8_t *input, const int8_t *weights, const tm_fast_channel *channels,
                             const tm_dims *output_dims, int8_t *output);

/* The same with int4 weights (tm_fast_mat_mult_s4's layout): the same scratch and in-place rules. */
int32_t tm_fast_conv1x1_s4_get_buffer_size(const tm_dims *input_dims);
tm_status tm_fast_conv1x1_s4(const tm_context *ctx, const tm_fast_conv_params *params, const tm_dims *input_dims,
                             const int8_t *input, const int8_t *weights, const tm_fast_channel *channels,
                             const tm_dims *output_dims, int8_t *output);

/* The 1x1 driver both call, with the product to run on each pixel pair. */
tm_status tm_fast_conv1x1_run(const tm_context *ctx, const tm_fast_conv_params *params, const tm_dims *input_dims,
                              const int8_t *input, const int8_t *weights, const tm_fast_channel *channels,
                              const tm_dims *output_dims, int8_t *output, tm_fast_product product);

/*
 * CONV_2D, any kernel, stride and padding (no dilation or groups; at most TM_FAST_CONV_MAX_KH kernel
 * rows): each pixel pair's window is gathered straight into cols (channels in whole words) or through
 * an int8 patch (other channel counts), padding reading as the zero point. Filter dims: n = out
 * channels, h, w, c = in channels. The output may be the input (in place) at stride 1 when the shape
 * is kept, one image, padding.h below the kernel height: then the scratch is
 * tm_fast_conv_s8_in_place_get_buffer_size bytes, which hold padding.h + 1 input rows besides.
 */
#define TM_FAST_CONV_MAX_KH 32
int32_t tm_fast_conv_s8_get_buffer_size(const tm_dims *input_dims, const tm_dims *filter_dims);
int32_t tm_fast_conv_s8_in_place_get_buffer_size(const tm_fast_conv_params *params, const tm_dims *input_dims,
                                                 const tm_dims *filter_dims);
tm_status tm_fast_conv_s8(const tm_context *ctx, const tm_fast_conv_params *params, const tm_dims *input_dims,
                          const int8_t *input, const tm_dims *filter_dims, const int8_t *weights,
                          const tm_fast_channel *channels, const tm_dims *output_dims, int8_t *output);

/* The same with int4 weights (tm_fast_mat_mult_s4's layout): the same scratch and in-place rules. */
int32_t tm_fast_conv_s4_get_buffer_size(const tm_dims *input_dims, const tm_dims *filter_dims);
int32_t tm_fast_conv_s4_in_place_get_buffer_size(const tm_fast_conv_params *params, const tm_dims *input_dims,
                                                 const tm_dims *filter_dims);
tm_status tm_fast_conv_s4(const tm_context *ctx, const tm_fast_conv_params *params, const tm_dims *input_dims,
                          const int8_t *input, const tm_dims *filter_dims, const int8_t *weights,
                          const tm_fast_channel *channels, const tm_dims *output_dims, int8_t *output);

/* The KxK driver both call, with the product to run on each pixel pair. */
tm_status tm_fast_conv_run(const tm_context *ctx, const tm_fast_conv_params *params, const tm_dims *input_dims,
                           const int8_t *input, const tm_dims *filter_dims, const int8_t *weights,
                           const tm_fast_channel *channels, const tm_dims *output_dims, int8_t *output,
                           tm_fast_product product);

/*
 * DEPTHWISE_CONV_2D 3x3, depth multiplier 1, stride 1 or 2, padding <= 1: channel by channel through
 * an int16 plane padded with the zero point, two output pixels per step with SMLAD over weight pairs.
 * The output may be the input (in place): a channel is in the plane before its outputs are written.
 * weights: 9 per channel, channel-major (ky, kx).
 */
int32_t tm_fast_depthwise3x3_s8_get_buffer_size(const tm_fast_conv_params *params, const tm_dims *input_dims,
                                                const tm_dims *output_dims);
tm_status tm_fast_depthwise3x3_s8(const tm_context *ctx, const tm_fast_conv_params *params,
                                  const tm_dims *input_dims, const int8_t *input, const int8_t *weights,
                                  const tm_fast_channel *channels, const tm_dims *output_dims, int8_t *output);

/*
 * The same with int4 weights, two to a byte (low nibble first) in the int8 kernel's order, each channel's 9
 * unpacked as it starts: the same scratch and in-place rule.
 */
int32_t tm_fast_depthwise3x3_s4_get_buffer_size(const tm_fast_conv_params *params, const tm_dims *input_dims,
                                                const tm_dims *output_dims);
tm_status tm_fast_depthwise3x3_s4(const tm_context *ctx, const tm_fast_conv_params *params,
                                  const tm_dims *input_dims, const int8_t *input, const int8_t *weights,
                                  const tm_fast_channel *channels, const tm_dims *output_dims, int8_t *output);

/* The driver both call: weight_bits 8 or 4. */
tm_status tm_fast_depthwise3x3_run(const tm_context *ctx, const tm_fast_conv_params *params,
                                   const tm_dims *input_dims, const int8_t *input, const int8_t *weights,
                                   int32_t weight_bits, const tm_fast_channel *channels, const tm_dims *output_dims,
                                   int8_t *output);

/*
 * FULLY_CONNECTED (weights with zero point 0): rows in groups of four, interleaved word by word
 * (missing rows are zeros), against the input, sign-extended as it is read.
 * input_dims: n = batches, c = depth. bias: folded, units rounded up to a multiple of 4.
 * channels: the requantization of row u is channels[u * channel_step] (step 0: one for all rows).
 * Scratch: none (the buffer size is 0).
 */
int32_t tm_fast_fully_connected_s8_get_buffer_size(const tm_dims *input_dims);
tm_status tm_fast_fully_connected_s8(const tm_context *ctx, const tm_activation *act, const tm_dims *input_dims,
                                     const int8_t *input, const int8_t *weights, const int32_t *bias,
                                     const tm_fast_channel *channels, int32_t channel_step, int32_t units,
                                     int8_t *output);

#endif /* TINYML_TM_FAST_H */
