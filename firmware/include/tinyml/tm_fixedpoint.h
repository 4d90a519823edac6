/*
 * Q-format fixed-point functions with the exact integer semantics TFLite
 * Micro gets from gemmlowp (exp, 1/(1+x), logistic), for SOFTMAX and
 * LOGISTIC.
 *
 * A value in Qm (m integer bits, 31 - m fraction bits) is an int32 raw
 * value r meaning r / 2^(31 - m). The product of a Qa and a Qb value is a
 * Q(a+b) value: tm_sat_rounding_doubling_high_mul of the raws. Every
 * constant below is the Q0 (or stated) raw value of the real number named
 * beside it, rounded to nearest; the polynomial and Newton steps must stay
 * exactly as written, since each rounding shows up in the outputs.
 */
#ifndef TINYML_TM_FIXEDPOINT_H
#define TINYML_TM_FIXEDPOINT_H

#include <stdint.h>

#include "tinyml/tm_math.h"

/* 1.0 in Q0: the largest raw value, since 1 itself is not representable. */
#define TM_FP_Q0_ONE INT32_MAX

/* x * 2^exponent, exponent in [1, 30]: shift left, saturating to the int32 range. */
static inline int32_t tm_fp_sat_shift_left(int32_t x, int32_t exponent) {
  const int32_t limit = ((int32_t)1 << (31 - exponent)) - 1;
  if (x > limit) {
    return INT32_MAX;
  }
  if (x < -limit) {
    return INT32_MIN;
  }
  return (int32_t)((uint32_t)x << exponent);
}

/* (a + b) / 2, rounded half away from zero, without overflow. */
static inline int32_t tm_fp_rounding_half_sum(int32_t a, int32_t b) {
  const int64_t sum = (int64_t)a + (int64_t)b;
  return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* exp(a) for a Q0 value a in [-1/4, 0): a 4th-order Taylor expansion around -1/8. */
static inline int32_t tm_fp_exp_on_negative_quarter(int32_t a) {
  const int32_t exp_minus_one_eighth = 1895147668;
  const int32_t one_third = 715827883;
  const int32_t x = a + ((int32_t)1 << 28); /* a + 1/8 */
  const int32_t x2 = tm_sat_rounding_doubling_high_mul(x, x);
  const int32_t x3 = tm_sat_rounding_doubling_high_mul(x2, x);
  const int32_t x4 = tm_sat_rounding_doubling_high_mul(x2, x2);
  const int32_t x4_over_4 = tm_rounding_divide_by_pot(x4, 2);
  /* x^4/24 + x^3/6 + x^2/2 = ((x^4/4 + x^3) / 3 + x^2) / 2 */
  const int32_t higher_terms =
      tm_rounding_divide_by_pot(tm_sat_rounding_doubling_high_mul(x4_over_4 + x3, one_third) + x2, 1);
  return exp_minus_one_eighth + tm_sat_rounding_doubling_high_mul(exp_minus_one_eighth, x + higher_terms);
}

/*
 * exp(a) for a <= 0 given in Q(integer_bits), integer_bits in [0, 5];
 * returns Q0. a = (a mod 1/4 - 1/4) - k/4: the first part goes through the
 * polynomial, then each set bit of k multiplies by exp(-2^j).
 */
static inline int32_t tm_fp_exp_on_negative_values(int32_t a, int32_t integer_bits) {
  static const int32_t exp_minus_pot[7] = {
      1672461947, /* exp(-1/4) */
      1302514674, /* exp(-1/2) */
      790015084,  /* exp(-1) */
      290630308,  /* exp(-2) */
      39332535,   /* exp(-4) */
      720401,     /* exp(-8) */
      242,        /* exp(-16) */
  };
  if (a == 0) {
    return TM_FP_Q0_ONE;
  }
  const int32_t fraction_bits = 31 - integer_bits;
  const int32_t quarter = (int32_t)1 << (fraction_bits - 2);
  const int32_t a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter;
  const int32_t in_q0 =
      integer_bits > 0 ? tm_fp_sat_shift_left(a_mod_quarter_minus_quarter, integer_bits) : a_mod_quarter_minus_quarter;
  int32_t result = tm_fp_exp_on_negative_quarter(in_q0);
  const int32_t remainder = a_mod_quarter_minus_quarter - a;
  for (int32_t j = -2; j <= 4 && j < integer_bits; ++j) {
    if (remainder & ((int32_t)1 << (fraction_bits + j))) {
      result = tm_sat_rounding_doubling_high_mul(result, exp_minus_pot[j + 2]);
    }
  }
  return result;
}

/* 1 / (1 + a) for a Q0 value a in [0, 1): three Newton-Raphson steps on (1 + a) / 2, in Q2. */
static inline int32_t tm_fp_one_over_one_plus_x_for_x_in_0_1(int32_t a) {
  const int32_t q2_one = (int32_t)1 << 29;
  const int32_t q2_48_over_17 = 1515870810;
  const int32_t q2_minus_32_over_17 = -1010580540;
  const int32_t half_denominator = tm_fp_rounding_half_sum(a, TM_FP_Q0_ONE);
  int32_t x = q2_48_over_17 + tm_sat_rounding_doubling_high_mul(half_denominator, q2_minus_32_over_17);
  for (int32_t i = 0; i < 3; ++i) {
    const int32_t one_minus_half_denominator_times_x = q2_one - tm_sat_rounding_doubling_high_mul(half_denominator, x);
    /* x * (...) is Q4; back to Q2 */
    x += tm_fp_sat_shift_left(tm_sat_rounding_doubling_high_mul(x, one_minus_half_denominator_times_x), 2);
  }
  /* x approximates 2 / (1 + a) in Q2, i.e. 1 / (1 + a) in Q1; back to Q0 */
  return tm_fp_sat_shift_left(x, 1);
}

/* 1 / (1 + exp(-a)) for a in Q(integer_bits), integer_bits in [0, 5], |a| not INT32_MIN; returns Q0. */
static inline int32_t tm_fp_logistic(int32_t a, int32_t integer_bits) {
  if (a == 0) {
    return (int32_t)1 << 30; /* 1/2 */
  }
  const int32_t minus_abs = a > 0 ? -a : a;
  const int32_t exp_minus_abs = tm_fp_exp_on_negative_values(minus_abs, integer_bits);
  const int32_t for_positive = tm_fp_one_over_one_plus_x_for_x_in_0_1(exp_minus_abs);
  return a > 0 ? for_positive : TM_FP_Q0_ONE - for_positive;
}

#endif /* TINYML_TM_FIXEDPOINT_H */
