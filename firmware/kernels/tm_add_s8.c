/*
 * ADD, int8, with broadcasting and a fused activation clamp.
 *
 * TFLite's integer scheme: each input (plus its offset) is scaled up by
 * 2^left_shift and rescaled to a common scale by its own multiplier (< 1);
 * the sum is rescaled to the output scale. A broadcast operand's rescaled
 * value is computed once per row instead of once per element.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

static inline int8_t add_output(const tm_add_consts *k, int32_t sum) {
  return tm_clamp_s8(tm_requantize(sum, k->mult_out, k->shift_out) + k->output_offset, k->act_min, k->act_max);
}

/* One row of `count` outputs; a stride of 0 repeats that input's first element. */
static inline void add_row(const void *consts, int32_t count, const int8_t *a, int32_t stride_a, const int8_t *b,
                    int32_t stride_b, int8_t *out) {
  const tm_add_consts k = *(const tm_add_consts *)consts;
  if (stride_a == 0) {
    const int32_t va = tm_add_scale_input1(&k, a[0]);
    for (int32_t i = 0; i < count; ++i) {
      out[i] = add_output(&k, va + tm_add_scale_input2(&k, b[i * stride_b]));
    }
  } else if (stride_b == 0) {
    const int32_t vb = tm_add_scale_input2(&k, b[0]);
    for (int32_t i = 0; i < count; ++i) {
      out[i] = add_output(&k, tm_add_scale_input1(&k, a[i]) + vb);
    }
  } else {
    for (int32_t i = 0; i < count; ++i) {
      out[i] = add_output(&k, tm_add_scale_input1(&k, a[i]) + tm_add_scale_input2(&k, b[i]));
    }
  }
}

tm_status tm_add_s8(const tm_context *ctx, const tm_add_params *params, const tm_add_quant *quant,
                    const tm_dims *input1_dims, const int8_t *input1, const tm_dims *input2_dims,
                    const int8_t *input2, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const tm_add_consts k = tm_add_consts_of(params->input1_offset, params->input2_offset, params->output_offset,
                                           params->left_shift, quant, params->activation);
  return tm_broadcast_binary_s8(&k, add_row, input1_dims, input1, input2_dims, input2, output_dims, output);
}
