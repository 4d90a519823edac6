/*
 * The blocked matrix product of tinyml's fast convolutions, for int4 weights (see tm_fast.h).
 *
 * The same 2x2 blocks as tm_fast_mat_mult_s8, but one word per group holds
 * both channels' four weights: channel 2j's in the high nibbles of its bytes,
 * channel 2j+1's in the low ones. W & 0xF0F0F0F0 and (W << 4) & 0xF0F0F0F0
 * are then bytes of exactly 16 * w, which SXTB16 widens as it widens int8
 * weights; the products are 16 times the dot products, exactly (the compiler
 * bounds |sum| below 2^31), so each accumulator is bias + (sum >> 4). Two
 * instructions per group more than the int8 loop (an AND each; the second
 * takes W shifted), one load fewer bytes: half the weights' flash.
 */
#include "tinyml/tm_fast.h"

#if defined(__GNUC__)
#define TM_FAST_INLINE static inline __attribute__((always_inline))
#else
#define TM_FAST_INLINE static inline
#endif

#define NIBBLES 0xF0F0F0F0u

TM_FAST_INLINE int8_t finish(int32_t acc, const tm_fast_channel *ch, int full, int32_t lo, int32_t hi) {
  int32_t v = tm_fast_sat8(tm_fast_requant(acc, ch->mult, ch->add, ch->shift));
  if (!full) {
    v = v < lo ? lo : (v > hi ? hi : v);
  }
  return (int8_t)v;
}

/* 16 times both channels' dot products with both pixels, added to the four accumulators; returns the next
 * weights. */
TM_FAST_INLINE const uint32_t *dot_2x2(const uint32_t *c, int32_t groups, const uint32_t *w, int32_t *p00,
                                       int32_t *p01, int32_t *p10, int32_t *p11) {
  int32_t a00 = *p00;
  int32_t a01 = *p01;
  int32_t a10 = *p10;
  int32_t a11 = *p11;
#if TM_FAST_DSP && defined(__GNUC__) && defined(__OPTIMIZE__)
  /*
   * Fourteen live registers: the int8 loop's thirteen and the nibble mask (so not at -O0, where GCC keeps a
   * frame pointer and the C loop below runs instead). Each group's word is split into
   * 16 * channel 0 (w0) and 16 * channel 1 (w1), then widened exactly as the int8 loop widens its doubleword.
   */
  if (groups > 0) {
    uint32_t w0, w1, t, u, xa, xb;
    const uint32_t mask = NIBBLES;
    int32_t n = groups;
#define TM_FAST_GROUP_2X2_S4                            \
  "ldr %[w1], [%[w]], #4\n\t"                          \
  "ldrd %[xa], %[xb], [%[c]], #8\n\t"                  \
  "and %[w0], %[w1], %[m]\n\t"                         \
  "and %[w1], %[m], %[w1], lsl #4\n\t"                 \
  "sxtb16 %[t], %[w0]\n\t"                             \
  "sxtb16 %[u], %[w1]\n\t"                             \
  "sxtb16 %[w0], %[w0], ror #8\n\t"                    \
  "sxtb16 %[w1], %[w1], ror #8\n\t"                    \
  "smlad %[a00], %[t], %[xa], %[a00]\n\t"              \
  "smlad %[a10], %[u], %[xa], %[a10]\n\t"              \
  "smlad %[a00], %[w0], %[xb], %[a00]\n\t"             \
  "smlad %[a10], %[w1], %[xb], %[a10]\n\t"             \
  "ldrd %[xa], %[xb], [%[c]], #8\n\t"                  \
  "smlad %[a01], %[t], %[xa], %[a01]\n\t"              \
  "smlad %[a11], %[u], %[xa], %[a11]\n\t"              \
  "smlad %[a01], %[w0], %[xb], %[a01]\n\t"             \
  "smlad %[a11], %[w1], %[xb], %[a11]\n\t"
    __asm__ volatile(
        "lsrs %[n], %[n], #1\n\t"
        "bcs 2f\n\t"
        "subs %[n], %[n], #1\n\t"
        "1:\n\t" TM_FAST_GROUP_2X2_S4 "2:\n\t" TM_FAST_GROUP_2X2_S4
        "subs %[n], %[n], #1\n\t"
        "bpl 1b\n\t"
        : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [c] "+r"(c), [w] "+r"(w),
          [n] "+r"(n), [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(t), [u] "=&r"(u), [xa] "=&r"(xa), [xb] "=&r"(xb)
        : [m] "r"(mask)
        : "cc", "memory");
#undef TM_FAST_GROUP_2X2_S4
  }
#else
  for (int32_t g = 0; g < groups; ++g) {
    const uint32_t packed = *w++;
    const uint32_t w0 = packed & NIBBLES;
    const uint32_t w1 = (packed << 4) & NIBBLES;
    const uint32_t x0a = c[0];
    const uint32_t x0b = c[1];
    const uint32_t x1a = c[2];
    const uint32_t x1b = c[3];
    c += 4;
    uint32_t t = tm_fast_sxtb16(w0);
    a00 = tm_fast_smlad(t, x0a, a00);
    a01 = tm_fast_smlad(t, x1a, a01);
    t = tm_fast_sxtb16_ror8(w0);
    a00 = tm_fast_smlad(t, x0b, a00);
    a01 = tm_fast_smlad(t, x1b, a01);
    t = tm_fast_sxtb16(w1);
    a10 = tm_fast_smlad(t, x0a, a10);
    a11 = tm_fast_smlad(t, x1a, a11);
    t = tm_fast_sxtb16_ror8(w1);
    a10 = tm_fast_smlad(t, x0b, a10);
    a11 = tm_fast_smlad(t, x1b, a11);
  }
#endif
  *p00 = a00;
  *p01 = a01;
  *p10 = a10;
  *p11 = a11;
  return w;
}

/* Requantizes two 16x sums of one channel into *o0 and *o1 (the whole int8 range: no clamp). */
TM_FAST_INLINE void finish_pair(int32_t a0, int32_t a1, const tm_fast_channel *ch, int8_t *o0, int8_t *o1) {
#if TM_FAST_DSP && defined(__GNUC__)
  const int32_t b = ch->bias;
  const int32_t m = ch->mult;
  const int32_t add = ch->add;
  const int32_t sh = ch->shift;
  int32_t t;
  __asm__(
      "add %[a0], %[b], %[a0], asr #4\n\t"
      "add %[a1], %[b], %[a1], asr #4\n\t"
      "add %[t], %[add], %[a0], asr #31\n\t"
      "lsl %[a0], %[a0], #1\n\t"
      "smmlar %[a0], %[a0], %[m], %[t]\n\t"
      "asr %[a0], %[a0], %[sh]\n\t"
      "ssat %[a0], #8, %[a0]\n\t"
      "add %[t], %[add], %[a1], asr #31\n\t"
      "lsl %[a1], %[a1], #1\n\t"
      "smmlar %[a1], %[a1], %[m], %[t]\n\t"
      "asr %[a1], %[a1], %[sh]\n\t"
      "ssat %[a1], #8, %[a1]\n\t"
      : [a0] "+&r"(a0), [a1] "+&r"(a1), [t] "=&r"(t)
      : [b] "r"(b), [m] "r"(m), [add] "r"(add), [sh] "r"(sh));
  *o0 = (int8_t)a0;
  *o1 = (int8_t)a1;
#else
  *o0 = finish(ch->bias + (a0 >> 4), ch, 1, -128, 127);
  *o1 = finish(ch->bias + (a1 >> 4), ch, 1, -128, 127);
#endif
}

TM_FAST_INLINE void two_pixels(const uint32_t *cols, int32_t groups, const uint32_t *w, const tm_fast_channel *ch,
                               int32_t out_ch, int full, int32_t lo, int32_t hi, int8_t *out0, int8_t *out1) {
  /* Channel pairs; an odd last channel still runs as a pair (its partner is zeros) but stores one. */
  for (int32_t left = out_ch; left > 0; left -= 2) {
    int32_t a00 = 0; /* channel 0, pixel 0 */
    int32_t a01 = 0;
    int32_t a10 = 0;
    int32_t a11 = 0;
    w = dot_2x2(cols, groups, w, &a00, &a01, &a10, &a11);
    if (full) {
      finish_pair(a00, a01, &ch[0], out0, out1);
      if (left == 1) {
        break;
      }
      finish_pair(a10, a11, &ch[1], out0 + 1, out1 + 1);
    } else {
      out0[0] = finish(ch[0].bias + (a00 >> 4), &ch[0], 0, lo, hi);
      out1[0] = finish(ch[0].bias + (a01 >> 4), &ch[0], 0, lo, hi);
      if (left == 1) {
        break;
      }
      out0[1] = finish(ch[1].bias + (a10 >> 4), &ch[1], 0, lo, hi);
      out1[1] = finish(ch[1].bias + (a11 >> 4), &ch[1], 0, lo, hi);
    }
    out0 += 2;
    out1 += 2;
    ch += 2;
  }
}

TM_FAST_INLINE void one_pixel(const uint32_t *cols, int32_t groups, const uint32_t *w, const tm_fast_channel *ch,
                              int32_t out_ch, int full, int32_t lo, int32_t hi, int8_t *out0) {
  for (int32_t left = out_ch; left > 0; left -= 2) {
    int32_t a0 = 0;
    int32_t a1 = 0;
    const uint32_t *c = cols;
    for (int32_t g = 0; g < groups; ++g) {
      const uint32_t packed = *w++;
      const uint32_t w0 = packed & NIBBLES;
      const uint32_t w1 = (packed << 4) & NIBBLES;
      const uint32_t xa = c[0];
      const uint32_t xb = c[1];
      c += 2;
      a0 = tm_fast_smlad(tm_fast_sxtb16(w0), xa, a0);
      a0 = tm_fast_smlad(tm_fast_sxtb16_ror8(w0), xb, a0);
      a1 = tm_fast_smlad(tm_fast_sxtb16(w1), xa, a1);
      a1 = tm_fast_smlad(tm_fast_sxtb16_ror8(w1), xb, a1);
    }
    out0[0] = finish(ch[0].bias + (a0 >> 4), &ch[0], full, lo, hi);
    if (left == 1) {
      break;
    }
    out0[1] = finish(ch[1].bias + (a1 >> 4), &ch[1], full, lo, hi);
    out0 += 2;
    ch += 2;
  }
}

void tm_fast_mat_mult_s4(const uint32_t *cols, int32_t groups, int32_t pixels, const int8_t *weights,
                         const tm_fast_channel *channels, int32_t out_ch, const tm_activation *act, int8_t *out0,
                         int8_t *out1) {
  const uint32_t *w = (const uint32_t *)(const void *)weights;
  const int32_t lo = act->min;
  const int32_t hi = act->max;
  if (lo <= -128 && hi >= 127) {
    if (pixels == 2) {
      two_pixels(cols, groups, w, channels, out_ch, 1, -128, 127, out0, out1);
    } else {
      one_pixel(cols, groups, w, channels, out_ch, 1, -128, 127, out0);
    }
  } else if (pixels == 2) {
    two_pixels(cols, groups, w, channels, out_ch, 0, lo, hi, out0, out1);
  } else {
    one_pixel(cols, groups, w, channels, out_ch, 0, lo, hi, out0);
  }
}
