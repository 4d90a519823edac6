/*
 * HARD_SWISH, int8: x * relu6(x + 3) / 6 in TFLite Micro's 16-bit fixed point.
 *
 * The offset input goes to a high-resolution int16 scale (x * 2^7). One
 * multiplier takes it to the output scale (before the final right shift);
 * another to the "relu-ish" scale where 3.0 is 2^15, saturating, which is then
 * mapped from [-1, 1] to [0, 1] and multiplies the first without rounding.
 */
#include "tinyml/tm_kernels.h"

/* gemmlowp's SaturatingRoundingDoublingHighMul on int16. */
static int16_t hs_rounding_high_mul(int16_t a, int16_t b) {
  if (a == b && a == INT16_MIN) {
    return INT16_MAX;
  }
  const int32_t ab = (int32_t)a * (int32_t)b;
  const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
  return (int16_t)((ab + nudge) / (1 << 15));
}

/* TFLite's SaturatingDoublingHighMul: the same, truncating instead of rounding. */
static int16_t hs_high_mul(int16_t a, int16_t b) {
  if (a == b && a == INT16_MIN) {
    return INT16_MAX;
  }
  return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

static int16_t hs_saturating_left_shift(int16_t value, int32_t amount) {
  const int32_t result = (int32_t)value * (1 << amount);
  return (int16_t)(result > INT16_MAX ? INT16_MAX : (result < INT16_MIN ? INT16_MIN : result));
}

/* gemmlowp's RoundingDivideByPOT on int16 (exponent 0..15). */
static int16_t hs_rounding_divide_by_pot(int16_t x, int32_t exponent) {
  const int32_t mask = (1 << exponent) - 1;
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

tm_status tm_hard_swish_s8(const tm_context *ctx, const tm_hard_swish_params *params, const tm_dims *input_dims,
                           const int8_t *input, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (size != output_dims->n * output_dims->h * output_dims->w * output_dims->c) {
    return TM_ERROR_ARG;
  }
  const int32_t in_zero = params->input_zero_point;
  const int32_t out_zero = params->output_zero_point;
  const int16_t out_mult = (int16_t)params->output_multiplier;
  const int32_t out_exp = params->output_exponent;
  const int16_t reluish_mult = (int16_t)params->reluish_multiplier;
  const int32_t reluish_exp = params->reluish_exponent;
  for (int32_t i = 0; i < size; ++i) {
    const int16_t hires = (int16_t)((input[i] - in_zero) * (1 << 7));
    const int16_t preshift_output = hs_rounding_high_mul(hires, out_mult);
    int16_t reluish = hires;
    if (reluish_exp > 0) {
      reluish = hs_saturating_left_shift(reluish, reluish_exp - 1);
    }
    reluish = hs_rounding_high_mul(reluish, reluish_mult);
    if (reluish_exp > 0) {
      reluish = hs_saturating_left_shift(reluish, 1);
    } else if (reluish_exp < 0) {
      reluish = hs_rounding_divide_by_pot(reluish, -reluish_exp);
    }
    reluish = (int16_t)((reluish + (1 << 15)) >> 1);
    int16_t y = hs_rounding_divide_by_pot(hs_high_mul(reluish, preshift_output), -out_exp);
    y = (int16_t)(y + out_zero);
    output[i] = (int8_t)(y > INT8_MAX ? INT8_MAX : (y < INT8_MIN ? INT8_MIN : y));
  }
  return TM_OK;
}
