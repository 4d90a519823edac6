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

#endif /* TINYML_TM_DOT_H */
