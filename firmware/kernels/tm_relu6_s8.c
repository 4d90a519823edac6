/*
 * RELU6, int8: clamp to [zero, six] expressed in the input's quantization. As
 * in TFLite Micro there is no rescaling, even when the output's scale differs.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

tm_status tm_relu6_s8(const tm_context *ctx, const tm_relu6_params *params, const tm_dims *input_dims,
                      const int8_t *input, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (size != output_dims->n * output_dims->h * output_dims->w * output_dims->c) {
    return TM_ERROR_ARG;
  }
  const int32_t lo = params->zero;
  const int32_t hi = params->six;
  for (int32_t i = 0; i < size; ++i) {
    output[i] = tm_clamp_s8(input[i], lo, hi);
  }
  return TM_OK;
}
