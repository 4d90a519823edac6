/*
 * FULLY_CONNECTED, weights with zero point 0 (tinyml's fast kernels, see tm_fast.h).
 *
 * A matrix-vector product: every weight is used once, so the work is loading
 * and sign-extending weights. The rows go four at a time, interleaved word by
 * word at compile time, so per group of four inputs one load and two SXTB16
 * bring the inputs, and two doubleword loads four rows' weights for eight
 * SXTB16 and eight SMLAD (16 MACs in about 21 instructions). Sign-extending
 * the input again for every four rows costs two instructions per group and
 * saves the scratch an expanded copy would take (twice the input). The bias
 * is its own array (padded to whole fours of rows); the requantization is one
 * shared tm_fast_channel (channel_step 0, per-tensor weights: no flash per row)
 * or one per row (channel_step 1; its bias field is unused).
 */
#include "tinyml/tm_fast.h"

int32_t tm_fast_fully_connected_s8_get_buffer_size(const tm_dims *input_dims) {
  (void)input_dims;
  return 0;
}

#if defined(__GNUC__)
#define TM_FAST_INLINE static inline __attribute__((always_inline))
#else
#define TM_FAST_INLINE static inline
#endif

/* Four rows against `groups` words of input (any alignment: LDR, never LDRD, reads them). */
TM_FAST_INLINE void dot_4(const int8_t *c, int32_t groups, const uint32_t *w, int32_t *p0, int32_t *p1,
                          int32_t *p2, int32_t *p3) {
  int32_t a0 = *p0;
  int32_t a1 = *p1;
  int32_t a2 = *p2;
  int32_t a3 = *p3;
#if TM_FAST_DSP && defined(__GNUC__)
  if (groups > 0) {
    uint32_t xa, xb, w0, w1, t;
    int32_t n = groups;
    /* Two groups per turn (an odd count enters at the second): half a loop branch per group. */
#define TM_FAST_GROUP_4                      \
  "ldr %[t], [%[c]], #4\n\t"                \
  "sxtb16 %[xa], %[t]\n\t"                  \
  "sxtb16 %[xb], %[t], ror #8\n\t"          \
  "ldrd %[w0], %[w1], [%[w]], #8\n\t"       \
  "sxtb16 %[t], %[w0]\n\t"                  \
  "smlad %[a0], %[t], %[xa], %[a0]\n\t"     \
  "sxtb16 %[t], %[w0], ror #8\n\t"          \
  "smlad %[a0], %[t], %[xb], %[a0]\n\t"     \
  "sxtb16 %[t], %[w1]\n\t"                  \
  "smlad %[a1], %[t], %[xa], %[a1]\n\t"     \
  "sxtb16 %[t], %[w1], ror #8\n\t"          \
  "smlad %[a1], %[t], %[xb], %[a1]\n\t"     \
  "ldrd %[w0], %[w1], [%[w]], #8\n\t"       \
  "sxtb16 %[t], %[w0]\n\t"                  \
  "smlad %[a2], %[t], %[xa], %[a2]\n\t"     \
  "sxtb16 %[t], %[w0], ror #8\n\t"          \
  "smlad %[a2], %[t], %[xb], %[a2]\n\t"     \
  "sxtb16 %[t], %[w1]\n\t"                  \
  "smlad %[a3], %[t], %[xa], %[a3]\n\t"     \
  "sxtb16 %[t], %[w1], ror #8\n\t"          \
  "smlad %[a3], %[t], %[xb], %[a3]\n\t"
    __asm__ volatile(
        "lsrs %[n], %[n], #1\n\t"
        "bcs 2f\n\t"
        "subs %[n], %[n], #1\n\t"
        "1:\n\t" TM_FAST_GROUP_4 "2:\n\t" TM_FAST_GROUP_4
        "subs %[n], %[n], #1\n\t"
        "bpl 1b\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [c] "+r"(c), [w] "+r"(w), [n] "+r"(n),
          [xa] "=&r"(xa), [xb] "=&r"(xb), [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(t)
        :
        : "cc", "memory");
#undef TM_FAST_GROUP_4
  }
#else
  for (int32_t g = 0; g < groups; ++g) {
    const uint32_t x = tm_fast_load32(c);
    const uint32_t xa = tm_fast_sxtb16(x);
    const uint32_t xb = tm_fast_sxtb16_ror8(x);
    c += 4;
    a0 = tm_fast_smlad(tm_fast_sxtb16_ror8(w[0]), xb, tm_fast_smlad(tm_fast_sxtb16(w[0]), xa, a0));
    a1 = tm_fast_smlad(tm_fast_sxtb16_ror8(w[1]), xb, tm_fast_smlad(tm_fast_sxtb16(w[1]), xa, a1));
    a2 = tm_fast_smlad(tm_fast_sxtb16_ror8(w[2]), xb, tm_fast_smlad(tm_fast_sxtb16(w[2]), xa, a2));
    a3 = tm_fast_smlad(tm_fast_sxtb16_ror8(w[3]), xb, tm_fast_smlad(tm_fast_sxtb16(w[3]), xa, a3));
    w += 4;
  }
#endif
  *p0 = a0;
  *p1 = a1;
  *p2 = a2;
  *p3 = a3;
}

tm_status tm_fast_fully_connected_s8(const tm_context *ctx, const tm_activation *act, const tm_dims *input_dims,
                                     const int8_t *input, const int8_t *weights, const int32_t *bias,
                                     const tm_fast_channel *channels, int32_t channel_step, int32_t units,
                                     int8_t *output) {
  (void)ctx;
  const int32_t depth = input_dims->c;
  const int32_t full = depth / 4;
  const int32_t groups = (depth + 3) / 4;
  const uint32_t *w_all = (const uint32_t *)(const void *)weights;
  const int all = act->min <= -128 && act->max >= 127;
  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int8_t *x = input + b * depth;
    int8_t tail[4] = {0, 0, 0, 0}; /* the last group's missing inputs meet zero weights */
    memcpy(tail, x + 4 * full, (size_t)(depth - 4 * full));
    const uint32_t *w = w_all;
    int8_t *out = output + b * units;
    const tm_fast_channel *ch = channels;
    for (int32_t u = 0; u < units; u += 4) {
      int32_t a0 = bias[u];
      int32_t a1 = bias[u + 1];
      int32_t a2 = bias[u + 2];
      int32_t a3 = bias[u + 3];
      dot_4(x, full, w, &a0, &a1, &a2, &a3);
      if (full < groups) {
        dot_4(tail, 1, w + 4 * full, &a0, &a1, &a2, &a3);
      }
      w += 4 * groups;
      if (all && u + 4 <= units) { /* the common case, straight-line */
        const tm_fast_channel *c1 = ch + channel_step;
        const tm_fast_channel *c2 = c1 + channel_step;
        const tm_fast_channel *c3 = c2 + channel_step;
        out[u] = (int8_t)tm_fast_sat8(tm_fast_requant(a0, ch->mult, ch->add, ch->shift));
        out[u + 1] = (int8_t)tm_fast_sat8(tm_fast_requant(a1, c1->mult, c1->add, c1->shift));
        out[u + 2] = (int8_t)tm_fast_sat8(tm_fast_requant(a2, c2->mult, c2->add, c2->shift));
        out[u + 3] = (int8_t)tm_fast_sat8(tm_fast_requant(a3, c3->mult, c3->add, c3->shift));
        ch = c3 + channel_step;
        continue;
      }
      const int32_t acc[4] = {a0, a1, a2, a3};
      for (int32_t i = 0; i < 4 && u + i < units; ++i) {
        const int32_t v = tm_fast_sat8(tm_fast_requant(acc[i], ch->mult, ch->add, ch->shift));
        out[u + i] = (int8_t)(all ? v : (v < act->min ? act->min : (v > act->max ? act->max : v)));
        ch += channel_step;
      }
    }
  }
  return TM_OK;
}
