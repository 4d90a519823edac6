/*
 * RELU and RELU6, int16, as TFLite Micro's ReluQuantized and Relu6Quantized
 * for int16: the int8 kernels' arithmetic (RELU requantizes to the output
 * scale and clamps at the output's zero; RELU6 clamps to [0, 6] in the
 * input's quantization).
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

tm_status tm_relu_s16(const tm_context *ctx, const tm_relu_params *params, const tm_per_tensor_quant *quant,
                      const tm_dims *input_dims, const int16_t *input, const tm_dims *output_dims,
                      int16_t *output) {
  (void)ctx;
  const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (size != output_dims->n * output_dims->h * output_dims->w * output_dims->c) {
    return TM_ERROR_ARG;
  }
  for (int32_t i = 0; i < size; ++i) {
    const int32_t v = tm_requantize(input[i] + params->input_offset, quant->multiplier, quant->shift);
    output[i] = tm_clamp_s16(v + params->output_offset, params->activation.min, params->activation.max);
  }
  return TM_OK;
}

tm_status tm_relu6_s16(const tm_context *ctx, const tm_relu6_params *params, const tm_dims *input_dims,
                       const int16_t *input, const tm_dims *output_dims, int16_t *output) {
  (void)ctx;
  const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (size != output_dims->n * output_dims->h * output_dims->w * output_dims->c) {
    return TM_ERROR_ARG;
  }
  for (int32_t i = 0; i < size; ++i) {
    output[i] = tm_clamp_s16(input[i], params->zero, params->six);
  }
  return TM_OK;
}
