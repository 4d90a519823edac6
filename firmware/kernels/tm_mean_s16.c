/*
 * MEAN over h and w, int16: TFLite Micro runs int16 through the same
 * EvalIntegerMean template as int8, so this is tm_mean_s8's arithmetic (int32
 * sum plus the folded zero-point term, one requantization carrying 1/count)
 * saturated to int16.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

tm_status tm_mean_s16(const tm_context *ctx, const tm_reduce_params *params, const tm_per_tensor_quant *quant,
                      const tm_dims *input_dims, const int16_t *input, const tm_dims *output_dims,
                      int16_t *output) {
  (void)ctx;
  const int32_t ch = input_dims->c;
  if (input_dims->n != output_dims->n || ch != output_dims->c || output_dims->h != 1 || output_dims->w != 1) {
    return TM_ERROR_ARG;
  }
  const int32_t count = input_dims->h * input_dims->w;
  for (int32_t b = 0; b < input_dims->n; ++b) {
    for (int32_t c = 0; c < ch; ++c) {
      int32_t acc = params->sum_offset;
      for (int32_t i = 0; i < count; ++i) {
        acc += input[i * ch + c];
      }
      acc = tm_requantize(acc, quant->multiplier, quant->shift) + params->output_offset;
      output[c] = tm_clamp_s16(acc, INT16_MIN, INT16_MAX);
    }
    input += count * ch;
    output += ch;
  }
  return TM_OK;
}
