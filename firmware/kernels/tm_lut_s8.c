/*
 * An int8 elementwise function as a 256-entry table lookup (TANH, RSQRT).
 * Each element is read before its output is written, so it runs in place.
 */
#include "tinyml/tm_kernels.h"

tm_status tm_lut_s8(const tm_context *ctx, const tm_lut_params *params, const tm_dims *input_dims,
                    const int8_t *input, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (output_dims->n * output_dims->h * output_dims->w * output_dims->c != size) {
    return TM_ERROR_ARG;
  }
  const int8_t *table = params->table + 128;
  for (int32_t i = 0; i < size; ++i) {
    const int32_t x = input[i];
    if (x < params->min_input) {
      return TM_ERROR_ARG;
    }
    output[i] = table[x];
  }
  return TM_OK;
}
