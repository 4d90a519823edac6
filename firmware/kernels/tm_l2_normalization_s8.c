/*
 * L2_NORMALIZATION, int8, with TFLite Micro's integer arithmetic: per row the
 * sum of squares, its inverse square root by five fixed-point Newton-Raphson
 * steps (TFLM's GetInvSqrtQuantizedMultiplierExp), then each value times it
 * in 1/128 steps. Each element is read before its output is written: it may
 * run in place.
 */
#include "tinyml/tm_fixedpoint.h"
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

enum { OUTPUT_BITS = 7 };

/* 3/2 in Q3, sqrt(2)/2 in Q0 */
#define Q3_THREE_HALVES ((1 << 28) + (1 << 27))
#define Q0_HALF_SQRT_2 1518500250

static int32_t count_leading_zeros(uint32_t x) {
#if defined(__GNUC__) || defined(__clang__)
  return x ? __builtin_clz(x) : 32;
#else
  int32_t n = 0;
  while (n < 32 && !(x & 0x80000000u)) {
    x <<= 1;
    ++n;
  }
  return n;
#endif
}

/* 1 / sqrt(value) = *multiplier * 2^(*shift - 31), for value >= 0 (0 and 1 give the largest multiplier). */
static void inv_sqrt(int32_t value, int32_t *multiplier, int32_t *shift) {
  if (value <= 1) {
    *multiplier = INT32_MAX;
    *shift = 0;
    return;
  }
  int32_t exponent = 11;
  while (value >= (1 << 29)) {
    value /= 4;
    ++exponent;
  }
  const int32_t pairs = (count_leading_zeros((uint32_t)value) - 1) / 2 - 1;
  exponent -= pairs;
  value <<= 2 * pairs;
  const int32_t half_input = tm_rounding_divide_by_pot(value >> 1, 1); /* Q3 */
  int32_t x = 1 << 28;                                                  /* 1 in Q3 */
  for (int32_t i = 0; i < 5; ++i) {
    const int32_t x2 = tm_sat_rounding_doubling_high_mul(x, x);
    const int32_t x3 = tm_fp_sat_shift_left(tm_sat_rounding_doubling_high_mul(x2, x), 6); /* Q9 -> Q3 */
    const int32_t a = tm_sat_rounding_doubling_high_mul(Q3_THREE_HALVES, x);
    const int32_t b = tm_sat_rounding_doubling_high_mul(half_input, x3);
    x = tm_fp_sat_shift_left((int32_t)((uint32_t)a - (uint32_t)b), 3); /* Q6 -> Q3 */
  }
  x = tm_sat_rounding_doubling_high_mul(x, Q0_HALF_SQRT_2);
  if (exponent < 0) {
    x = (int32_t)((uint32_t)x << -exponent);
    exponent = 0;
  }
  *multiplier = x;
  *shift = -exponent;
}

tm_status tm_l2_normalization_s8(const tm_context *ctx, const tm_l2_normalization_params *params,
                                 const tm_dims *input_dims, const int8_t *input, const tm_dims *output_dims,
                                 int8_t *output) {
  (void)ctx;
  const int32_t depth = input_dims->c;
  const int32_t rows = input_dims->n * input_dims->h * input_dims->w;
  if (output_dims->c != depth || output_dims->n * output_dims->h * output_dims->w != rows || depth > 33025) {
    return TM_ERROR_ARG;
  }
  for (int32_t r = 0; r < rows; ++r) {
    int32_t sum = 0;
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t v = input[c] + params->input_offset;
      sum += v * v;
    }
    int32_t multiplier, shift;
    inv_sqrt(sum, &multiplier, &shift);
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t v = input[c] + params->input_offset;
      output[c] = tm_clamp_s8(tm_requantize(v, multiplier, shift + OUTPUT_BITS), INT8_MIN, INT8_MAX);
    }
    input += depth;
    output += depth;
  }
  return TM_OK;
}
