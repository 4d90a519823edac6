/*
 * Sub-byte kernels: operands of 8, 4 or 2 bits per element, packed.
 *
 * Packing: a b-bit tensor (b = 4 or 2) holds 8 / b elements per byte, element
 * i in bits (i % (8 / b)) * b .. + b - 1 of byte i / (8 / b), the first element
 * in the lowest bits (TFLite's INT4 tensors and CMSIS-NN's _s4 kernels pack
 * int4 this way). Rows are not padded: a row may start inside a byte. An 8-bit
 * operand is plain int8.
 *
 * What an element holds:
 * - a sub-byte ACTIVATION holds an unsigned code: its int8 value (as TFLite
 *   computes it) minus the lowest level its producer's clamp allows. A RELU6
 *   output of scale 6/15 and zero point -128 takes the values -128..-113 and is
 *   stored as the codes 0..15. tinyml describes such a tensor in the codes'
 *   own quantization (zero point shifted by the same level), so every offset,
 *   clamp and requantization below is TFLite's own arithmetic, shifted, and
 *   gives exactly TFLite's results. Average pooling, whose rounding depends on
 *   the values' sign, is told the level (`*_level`: value = stored + level).
 * - a sub-byte WEIGHT holds its signed value (two's complement in b bits): a
 *   2-bit weight is one of -2, -1, 0, 1.
 *
 * Every offset, clamp and bias below is in the stored domain. Biases are
 * folded as for the int8 kernels: b[oc] + input_offset * sum(filter[oc]).
 * Kernels return TM_ERROR_ARG for a bit width other than 8, 4 or 2.
 */
#ifndef TINYML_TM_SUBBYTE_H
#define TINYML_TM_SUBBYTE_H

#include "tinyml/tm_types.h"
#include "tinyml/tm_conv.h"
#include "tinyml/tm_elementwise.h"
#include "tinyml/tm_fast.h"
#include "tinyml/tm_fc.h"
#include "tinyml/tm_pool.h"
#include "tinyml/tm_shape.h"

/* --- element access --- */

static inline int tm_sb_valid_bits(int32_t bits) { return bits == 8 || bits == 4 || bits == 2; }

/* Bytes `count` elements of `bits` bits take (the last byte padded). */
static inline int32_t tm_sb_bytes(int32_t count, int32_t bits) { return (count * bits + 7) / 8; }

/* The raw b-bit field of element i (b = 4 or 2). */
static inline int32_t tm_sb_field(const uint8_t *p, int32_t i, int32_t bits) {
  if (bits == 4) {
    return (p[i >> 1] >> ((i & 1) << 2)) & 0xF;
  }
  return (p[i >> 2] >> ((i & 3) << 1)) & 0x3;
}

/* Element i of an activation operand: int8 for 8 bits, the unsigned code otherwise. */
static inline int32_t tm_sb_load(const void *data, int32_t i, int32_t bits) {
  const uint8_t *p = (const uint8_t *)data;
  return bits == 8 ? (int32_t)(int8_t)p[i] : tm_sb_field(p, i, bits);
}

/* Element i of a weight operand: signed at every width. */
static inline int32_t tm_sb_load_signed(const void *data, int32_t i, int32_t bits) {
  const uint8_t *p = (const uint8_t *)data;
  if (bits == 8) {
    return (int8_t)p[i];
  }
  const int32_t sign = 1 << (bits - 1);
  return (tm_sb_field(p, i, bits) ^ sign) - sign;
}

/* Store `v` (already clamped to the operand's range) as element i; other elements of its byte are kept. */
static inline void tm_sb_store(void *data, int32_t i, int32_t bits, int32_t v) {
  uint8_t *p = (uint8_t *)data;
  if (bits == 8) {
    p[i] = (uint8_t)(int8_t)v;
  } else if (bits == 4) {
    const int32_t shift = (i & 1) << 2;
    p[i >> 1] = (uint8_t)((p[i >> 1] & ~(0xF << shift)) | ((v & 0xF) << shift));
  } else {
    const int32_t shift = (i & 3) << 1;
    p[i >> 2] = (uint8_t)((p[i >> 2] & ~(0x3 << shift)) | ((v & 0x3) << shift));
  }
}

/* Unpack `count` activation elements from element `first` into int8 (codes of 4 or 2 bits fit); whole bytes at
 * a time where the run is aligned. */
static inline void tm_sb_unpack(const void *data, int32_t first, int32_t count, int32_t bits, int8_t *dst) {
  const uint8_t *p = (const uint8_t *)data;
  int32_t i = 0;
  if (bits == 8) {
    for (; i < count; ++i) {
      dst[i] = (int8_t)p[first + i];
    }
    return;
  }
  const int32_t per_byte = 8 / bits;
  for (; i < count && (first + i) % per_byte != 0; ++i) {
    dst[i] = (int8_t)tm_sb_field(p, first + i, bits);
  }
  const uint8_t *b = p + (first + i) / per_byte;
  if (bits == 4) {
    for (; i + 2 <= count; i += 2) {
      const uint8_t byte = *b++;
      dst[i] = (int8_t)(byte & 0xF);
      dst[i + 1] = (int8_t)(byte >> 4);
    }
  } else {
    for (; i + 4 <= count; i += 4) {
      const uint8_t byte = *b++;
      dst[i] = (int8_t)(byte & 3);
      dst[i + 1] = (int8_t)((byte >> 2) & 3);
      dst[i + 2] = (int8_t)((byte >> 4) & 3);
      dst[i + 3] = (int8_t)(byte >> 6);
    }
  }
  for (; i < count; ++i) {
    dst[i] = (int8_t)tm_sb_field(p, first + i, bits);
  }
}

/*
 * Dot product of n int8 values with the n signed weights that start at element
 * `first` of `w` (8, 4 or 2 bits); whole bytes are decoded at once.
 */
static inline int32_t tm_sb_dot(const int8_t *x, const void *w, int32_t first, int32_t n, int32_t bits) {
  int32_t acc = 0;
  if (bits == 8) {
    const int8_t *q = (const int8_t *)w + first;
    for (int32_t i = 0; i < n; ++i) {
      acc += x[i] * q[i];
    }
    return acc;
  }
  const int32_t per_byte = 8 / bits;
  int32_t i = 0;
  for (; i < n && (first + i) % per_byte != 0; ++i) {
    acc += x[i] * tm_sb_load_signed(w, first + i, bits);
  }
  const uint8_t *b = (const uint8_t *)w + (first + i) / per_byte;
  if (bits == 4) {
    for (; i + 2 <= n; i += 2) {
      const int32_t byte = *b++;
      acc += x[i] * (((byte & 0xF) ^ 8) - 8) + x[i + 1] * (((byte >> 4) ^ 8) - 8);
    }
  } else {
    for (; i + 4 <= n; i += 4) {
      const int32_t byte = *b++;
      acc += x[i] * (((byte & 3) ^ 2) - 2) + x[i + 1] * ((((byte >> 2) & 3) ^ 2) - 2) +
             x[i + 2] * ((((byte >> 4) & 3) ^ 2) - 2) + x[i + 3] * (((byte >> 6) ^ 2) - 2);
    }
  }
  for (; i < n; ++i) {
    acc += x[i] * tm_sb_load_signed(w, first + i, bits);
  }
  return acc;
}

/* Two dot products of `x` with the weight rows starting at elements first0 and first1: for int8 weights each
 * input load feeds both (as tm_dot2_s8); packed rows take tm_sb_dot each. */
static inline void tm_sb_dot2(const int8_t *x, const void *w, int32_t first0, int32_t first1, int32_t n,
                              int32_t bits, int32_t *acc0, int32_t *acc1) {
  if (bits != 8) {
    *acc0 += tm_sb_dot(x, w, first0, n, bits);
    *acc1 += tm_sb_dot(x, w, first1, n, bits);
    return;
  }
  const int8_t *w0 = (const int8_t *)w + first0;
  const int8_t *w1 = (const int8_t *)w + first1;
  int32_t a0 = *acc0;
  int32_t a1 = *acc1;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t v = x[i];
    a0 += v * w0[i];
    a1 += v * w1[i];
  }
  *acc0 = a0;
  *acc1 = a1;
}

/* Sum of n signed weights from element `first`. */
static inline int32_t tm_sb_sum(const void *w, int32_t first, int32_t n, int32_t bits) {
  int32_t s = 0;
  for (int32_t i = first; i < first + n; ++i) {
    s += tm_sb_load_signed(w, i, bits);
  }
  return s;
}

/* --- kernels --- */

/* Bits per element of an op's operands: 8, 4 or 2. */
typedef struct {
  int32_t input;
  int32_t filter; /* the weights (unused by ops without) */
  int32_t output;
} tm_sb_bits;

typedef struct {
  tm_conv_params conv;
  tm_sb_bits bits;
} tm_conv_sb_params;

typedef struct {
  tm_dw_conv_params conv;
  tm_sb_bits bits;
} tm_dw_conv_sb_params;

typedef struct {
  tm_fc_params fc;
  tm_sb_bits bits;
  int32_t per_channel; /* 0: quant holds one multiplier and shift for every unit */
} tm_fc_sb_params;

typedef struct {
  tm_pool_params pool;
  tm_sb_bits bits;
  int32_t input_level; /* int8 value = stored + level (0 for 8-bit operands) */
  int32_t output_level;
} tm_pool_sb_params;

typedef struct {
  tm_add_params add;
  int32_t input1_bits;
  int32_t input2_bits;
  int32_t output_bits;
} tm_add_sb_params;

/*
 * CONV_2D (groups, dilation, padding as tm_conv2d_s8; at most
 * TM_SB_CONV_MAX_KH kernel rows). An int8 input is read where it is; a packed
 * one has each output pixel's window gathered into scratch as int8 first,
 * padding taps holding -input_offset (so they add nothing), then dotted with
 * each output channel's weights. Scratch: kh * kw * filter c bytes for a packed
 * input, none for int8. input_offset must lie in [-127, 128] (-input_offset is
 * stored as int8).
 */
#define TM_SB_CONV_MAX_KH 32
int32_t tm_conv2d_sb_get_buffer_size(const tm_conv_sb_params *params, const tm_dims *input_dims,
                                     const tm_dims *filter_dims, const tm_dims *output_dims);
/*
 * The output may be the input (in place): stride 1, one image, the spatial
 * shape kept, output c * output bits <= input c * input bits, padding.h below
 * the kernel height; then the scratch also holds padding.h + 1 unpacked input
 * rows (tm_conv2d_sb_in_place_get_buffer_size bytes).
 */
int32_t tm_conv2d_sb_in_place_get_buffer_size(const tm_conv_sb_params *params, const tm_dims *input_dims,
                                              const tm_dims *filter_dims);
tm_status tm_conv2d_sb(const tm_context *ctx, const tm_conv_sb_params *params, const tm_per_channel_quant *quant,
                       const tm_dims *input_dims, const void *input, const tm_dims *filter_dims, const void *filter,
                       const tm_dims *bias_dims, const int32_t *bias, const tm_dims *output_dims, void *output);

/*
 * DEPTHWISE_CONV_2D (any depth multiplier), through a gathered window as
 * CONV_2D, TM_SB_DW_BLOCK input channels at a time. Scratch:
 * kh * kw * min(input c, TM_SB_DW_BLOCK) bytes; input_offset in [-127, 128].
 */
#define TM_SB_DW_BLOCK 32
int32_t tm_depthwise_conv2d_sb_get_buffer_size(const tm_dw_conv_sb_params *params, const tm_dims *input_dims,
                                               const tm_dims *filter_dims, const tm_dims *output_dims);
/*
 * The output may be the input (in place): depth multiplier 1, one image, the
 * same bits in and out, no more output pixels than input ones; channel by
 * channel through one padded plane of int8 in the scratch
 * (tm_depthwise_conv2d_sb_in_place_get_buffer_size bytes).
 */
int32_t tm_depthwise_conv2d_sb_in_place_get_buffer_size(const tm_dw_conv_sb_params *params, const tm_dims *input_dims,
                                                        const tm_dims *filter_dims, const tm_dims *output_dims);
tm_status tm_depthwise_conv2d_sb(const tm_context *ctx, const tm_dw_conv_sb_params *params,
                                 const tm_per_channel_quant *quant, const tm_dims *input_dims, const void *input,
                                 const tm_dims *filter_dims, const void *filter, const tm_dims *bias_dims,
                                 const int32_t *bias, const tm_dims *output_dims, void *output);

/*
 * FULLY_CONNECTED, per-tensor or per-channel. A packed input row is unpacked
 * a few dozen elements at a time on the stack. No scratch.
 */
int32_t tm_fully_connected_sb_get_buffer_size(const tm_fc_sb_params *params, const tm_dims *filter_dims);
tm_status tm_fully_connected_sb(const tm_context *ctx, const tm_fc_sb_params *params,
                                const tm_per_channel_quant *quant, const tm_dims *input_dims, const void *input,
                                const tm_dims *filter_dims, const void *filter, const tm_dims *bias_dims,
                                const int32_t *bias, const tm_dims *output_dims, void *output);

/*
 * AVERAGE_POOL_2D and MAX_POOL_2D: as the _s8 kernels on int8 values
 * (stored + level), written as value - output_level, clamped to the
 * activation range (stored domain of the output). No scratch.
 */
tm_status tm_avgpool2d_sb(const tm_context *ctx, const tm_pool_sb_params *params, const tm_dims *input_dims,
                          const void *input, const tm_dims *filter_dims, const tm_dims *output_dims, void *output);
tm_status tm_maxpool2d_sb(const tm_context *ctx, const tm_pool_sb_params *params, const tm_dims *input_dims,
                          const void *input, const tm_dims *filter_dims, const tm_dims *output_dims, void *output);

/* ADD with broadcasting, as tm_add_s8. No scratch. */
tm_status tm_add_sb(const tm_context *ctx, const tm_add_sb_params *params, const tm_add_quant *quant,
                    const tm_dims *input1_dims, const void *input1, const tm_dims *input2_dims, const void *input2,
                    const tm_dims *output_dims, void *output);

typedef struct {
  tm_region_params region;
  int32_t bits; /* of both tensors */
} tm_region_sb_params;

/* tm_copy_region_s8 for tensors of 8, 4 or 2 bits. No scratch. */
tm_status tm_copy_region_sb(const tm_region_sb_params *params, const tm_dims *src_dims, const void *src,
                            const tm_dims *dst_dims, void *dst);

typedef struct {
  tm_fast_conv_params conv; /* input_zero_point: the stored one */
  int32_t input_bits;
  int32_t output_bits;
} tm_fast_conv_sb_params;

/*
 * CONV_2D (no dilation or groups) with packed activations on tinyml's fast
 * blocked product: int8 weights laid out and channels recast as for
 * tm_fast_conv_s8 (tm_fast.h). Scratch: tm_fast_conv_sb_get_buffer_size bytes
 * (a pixel pair's cols, one int8 window, a pair of int8 outputs).
 */
int32_t tm_fast_conv_sb_get_buffer_size(const tm_dims *input_dims, const tm_dims *filter_dims,
                                        const tm_dims *output_dims);
tm_status tm_fast_conv_sb(const tm_context *ctx, const tm_fast_conv_sb_params *params, const tm_dims *input_dims,
                          const void *input, const tm_dims *filter_dims, const int8_t *weights,
                          const tm_fast_channel *channels, const tm_dims *output_dims, void *output);

#endif /* TINYML_TM_SUBBYTE_H */
