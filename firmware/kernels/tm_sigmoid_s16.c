/*
 * int16 TANH and LOGISTIC as TFLite Micro computes them: the input rescaled
 * to steps of 1/(3 * 4096), then linear interpolation between entries of a
 * table of sigmoid(i / 24) (0.16 format) on its magnitude, the sign folded
 * back by symmetry. TANH reads the table at twice its argument's resolution:
 * tanh(x) = 2 sigmoid(2x) - 1. Elementwise, so it may run in place.
 */
#include "tinyml/tm_kernels.h"

tm_status tm_sigmoid_s16(const tm_context *ctx, const tm_sigmoid_s16_params *params, const tm_dims *input_dims,
                         const int16_t *input, const tm_dims *output_dims, int16_t *output) {
  (void)ctx;
  const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (output_dims->n * output_dims->h * output_dims->w * output_dims->c != size) {
    return TM_ERROR_ARG;
  }
  const int32_t shift = params->left_shift;
  const int32_t rounding = shift > 0 ? 1 << (shift - 1) : 0;
  const uint16_t *table = params->table;
  for (int32_t i = 0; i < size; ++i) {
    const int32_t x = (input[i] * params->multiplier + rounding) >> shift;
    const uint32_t magnitude = (uint32_t)(x < 0 ? -x : x);
    if (params->is_tanh) {
      const uint32_t step = magnitude >> 8;
      int32_t value;
      if (step >= 255) {
        value = 0xFFFF << 8;
      } else {
        const uint32_t below = table[step], above = table[step + 1];
        value = (int32_t)((below << 8) + (magnitude & 0xFF) * (above - below));
      }
      value = x >= 0 ? value - (1 << 23) + (1 << 7) : -value + (1 << 23) + (1 << 7) - 1;
      output[i] = (int16_t)(value >> 8);
    } else {
      const uint32_t step = magnitude >> 9;
      uint32_t value;
      if (step >= 255) {
        value = 0x7FFFu << 10;
      } else {
        const uint32_t below = table[step], above = table[step + 1];
        value = (below << 9) + (magnitude & 0x1FF) * (above - below);
      }
      value = x >= 0 ? value + (1u << 9) : (1u << 25) - value + (1u << 9) - 1;
      output[i] = (int16_t)(value >> 10);
    }
  }
  return TM_OK;
}
