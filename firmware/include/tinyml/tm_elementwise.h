/*
 * Elementwise binary family: ADD and MUL, with broadcasting.
 *
 * Operand dims are right-aligned NHWC; along each dim an input either matches
 * the output or has extent 1 (it is then repeated). Identical dims take a flat
 * loop. tinyml merges adjacent dims with the same broadcast pattern before
 * calling, so the innermost loop is as long as possible.
 */
#ifndef TINYML_TM_ELEMENTWISE_H
#define TINYML_TM_ELEMENTWISE_H

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

#endif /* TINYML_TM_ELEMENTWISE_H */
