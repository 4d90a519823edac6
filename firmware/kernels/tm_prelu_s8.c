/*
 * PRELU, int8, alpha broadcast against the input: x >= 0 is rescaled by
 * in/out, x < 0 is multiplied by its alpha and rescaled by in * alpha / out,
 * as TFLite Micro's reference kernel does.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

typedef struct {
  int32_t input_offset, alpha_offset, output_offset;
  int32_t mult_pos, shift_pos, mult_neg, shift_neg;
} prelu_consts;

static void prelu_row(const void *consts, int32_t count, const int8_t *x, int32_t stride_x, const int8_t *alpha,
                      int32_t stride_alpha, int8_t *out) {
  const prelu_consts k = *(const prelu_consts *)consts;
  for (int32_t i = 0; i < count; ++i) {
    const int32_t v = x[i * stride_x] + k.input_offset;
    const int32_t y = v >= 0 ? tm_requantize(v, k.mult_pos, k.shift_pos)
                             : tm_requantize(v * (alpha[i * stride_alpha] + k.alpha_offset), k.mult_neg, k.shift_neg);
    out[i] = tm_clamp_s8(y + k.output_offset, INT8_MIN, INT8_MAX);
  }
}

tm_status tm_prelu_s8(const tm_context *ctx, const tm_prelu_params *params, const tm_prelu_quant *quant,
                      const tm_dims *input_dims, const int8_t *input, const tm_dims *alpha_dims, const int8_t *alpha,
                      const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const prelu_consts k = {
      .input_offset = params->input_offset,
      .alpha_offset = params->alpha_offset,
      .output_offset = params->output_offset,
      .mult_pos = quant->positive.multiplier,
      .shift_pos = quant->positive.shift,
      .mult_neg = quant->negative.multiplier,
      .shift_neg = quant->negative.shift,
  };
  return tm_broadcast_binary_s8(&k, prelu_row, input_dims, input, alpha_dims, alpha, output_dims, output);
}
