/*
 * SUB, int8, with broadcasting and a fused activation clamp: TFLite Micro's
 * ADD scheme (both offset inputs shifted left, rescaled to twice the larger
 * input scale), the second rescaled value subtracted, the difference rescaled
 * to the output.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

static void sub_row(const void *consts, int32_t count, const int8_t *a, int32_t stride_a, const int8_t *b,
                    int32_t stride_b, int8_t *out) {
  const tm_add_consts k = *(const tm_add_consts *)consts;
  for (int32_t i = 0; i < count; ++i) {
    const int32_t x = tm_add_scale_input1(&k, a[i * stride_a]);
    const int32_t y = tm_add_scale_input2(&k, b[i * stride_b]);
    out[i] = tm_clamp_s8(tm_requantize(x - y, k.mult_out, k.shift_out) + k.output_offset, k.act_min, k.act_max);
  }
}

tm_status tm_sub_s8(const tm_context *ctx, const tm_add_params *params, const tm_add_quant *quant,
                    const tm_dims *input1_dims, const int8_t *input1, const tm_dims *input2_dims,
                    const int8_t *input2, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const tm_add_consts k = tm_add_consts_of(params->input1_offset, params->input2_offset, params->output_offset,
                                           params->left_shift, quant, params->activation);
  return tm_broadcast_binary_s8(&k, sub_row, input1_dims, input1, input2_dims, input2, output_dims, output);
}
