/*
 * MUL, int8, with broadcasting and a fused activation clamp.
 *
 * The product of the offset inputs is requantized once with
 * in1_scale * in2_scale / out_scale. A broadcast operand's offset value is
 * loaded once per row.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

/* Constants of the inner loop as locals (int8_t stores may alias the params). */
typedef struct {
  int32_t offset1, offset2, output_offset, mult, shift, act_min, act_max;
} mul_consts;

static inline int8_t mul_output(const mul_consts *k, int32_t product) {
  return tm_clamp_s8(tm_requantize(product, k->mult, k->shift) + k->output_offset, k->act_min, k->act_max);
}

/* One row of `count` outputs; a stride of 0 repeats that input's first element. */
static inline void mul_row(const void *consts, int32_t count, const int8_t *a, int32_t stride_a, const int8_t *b,
                    int32_t stride_b, int8_t *out) {
  const mul_consts k = *(const mul_consts *)consts;
  if (stride_a == 0) {
    const int32_t va = a[0] + k.offset1;
    for (int32_t i = 0; i < count; ++i) {
      out[i] = mul_output(&k, va * (b[i * stride_b] + k.offset2));
    }
  } else if (stride_b == 0) {
    const int32_t vb = b[0] + k.offset2;
    for (int32_t i = 0; i < count; ++i) {
      out[i] = mul_output(&k, (a[i] + k.offset1) * vb);
    }
  } else {
    for (int32_t i = 0; i < count; ++i) {
      out[i] = mul_output(&k, (a[i] + k.offset1) * (b[i] + k.offset2));
    }
  }
}

tm_status tm_mul_s8(const tm_context *ctx, const tm_mul_params *params, const tm_per_tensor_quant *quant,
                    const tm_dims *input1_dims, const int8_t *input1, const tm_dims *input2_dims,
                    const int8_t *input2, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const mul_consts k = {
      .offset1 = params->input1_offset,
      .offset2 = params->input2_offset,
      .output_offset = params->output_offset,
      .mult = quant->multiplier,
      .shift = quant->shift,
      .act_min = params->activation.min,
      .act_max = params->activation.max,
  };
  return tm_broadcast_binary_s8(&k, mul_row, input1_dims, input1, input2_dims, input2, output_dims, output);
}
