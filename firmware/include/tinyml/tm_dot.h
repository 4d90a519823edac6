/* Inner loops shared by the convolution kernels. */
#ifndef TINYML_TM_DOT_H
#define TINYML_TM_DOT_H

#include <stdint.h>

/* Two dot products of `x` against two weight rows: each input load feeds two channels. */
static inline void tm_dot2_s8(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t *acc0,
                              int32_t *acc1) {
  int32_t a0 = *acc0;
  int32_t a1 = *acc1;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t v = x[i];
    a0 += v * w0[i];
    a1 += v * w1[i];
  }
  *acc0 = a0;
  *acc1 = a1;
}

/* Sum of weights: what a folded bias counted for taps that fall in the padding. */
static inline int32_t tm_sum_s8(const int8_t *w, int32_t n) {
  int32_t s = 0;
  for (int32_t i = 0; i < n; ++i) {
    s += w[i];
  }
  return s;
}

/*
 * Packed int4 weights (TFLite's INT4, CMSIS-NN's s4): element i of a tensor is
 * the low nibble of byte i / 2 when i is even, the high nibble when it is odd,
 * as a signed 4-bit value. A row of a packed tensor is addressed by the index
 * of its first element, which may fall in the middle of a byte.
 */
static inline int32_t tm_s4_lo(int8_t b) {
  return (int32_t)(int8_t)((uint8_t)b << 4) >> 4;
}

static inline int32_t tm_s4_hi(int8_t b) {
  return (int32_t)b >> 4;
}

/* Element `i` of a packed int4 tensor. */
static inline int32_t tm_s4_at(const int8_t *w, int32_t i) {
  return (i & 1) ? tm_s4_hi(w[i >> 1]) : tm_s4_lo(w[i >> 1]);
}

/* Dot product of `x` with the n packed int4 weights that start at element `start` of `w`. */
static inline int32_t tm_dot_s4(const int8_t *x, const int8_t *w, int32_t start, int32_t n, int32_t acc) {
  if (n <= 0) {
    return acc;
  }
  const int8_t *p = w + (start >> 1);
  if (start & 1) {
    acc += x[0] * tm_s4_hi(*p++);
    ++x;
    --n;
  }
  for (; n >= 2; n -= 2, x += 2) {
    const int8_t b = *p++;
    acc += x[0] * tm_s4_lo(b) + x[1] * tm_s4_hi(b);
  }
  if (n) {
    acc += x[0] * tm_s4_lo(*p);
  }
  return acc;
}

/*
 * Two dot products of `x` against two packed weight rows starting at elements
 * s0 and s1: when the rows start on the same half of a byte, each input load
 * feeds both channels (the usual case: even rows); otherwise one row at a time.
 */
static inline void tm_dot2_s4(const int8_t *x, const int8_t *w, int32_t s0, int32_t s1, int32_t n, int32_t *acc0,
                              int32_t *acc1) {
  if (((s0 ^ s1) & 1) || n <= 0) {
    *acc0 = tm_dot_s4(x, w, s0, n, *acc0);
    *acc1 = tm_dot_s4(x, w, s1, n, *acc1);
    return;
  }
  int32_t a0 = *acc0;
  int32_t a1 = *acc1;
  const int8_t *p0 = w + (s0 >> 1);
  const int8_t *p1 = w + (s1 >> 1);
  if (s0 & 1) {
    a0 += x[0] * tm_s4_hi(*p0++);
    a1 += x[0] * tm_s4_hi(*p1++);
    ++x;
    --n;
  }
  for (; n >= 2; n -= 2, x += 2) {
    const int32_t v0 = x[0];
    const int32_t v1 = x[1];
    const int8_t b0 = *p0++;
    const int8_t b1 = *p1++;
    a0 += v0 * tm_s4_lo(b0) + v1 * tm_s4_hi(b0);
    a1 += v0 * tm_s4_lo(b1) + v1 * tm_s4_hi(b1);
  }
  if (n) {
    a0 += x[0] * tm_s4_lo(*p0);
    a1 += x[0] * tm_s4_lo(*p1);
  }
  *acc0 = a0;
  *acc1 = a1;
}

/* Sum of n packed int4 weights from element `start`: what a folded bias counted for taps in the padding. */
static inline int32_t tm_sum_s4(const int8_t *w, int32_t start, int32_t n) {
  int32_t s = 0;
  for (int32_t i = start; i < start + n; ++i) {
    s += tm_s4_at(w, i);
  }
  return s;
}

#endif /* TINYML_TM_DOT_H */
