/*
 * LOGISTIC, int8 input, int8 output (scale 1/256, zero point -128), with
 * TFLite Micro's integer arithmetic: inputs within the radius go to Q4.27,
 * through the fixed-point logistic to Q0, then are rounded to 1/256 steps.
 */
#include "tinyml/tm_fixedpoint.h"
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

enum {
  INPUT_INTEGER_BITS = 4,
  OUTPUT_FRACTION_BITS = 8
};

tm_status tm_logistic_s8(const tm_context *ctx, const tm_logistic_params *params, const tm_per_tensor_quant *quant,
                         const tm_dims *input_dims, const int8_t *input, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (output_dims->n * output_dims->h * output_dims->w * output_dims->c != size) {
    return TM_ERROR_ARG;
  }
  const int32_t radius = params->input_range_radius;
  for (int32_t i = 0; i < size; ++i) {
    const int32_t x = input[i] + params->input_offset;
    int32_t out;
    if (x <= -radius) {
      out = INT8_MIN;
    } else if (x >= radius) {
      out = INT8_MAX;
    } else {
      const int32_t x_q4 = tm_requantize(x, quant->multiplier, quant->shift);
      const int32_t y_q0 = tm_fp_logistic(x_q4, INPUT_INTEGER_BITS);
      out = tm_rounding_divide_by_pot(y_q0, 31 - OUTPUT_FRACTION_BITS) + INT8_MIN;
    }
    output[i] = tm_clamp_s8(out, INT8_MIN, INT8_MAX);
  }
  return TM_OK;
}
