/*
 * LOG_SOFTMAX, int8 in and out, with TFLite Micro's integer arithmetic: per
 * row, exps of the Q5.26 differences summed in Q12, the log of the sum in
 * Q5.26 (a rational approximation after normalising to [2^-1/4, 2^1/4)),
 * then (diff - log sum) in 1/16 steps from 127. No scratch: the differences
 * are recomputed in the second pass.
 */
#include "tinyml/tm_fixedpoint.h"
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

enum {
  INPUT_INTEGER_BITS = 5,
  ACCUM_INTEGER_BITS = 12,
  OUTPUT_INTEGER_BITS = 4,
  LOG_ACCUM_INTEGER_BITS = INPUT_INTEGER_BITS + 1, /* the log is accumulated with one bit of headroom */
  OUTPUT_ZERO_POINT = 127
};

/* log(2), 2^-1/4, 2^-1/2, 1/4 in Q0 and the rational approximation's constants */
#define LOG_2 1488522236
#define SQRT_SQRT_HALF 1805811301
#define SQRT_HALF 1518500250
#define ONE_QUARTER 536870912
#define ALPHA_N 117049297
#define ALPHA_D 127690142
#define ALPHA_I 1057819769
#define ALPHA_F 638450708

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

static inline int32_t wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

static inline int32_t sat_add(int32_t a, int32_t b) {
  const int64_t sum = (int64_t)a + b;
  return sum > INT32_MAX ? INT32_MAX : sum < INT32_MIN ? INT32_MIN : (int32_t)sum;
}

/* x * 2^exponent saturated, exponent >= 0 (0 leaves x as it is). */
static inline int32_t sat_shift_left(int32_t x, int32_t exponent) {
  return exponent == 0 ? x : tm_fp_sat_shift_left(x, exponent);
}

/* log(z) in Q5.26 for z >= 1 in Q12.19. */
static int32_t log_of_sum(int32_t z) {
  const int32_t quarter = tm_rounding_divide_by_pot(ONE_QUARTER, LOG_ACCUM_INTEGER_BITS);
  const int32_t z_a_headroom_plus_1 = count_leading_zeros((uint32_t)z);
  const int32_t r_a_tmp = sat_shift_left(z, z_a_headroom_plus_1 - 1);
  const int32_t r_a = sat_shift_left(tm_sat_rounding_doubling_high_mul(r_a_tmp, SQRT_HALF), 1);
  const int32_t z_a_pow_2_adj =
      sat_add(sat_shift_left(ACCUM_INTEGER_BITS - z_a_headroom_plus_1, 31 - LOG_ACCUM_INTEGER_BITS), quarter);
  const int32_t z_b = tm_sat_rounding_doubling_high_mul(z, SQRT_HALF);
  const int32_t z_b_headroom = count_leading_zeros((uint32_t)z_b) - 1;
  const int32_t r_b = sat_shift_left(z, z_b_headroom);
  const int32_t z_b_pow_2_adj =
      sat_add(sat_shift_left(ACCUM_INTEGER_BITS - z_b_headroom, 31 - LOG_ACCUM_INTEGER_BITS), -quarter);
  const int32_t r = TM_MIN(r_a, r_b);
  const int32_t z_pow_2_adj = TM_MAX(z_a_pow_2_adj, z_b_pow_2_adj);

  const int32_t p = tm_fp_rounding_half_sum(r, SQRT_SQRT_HALF);
  int32_t q = wrap_add(r, -SQRT_SQRT_HALF);
  q = wrap_add(q, q);
  const int32_t common_sq = tm_sat_rounding_doubling_high_mul(q, q);
  const int32_t num = wrap_add(tm_sat_rounding_doubling_high_mul(q, r),
                               tm_sat_rounding_doubling_high_mul(tm_sat_rounding_doubling_high_mul(q, common_sq), ALPHA_N));
  const int32_t denom_factor = wrap_add(wrap_add(ALPHA_I, q), tm_sat_rounding_doubling_high_mul(ALPHA_D, common_sq));
  const int32_t denom_minus_one =
      wrap_add(tm_sat_rounding_doubling_high_mul(p, denom_factor), tm_sat_rounding_doubling_high_mul(ALPHA_F, q));
  const int32_t recip_denom = tm_fp_one_over_one_plus_x_for_x_in_0_1(denom_minus_one);
  const int32_t num_scaled = tm_rounding_divide_by_pot(num, LOG_ACCUM_INTEGER_BITS);
  const int32_t total = wrap_add(tm_sat_rounding_doubling_high_mul(z_pow_2_adj, LOG_2),
                                 tm_sat_rounding_doubling_high_mul(num_scaled, recip_denom));
  return sat_shift_left(total, LOG_ACCUM_INTEGER_BITS - INPUT_INTEGER_BITS);
}

/* beta * scale * diff in Q5.26, for diff >= diff_min (so the shifted diff cannot overflow). */
static inline int32_t scaled_diff(int32_t diff, const tm_per_tensor_quant *quant) {
  const int32_t shifted = (int32_t)((uint32_t)diff << quant->shift);
  return tm_sat_rounding_doubling_high_mul(shifted, quant->multiplier);
}

tm_status tm_log_softmax_s8(const tm_context *ctx, const tm_log_softmax_params *params,
                            const tm_per_tensor_quant *quant, const tm_dims *input_dims, const int8_t *input,
                            const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const int32_t depth = input_dims->c;
  const int32_t rows = input_dims->n * input_dims->h * input_dims->w;
  if (output_dims->c != depth || output_dims->n * output_dims->h * output_dims->w != rows || depth >= 4096) {
    return TM_ERROR_ARG;
  }
  const int32_t diff_min = params->diff_min;
  for (int32_t row = 0; row < rows; ++row) {
    int32_t max = INT8_MIN;
    for (int32_t c = 0; c < depth; ++c) {
      max = TM_MAX(max, input[c]);
    }
    int32_t sum = 0; /* Q12; each exp adds at most 2^19 */
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t diff = input[c] - max;
      if (diff >= diff_min) {
        const int32_t e = tm_fp_exp_on_negative_values(scaled_diff(diff, quant), INPUT_INTEGER_BITS);
        sum += tm_rounding_divide_by_pot(e, ACCUM_INTEGER_BITS);
      }
    }
    const int32_t log_sum = log_of_sum(sum);
    const int32_t reverse =
        tm_requantize(wrap_add(log_sum, INT32_MIN), params->reverse.multiplier, params->reverse.shift);
    const int32_t adjusted_diff_min = TM_MAX(diff_min - 1, reverse);
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t diff = input[c] - max;
      int32_t out = INT8_MIN;
      if (diff > adjusted_diff_min) {
        const int32_t y = wrap_add(scaled_diff(diff, quant), -log_sum);
        out = tm_rounding_divide_by_pot(y, 31 - INPUT_INTEGER_BITS - OUTPUT_INTEGER_BITS) + OUTPUT_ZERO_POINT;
      }
      output[c] = tm_clamp_s8(out, INT8_MIN, INT8_MAX);
    }
    input += depth;
    output += depth;
  }
  return TM_OK;
}
