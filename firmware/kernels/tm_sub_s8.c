/*
 * SUB, int8, with broadcasting and a fused activation clamp: TFLite Micro's
 * ADD scheme (both offset inputs shifted left, rescaled to twice the larger
 * input scale), the second rescaled value subtracted, the difference rescaled
 * to the output.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

/* Constants of the inner loop as locals (int8_t stores may alias the params). */
typedef struct {
  int32_t offset1, offset2, output_offset, left_shift;
  int32_t mult1, shift1, mult2, shift2, mult_out, shift_out;
  int32_t act_min, act_max;
} sub_consts;

static void sub_row(const void *consts, int32_t count, const int8_t *a, int32_t stride_a, const int8_t *b,
                    int32_t stride_b, int8_t *out) {
  const sub_consts k = *(const sub_consts *)consts;
  for (int32_t i = 0; i < count; ++i) {
    const int32_t x = tm_requantize((a[i * stride_a] + k.offset1) * (1 << k.left_shift), k.mult1, k.shift1);
    const int32_t y = tm_requantize((b[i * stride_b] + k.offset2) * (1 << k.left_shift), k.mult2, k.shift2);
    out[i] = tm_clamp_s8(tm_requantize(x - y, k.mult_out, k.shift_out) + k.output_offset, k.act_min, k.act_max);
  }
}

tm_status tm_sub_s8(const tm_context *ctx, const tm_add_params *params, const tm_add_quant *quant,
                    const tm_dims *input1_dims, const int8_t *input1, const tm_dims *input2_dims,
                    const int8_t *input2, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const sub_consts k = {
      .offset1 = params->input1_offset,
      .offset2 = params->input2_offset,
      .output_offset = params->output_offset,
      .left_shift = params->left_shift,
      .mult1 = quant->input1.multiplier,
      .shift1 = quant->input1.shift,
      .mult2 = quant->input2.multiplier,
      .shift2 = quant->input2.shift,
      .mult_out = quant->output.multiplier,
      .shift_out = quant->output.shift,
      .act_min = params->activation.min,
      .act_max = params->activation.max,
  };
  return tm_broadcast_binary_s8(&k, sub_row, input1_dims, input1, input2_dims, input2, output_dims, output);
}
