/*
 * SOFTMAX, int16 input and output (zero points 0, output Q0.15), as TFLite
 * Micro's SoftmaxInt16 computes it: per row, each input's difference to the
 * row maximum scaled to [-65535, 0] ~ [-10, 0] and recentred to int16, exp
 * by interpolation in a 513-entry table, the sum of exps normalised to 17
 * bits and recentred, 1 / (1 + x) by the same interpolation in a second
 * table, then each exp times that reciprocal, shifted back. The exps are
 * cached in the output row, so the kernel needs no scratch and may run in
 * place (each input is read before its output is written).
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

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

/* Table lookup with interpolation: the top 9 bits of x + 32768 index, the low 7 interpolate (rounded). */
static inline int32_t lut_lookup(int32_t x, const int16_t *lut) {
  const int32_t index = 256 + (x >> 7);
  const int32_t base = lut[index];
  const int32_t slope = lut[index + 1] - base;
  return base + ((slope * (x & 0x7F) + 64) >> 7);
}

tm_status tm_softmax_s16(const tm_context *ctx, const tm_softmax_s16_params *params, const tm_per_tensor_quant *quant,
                         const tm_dims *input_dims, const int16_t *input, const tm_dims *output_dims,
                         int16_t *output) {
  (void)ctx;
  const int32_t depth = input_dims->c;
  const int32_t rows = input_dims->n * input_dims->h * input_dims->w;
  if (output_dims->c != depth || output_dims->n * output_dims->h * output_dims->w != rows || depth < 1) {
    return TM_ERROR_ARG;
  }
  for (int32_t r = 0; r < rows; ++r) {
    int32_t max = INT16_MIN;
    for (int32_t c = 0; c < depth; ++c) {
      max = TM_MAX(max, input[c]);
    }

    int32_t sum = 0; /* of exps in Q0.15: at most depth * 32767 */
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t scaled = tm_requantize(input[c] - max, quant->multiplier, quant->shift) + INT16_MAX;
      const int32_t e = lut_lookup(TM_MAX(INT16_MIN, TM_MIN(INT16_MAX, scaled)), params->exp_lut);
      output[c] = (int16_t)e;
      sum += e;
    }

    /* sum normalised to [2^30, 2^31), rounded to 2^16 * (1 + x) with x in [0, 1], recentred to int16 */
    const int32_t headroom_plus_one = count_leading_zeros((uint32_t)sum);
    const int32_t shifted = (int32_t)((((int64_t)sum << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
    const int32_t x = TM_MAX(INT16_MIN, TM_MIN(INT16_MAX, shifted - ((1 << 15) + (1 << 16))));
    const int64_t reciprocal = lut_lookup(x, params->one_over_one_plus_x_lut);

    const int32_t right_shift = 31 - headroom_plus_one;
    const int64_t round = (int64_t)1 << (right_shift - 1);
    for (int32_t c = 0; c < depth; ++c) {
      const int32_t y = (int32_t)((output[c] * reciprocal + round) >> right_shift);
      output[c] = (int16_t)TM_MAX(0, TM_MIN(INT16_MAX, y));
    }
    input += depth;
    output += depth;
  }
  return TM_OK;
}
