/*
 * MEAN over h and w, int8 (TFLite Micro's QuantizedMeanOrSum).
 *
 * Each output channel is the raw int32 sum of its h*w inputs plus the folded
 * -zero_point*count term, requantized with a multiplier that already carries
 * the 1/count factor (derived at compile time exactly as TFLM does), offset
 * by the output zero point and saturated to int8.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

tm_status tm_mean_s8(const tm_context *ctx, const tm_reduce_params *params, const tm_per_tensor_quant *quant,
                     const tm_dims *input_dims, const int8_t *input, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const int32_t ch = input_dims->c;
  if (input_dims->n != output_dims->n || ch != output_dims->c || output_dims->h != 1 || output_dims->w != 1) {
    return TM_ERROR_ARG;
  }
  const int32_t count = input_dims->h * input_dims->w;
  const int32_t multiplier = quant->multiplier;
  const int32_t shift = quant->shift;
  for (int32_t b = 0; b < input_dims->n; ++b) {
    for (int32_t c = 0; c < ch; ++c) {
      const int8_t *p = input + c;
      int32_t acc = params->sum_offset;
      for (int32_t i = 0; i < count; ++i) {
        acc += *p;
        p += ch;
      }
      acc = tm_requantize(acc, multiplier, shift) + params->output_offset;
      output[c] = tm_clamp_s8(acc, INT8_MIN, INT8_MAX);
    }
    input += count * ch;
    output += ch;
  }
  return TM_OK;
}
