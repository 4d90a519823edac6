/*
 * Fixed-point helpers with TFLite Micro's exact rounding (double rounding:
 * a saturating rounding doubling high multiply, then a rounding right shift).
 */
#ifndef TINYML_TM_MATH_H
#define TINYML_TM_MATH_H

#include <stdint.h>

#define TM_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TM_MIN(a, b) ((a) < (b) ? (a) : (b))

static inline int32_t tm_sat_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) {
    return INT32_MAX;
  }
  const int64_t ab = (int64_t)a * (int64_t)b;
  const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return (int32_t)((ab + nudge) / (1LL << 31));
}

static inline int32_t tm_rounding_divide_by_pot(int32_t x, int32_t exponent) {
  const int32_t mask = (int32_t)((1LL << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^(shift - 31), rounded as TFLM's MultiplyByQuantizedMultiplier. */
static inline int32_t tm_requantize(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  const int32_t shifted = (int32_t)((uint32_t)x << left);
  return tm_rounding_divide_by_pot(tm_sat_rounding_doubling_high_mul(shifted, multiplier), right);
}

static inline int8_t tm_clamp_s8(int32_t v, int32_t lo, int32_t hi) {
  return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

#endif /* TINYML_TM_MATH_H */
