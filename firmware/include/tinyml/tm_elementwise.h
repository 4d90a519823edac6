/*
 * Elementwise binary family: ADD and MUL, with broadcasting.
 *
 * Operand dims are right-aligned NHWC; along each dim an input either matches
 * the output or has extent 1 (it is then repeated). Identical dims take a flat
 * loop. tinyml merges adjacent dims with the same broadcast pattern before
 * calling, so the innermost loop is as long as possible. Each kernel of the
 * family (and of tm_binary.h) supplies a row function; tm_broadcast_binary_s8
 * walks the output row by row (one flat row when nothing broadcasts). Element
 * i of every operand is read before element i of the output is written, so the
 * output may overwrite an input of its own size.
 */
#ifndef TINYML_TM_ELEMENTWISE_H
#define TINYML_TM_ELEMENTWISE_H

#include "tinyml/tm_math.h"
#include "tinyml/tm_types.h"

typedef struct {
  int32_t input1_offset;
  int32_t input2_offset;
  int32_t output_offset;
  int32_t left_shift; /* both inputs are scaled up by 2^left_shift first */
  tm_activation activation;
} tm_add_params;

/* ADD rescales each input to a common scale, then the sum to the output's. */
typedef struct {
  tm_per_tensor_quant input1;
  tm_per_tensor_quant input2;
  tm_per_tensor_quant output;
} tm_add_quant;

typedef struct {
  int32_t input1_offset;
  int32_t input2_offset;
  int32_t output_offset;
  tm_activation activation;
} tm_mul_params;

tm_status tm_add_s8(const tm_context *ctx, const tm_add_params *params, const tm_add_quant *quant,
                    const tm_dims *input1_dims, const int8_t *input1, const tm_dims *input2_dims,
                    const int8_t *input2, const tm_dims *output_dims, int8_t *output);

tm_status tm_mul_s8(const tm_context *ctx, const tm_mul_params *params, const tm_per_tensor_quant *quant,
                    const tm_dims *input1_dims, const int8_t *input1, const tm_dims *input2_dims,
                    const int8_t *input2, const tm_dims *output_dims, int8_t *output);

/*
 * Element strides of a broadcast operand over the output's dims: 0 along dims
 * where it has extent 1. Returns 0 when the dims are not broadcast-compatible.
 */
static inline int tm_broadcast_strides(const tm_dims *in, const tm_dims *out, tm_dims *strides) {
  if ((in->c != out->c && in->c != 1) || (in->w != out->w && in->w != 1) || (in->h != out->h && in->h != 1) ||
      (in->n != out->n && in->n != 1)) {
    return 0;
  }
  strides->c = in->c == 1 ? 0 : 1;
  strides->w = in->w == 1 ? 0 : in->c;
  strides->h = in->h == 1 ? 0 : in->w * in->c;
  strides->n = in->n == 1 ? 0 : in->h * in->w * in->c;
  return 1;
}

static inline int tm_dims_equal(const tm_dims *a, const tm_dims *b) {
  return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}

/* One row of `count` outputs from `a` and `b` (a stride of 0 repeats that operand's first element). */
typedef void (*tm_binary_row_s8)(const void *consts, int32_t count, const int8_t *a, int32_t stride_a,
                                 const int8_t *b, int32_t stride_b, int8_t *out);

/* Always inlined: `row` is then a constant, called directly (and inlined where the kernel marks it inline). */
static inline __attribute__((always_inline)) tm_status
tm_broadcast_binary_s8(const void *consts, tm_binary_row_s8 row, const tm_dims *input1_dims, const int8_t *input1,
                       const tm_dims *input2_dims, const int8_t *input2, const tm_dims *output_dims, int8_t *output) {
  if (tm_dims_equal(input1_dims, output_dims) && tm_dims_equal(input2_dims, output_dims)) {
    row(consts, output_dims->n * output_dims->h * output_dims->w * output_dims->c, input1, 1, input2, 1, output);
    return TM_OK;
  }
  tm_dims s1, s2;
  if (!tm_broadcast_strides(input1_dims, output_dims, &s1) || !tm_broadcast_strides(input2_dims, output_dims, &s2)) {
    return TM_ERROR_ARG;
  }
  for (int32_t n = 0; n < output_dims->n; ++n) {
    for (int32_t h = 0; h < output_dims->h; ++h) {
      for (int32_t w = 0; w < output_dims->w; ++w) {
        const int8_t *a = input1 + n * s1.n + h * s1.h + w * s1.w;
        const int8_t *b = input2 + n * s2.n + h * s2.h + w * s2.w;
        row(consts, output_dims->c, a, s1.c, b, s2.c, output);
        output += output_dims->c;
      }
    }
  }
  return TM_OK;
}

/*
 * The constants of the inner loop of ADD and of the kernels on its scheme (SUB,
 * SQUARED_DIFFERENCE), copied to locals: stores through int8_t pointers may
 * alias anything, which would force the compiler to reload constants read
 * through the params pointers.
 */
typedef struct {
  int32_t offset1, offset2, output_offset, left_shift;
  int32_t mult1, shift1, mult2, shift2, mult_out, shift_out;
  int32_t act_min, act_max;
} tm_add_consts;

static inline tm_add_consts tm_add_consts_of(int32_t input1_offset, int32_t input2_offset, int32_t output_offset,
                                             int32_t left_shift, const tm_add_quant *quant, tm_activation act) {
  const tm_add_consts k = {
      .offset1 = input1_offset,
      .offset2 = input2_offset,
      .output_offset = output_offset,
      .left_shift = left_shift,
      .mult1 = quant->input1.multiplier,
      .shift1 = quant->input1.shift,
      .mult2 = quant->input2.multiplier,
      .shift2 = quant->input2.shift,
      .mult_out = quant->output.multiplier,
      .shift_out = quant->output.shift,
      .act_min = act.min,
      .act_max = act.max,
  };
  return k;
}

/* Input 1's value plus its offset, scaled up by 2^left_shift and rescaled to the common scale. */
static inline int32_t tm_add_scale_input1(const tm_add_consts *k, int32_t x) {
  return tm_requantize((x + k->offset1) * (1 << k->left_shift), k->mult1, k->shift1);
}

/* The same for input 2. */
static inline int32_t tm_add_scale_input2(const tm_add_consts *k, int32_t x) {
  return tm_requantize((x + k->offset2) * (1 << k->left_shift), k->mult2, k->shift2);
}

#endif /* TINYML_TM_ELEMENTWISE_H */
