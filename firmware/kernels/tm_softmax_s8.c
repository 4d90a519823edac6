/*
 * SOFTMAX, int8 input, int8 output (scale 1/256, zero point -128), with
 * TFLite Micro's integer arithmetic: per row, exp(beta * scale * (x - max))
 * in Q0 from the Q5.26 difference, summed in Q12, one reciprocal per row,
 * then each exp times the reciprocal. Exps are recomputed in the second
 * pass rather than stored, so the kernel needs no scratch.
 */
#include "tinyml/tm_fixedpoint.h"
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

enum {
  SCALED_DIFF_INTEGER_BITS = 5,
  ACCUM_INTEGER_BITS = 12,
  OUTPUT_BITS = 8
};

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

/* exp(beta * scale * diff) in Q0 for diff >= diff_min (so the shifted diff cannot overflow). */
static inline int32_t exp_of_diff(int32_t diff, const tm_per_tensor_quant *quant) {
  const int32_t shifted = (int32_t)((uint32_t)diff << quant->shift);
  const int32_t scaled = tm_sat_rounding_doubling_high_mul(shifted, quant->multiplier);
  return tm_fp_exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS);
}

tm_status tm_softmax_s8(const tm_context *ctx, const tm_softmax_params *params, const tm_per_tensor_quant *quant,
                        const tm_dims *input_dims, const int8_t *input, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const int32_t depth = input_dims->c;
  const int32_t rows = input_dims->n * input_dims->h * input_dims->w;
  if (output_dims->c != depth || output_dims->n * output_dims->h * output_dims->w != rows) {
    return TM_ERROR_ARG;
  }
  const int32_t diff_min = params->diff_min;
  for (int32_t r = 0; r < rows; ++r) {
    int32_t max = INT8_MIN;
    for (int32_t c = 0; c < depth; ++c) {
      max = TM_MAX(max, input[c]);
    }

    /* Sum of exps in Q12; each term is at most 1.0 = 2^19. */
    int32_t sum = 0;
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t diff = input[c] - max;
      if (diff >= diff_min) {
        sum += tm_rounding_divide_by_pot(exp_of_diff(diff, quant), ACCUM_INTEGER_BITS); /* Q0 -> Q12 */
        if (sum >= (1 << 28)) { /* exp sum >= 512: the output shift would pass 31, TFLM aborts */
          return TM_ERROR_ARG;
        }
      }
    }

    /*
     * sum = 2^bits_over_unit * (1 + f), f in [0, 1): take 1 / (1 + f) in Q0
     * and fold 2^-bits_over_unit into the final rounding shift.
     */
    const int32_t headroom_plus_one = count_leading_zeros((uint32_t)sum);
    const int32_t bits_over_unit = ACCUM_INTEGER_BITS - headroom_plus_one;
    const int32_t f = (int32_t)(((uint32_t)sum << headroom_plus_one) - 0x80000000u);
    const int32_t reciprocal = tm_fp_one_over_one_plus_x_for_x_in_0_1(f);
    const int32_t exponent = bits_over_unit + 31 - OUTPUT_BITS;

    for (int32_t c = 0; c < depth; ++c) {
      const int32_t diff = input[c] - max;
      int32_t out = INT8_MIN;
      if (diff >= diff_min) {
        const int32_t prob = tm_sat_rounding_doubling_high_mul(reciprocal, exp_of_diff(diff, quant));
        out = tm_rounding_divide_by_pot(prob, exponent) + INT8_MIN;
      }
      output[c] = tm_clamp_s8(out, INT8_MIN, INT8_MAX);
    }
    input += depth;
    output += depth;
  }
  return TM_OK;
}
