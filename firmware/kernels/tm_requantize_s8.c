/*
 * QUANTIZE, int8 -> int8 (TFLite Micro's Requantize): subtract the input zero
 * point, rescale by in_scale / out_scale, add the output zero point, clamp.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

tm_status tm_requantize_s8(const tm_context *ctx, const tm_requantize_params *params,
                           const tm_per_tensor_quant *quant, const tm_dims *input_dims, const int8_t *input,
                           const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (size != output_dims->n * output_dims->h * output_dims->w * output_dims->c) {
    return TM_ERROR_ARG;
  }
  const int32_t in_offset = params->input_offset;
  const int32_t out_offset = params->output_offset;
  const int32_t mult = quant->multiplier;
  const int32_t shift = quant->shift;
  for (int32_t i = 0; i < size; ++i) {
    output[i] = tm_clamp_s8(tm_requantize(input[i] + in_offset, mult, shift) + out_offset, INT8_MIN, INT8_MAX);
  }
  return TM_OK;
}
