/*
 * DEPTHWISE_CONV_2D 3x3, depth multiplier 1, stride 1 or 2, padding <= 1
 * (tinyml's fast kernels, see tm_fast.h).
 *
 * In NHWC the taps of one channel are scattered, so SMLAD has nothing to pair.
 * Each channel is therefore copied, sign-extended, into an int16 plane whose
 * border holds the input zero point (written once: only the interior changes
 * between channels). In the plane neighbouring pixels are neighbouring
 * halfwords: a kernel row is one SMLAD over (w0, w1) plus one 16x16 MAC for
 * w2, and two stride-1 outputs share their loads (the second pairs up with
 * SMLADX over one PKHBT). Output rows are built in an int32 row of
 * accumulators one kernel row at a time, so each pass keeps everything it
 * touches in registers, then requantized in a pass of their own. Narrow
 * images (KWS's 25x5) are walked transposed, so that rows are long and the
 * per-row costs few; the weights are transposed to match. The driver
 * (tm_fast_depthwise3x3_run) also takes int4 weights, whose 9 per channel it
 * unpacks as it reaches the channel (tm_fast_depthwise3x3_s4.c).
 */
#include "tinyml/tm_fast.h"
#include "tinyml/tm_math.h"

#if defined(__GNUC__)
#define TM_FAST_INLINE static inline __attribute__((always_inline))
#else
#define TM_FAST_INLINE static inline
#endif

/* The image as the kernel walks it: rows of `w` pixels (image columns when transposed). */
typedef struct {
  int32_t in_h, in_w, out_h, out_w, pad_h, pad_w;
  int32_t src_row, src_col; /* input bytes between rows, between pixels of a row */
  int32_t dst_row, dst_col; /* output bytes likewise */
  int32_t rows, width;      /* the int16 plane: rows, halfwords per row (even: rows stay word aligned) */
  int transposed;
} view;

static view view_of(const tm_fast_conv_params *params, const tm_dims *in, const tm_dims *out) {
  const int32_t c = in->c;
  view v;
  v.transposed = in->w < in->h;
  if (v.transposed) {
    v.in_h = in->w, v.in_w = in->h, v.out_h = out->w, v.out_w = out->h;
    v.pad_h = params->padding.w, v.pad_w = params->padding.h;
    v.src_row = c, v.src_col = in->w * c, v.dst_row = c, v.dst_col = out->w * c;
  } else {
    v.in_h = in->h, v.in_w = in->w, v.out_h = out->h, v.out_w = out->w;
    v.pad_h = params->padding.h, v.pad_w = params->padding.w;
    v.src_row = in->w * c, v.src_col = c, v.dst_row = out->w * c, v.dst_col = c;
  }
  const int32_t s = params->stride.w;
  const int32_t need_w = s == 1 ? ((v.out_w + 1) & ~1) + 2 : 2 * v.out_w + 2;
  const int32_t need_h = (v.out_h - 1) * s + 3;
  v.rows = TM_MAX(need_h, v.in_h + v.pad_h);
  v.width = (TM_MAX(need_w, v.in_w + v.pad_w) + 1) & ~1;
  return v;
}

int32_t tm_fast_depthwise3x3_s8_get_buffer_size(const tm_fast_conv_params *params, const tm_dims *input_dims,
                                                const tm_dims *output_dims) {
  const view v = view_of(params, input_dims, output_dims);
  return v.rows * v.width * 2 + (v.out_w + 1) / 2 * 8;
}

/* Adds one kernel row (w01 = (w0, w1), w2) of a stride-1 output row to acc, two outputs per step. */
TM_FAST_INLINE void row_s1(const int16_t *r, uint32_t w01, uint32_t w2, int32_t *acc, int32_t pairs) {
  uint32_t p = tm_fast_load32(r);
  r += 2;
  if (pairs & 1) {
    const uint32_t q = tm_fast_load32(r);
    acc[0] = tm_fast_smlabb(q, w2, tm_fast_smlad(p, w01, acc[0]));
    acc[1] = tm_fast_smlatb(q, w2, tm_fast_smladx(tm_fast_pkhbt(q, p), w01, acc[1]));
    acc += 2;
    r += 2;
    p = q;
  }
  int32_t n = pairs / 2;
#if TM_FAST_DSP && defined(__GNUC__)
  /* Unrolled so p and q swap roles instead of being copied; loads and stores post-increment. */
  if (n > 0) {
    uint32_t q, m;
    int32_t a0, a1;
    __asm__ volatile(
        "1:\n\t"
        "ldr %[q], [%[r]], #4\n\t"
        "ldrd %[a0], %[a1], [%[acc]]\n\t"
        "smlad %[a0], %[p], %[w01], %[a0]\n\t"
        "pkhbt %[m], %[q], %[p]\n\t"
        "smlabb %[a0], %[q], %[w2], %[a0]\n\t"
        "smladx %[a1], %[m], %[w01], %[a1]\n\t"
        "smlatb %[a1], %[q], %[w2], %[a1]\n\t"
        "strd %[a0], %[a1], [%[acc]], #8\n\t"
        "ldr %[p], [%[r]], #4\n\t"
        "ldrd %[a0], %[a1], [%[acc]]\n\t"
        "smlad %[a0], %[q], %[w01], %[a0]\n\t"
        "pkhbt %[m], %[p], %[q]\n\t"
        "smlabb %[a0], %[p], %[w2], %[a0]\n\t"
        "smladx %[a1], %[m], %[w01], %[a1]\n\t"
        "smlatb %[a1], %[p], %[w2], %[a1]\n\t"
        "strd %[a0], %[a1], [%[acc]], #8\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        : [p] "+r"(p), [r] "+r"(r), [acc] "+r"(acc), [n] "+r"(n), [q] "=&r"(q), [m] "=&r"(m), [a0] "=&r"(a0),
          [a1] "=&r"(a1)
        : [w01] "r"(w01), [w2] "r"(w2)
        : "cc", "memory");
  }
#else
  for (; n > 0; --n) {
    for (int32_t half = 0; half < 2; ++half) {
      const uint32_t q = tm_fast_load32(r);
      acc[0] = tm_fast_smlabb(q, w2, tm_fast_smlad(p, w01, acc[0]));
      acc[1] = tm_fast_smlatb(q, w2, tm_fast_smladx(tm_fast_pkhbt(q, p), w01, acc[1]));
      acc += 2;
      r += 2;
      p = q;
    }
  }
#endif
}

/* The same for stride 2: output i reads pixels 2i .. 2i + 2. */
TM_FAST_INLINE void row_s2(const int16_t *r, uint32_t w01, uint32_t w2, int32_t *acc, int32_t outputs) {
  uint32_t p = tm_fast_load32(r);
  r += 2;
  if (outputs & 1) {
    const uint32_t q = tm_fast_load32(r);
    acc[0] = tm_fast_smlabb(q, w2, tm_fast_smlad(p, w01, acc[0]));
    acc += 1;
    r += 2;
    p = q;
  }
  int32_t n = outputs / 2;
#if TM_FAST_DSP && defined(__GNUC__)
  if (n > 0) {
    uint32_t q;
    int32_t a0, a1;
    __asm__ volatile(
        "1:\n\t"
        "ldr %[q], [%[r]], #4\n\t"
        "ldrd %[a0], %[a1], [%[acc]]\n\t"
        "smlad %[a0], %[p], %[w01], %[a0]\n\t"
        "smlabb %[a0], %[q], %[w2], %[a0]\n\t"
        "ldr %[p], [%[r]], #4\n\t"
        "smlad %[a1], %[q], %[w01], %[a1]\n\t"
        "smlabb %[a1], %[p], %[w2], %[a1]\n\t"
        "strd %[a0], %[a1], [%[acc]], #8\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        : [p] "+r"(p), [r] "+r"(r), [acc] "+r"(acc), [n] "+r"(n), [q] "=&r"(q), [a0] "=&r"(a0), [a1] "=&r"(a1)
        : [w01] "r"(w01), [w2] "r"(w2)
        : "cc", "memory");
  }
#else
  for (int32_t i = 0; i < 2 * n; ++i) {
    const uint32_t q = tm_fast_load32(r);
    acc[i] = tm_fast_smlabb(q, w2, tm_fast_smlad(p, w01, acc[i]));
    r += 2;
    p = q;
  }
#endif
}

/* Requantizes a row of accumulators into every step-th byte of dst. */
TM_FAST_INLINE void store_row(const int32_t *acc, int32_t n, const tm_fast_channel *ch, int32_t step, int full,
                              int32_t lo, int32_t hi, int8_t *dst) {
  const int32_t mult = ch->mult;
  const int32_t add = ch->add;
  const int32_t shift = ch->shift;
  for (int32_t i = 0; i < n; ++i) {
    int32_t v = tm_fast_sat8(tm_fast_requant(acc[i], mult, add, shift));
    if (!full) {
      v = v < lo ? lo : (v > hi ? hi : v);
    }
    *dst = (int8_t)v;
    dst += step;
  }
}

/* One row of the channel's input into the plane: n pixels src_col bytes apart, sign-extended. */
TM_FAST_INLINE void fill_row(const int8_t *src, int32_t src_col, int32_t n, int16_t *dst) {
  if (((uintptr_t)dst & 2u) != 0 && n > 0) { /* reach a word boundary: then two pixels per store */
    *dst++ = *src;
    src += src_col;
    --n;
  }
  uint32_t *d = (uint32_t *)(void *)dst;
  const int32_t col2 = 2 * src_col;
  const int32_t col3 = 3 * src_col;
  const int32_t col4 = 4 * src_col;
  for (; n >= 4; n -= 4) {
    const int32_t a = src[0];
    const int32_t b = src[src_col];
    const int32_t c = src[col2];
    const int32_t e = src[col3];
    src += col4;
    d[0] = tm_fast_pack16(a, b);
    d[1] = tm_fast_pack16(c, e);
    d += 2;
  }
  if (n >= 2) {
    d[0] = tm_fast_pack16(src[0], src[src_col]);
    src += col2;
    ++d;
    n -= 2;
  }
  if (n > 0) {
    *(int16_t *)(void *)d = *src;
  }
}

/* One channel's output plane from its int16 input plane, a row at a time: three kernel rows, then requantize. */
TM_FAST_INLINE void channel(const int16_t *plane, const view *v, const int8_t *w9, const tm_fast_channel *ch,
                            int32_t stride, int32_t *acc, int full, int32_t lo, int32_t hi, int8_t *dst) {
  uint32_t w01[3];
  uint32_t w2[3];
  for (int32_t k = 0; k < 3; ++k) { /* kernel row k of the view: column k of the filter when transposed */
    const int32_t i0 = v->transposed ? k : 3 * k;
    const int32_t di = v->transposed ? 3 : 1;
    w01[k] = ((uint32_t)(int32_t)w9[i0] & 0xFFFFu) | ((uint32_t)(int32_t)w9[i0 + di] << 16);
    w2[k] = (uint32_t)(int32_t)w9[i0 + 2 * di];
  }
  const int32_t ow = v->out_w;
  const int32_t pairs = (ow + 1) / 2;
  const int32_t width = v->width;
  const int32_t bias = ch->bias;
  for (int32_t oy = 0; oy < v->out_h; ++oy) {
    const int16_t *r = plane + oy * stride * width;
    for (int32_t i = 0; i < 2 * pairs; i += 2) {
      acc[i] = bias;
      acc[i + 1] = bias;
    }
    for (int32_t k = 0; k < 3; ++k) {
      if (stride == 1) {
        row_s1(r, w01[k], w2[k], acc, pairs);
      } else {
        row_s2(r, w01[k], w2[k], acc, ow);
      }
      r += width;
    }
    store_row(acc, ow, ch, v->dst_col, full, lo, hi, dst + oy * v->dst_row);
  }
}

/* Channel c's 9 weights: int8 where they lie, or int4 (two to a byte, low nibble first) unpacked into w9. */
static const int8_t *weights_of(const int8_t *weights, int32_t bits, int32_t c, int8_t *w9) {
  if (bits == 8) {
    return weights + 9 * c;
  }
  for (int32_t i = 0; i < 9; ++i) {
    const int32_t k = 9 * c + i;
    const int32_t b = weights[k / 2];
    w9[i] = (int8_t)(k % 2 != 0 ? b >> 4 : (int32_t)((uint32_t)b << 28) >> 28);
  }
  return w9;
}

tm_status tm_fast_depthwise3x3_run(const tm_context *ctx, const tm_fast_conv_params *params,
                                   const tm_dims *input_dims, const int8_t *input, const int8_t *weights,
                                   int32_t weight_bits, const tm_fast_channel *channels, const tm_dims *output_dims,
                                   int8_t *output) {
  const int32_t c_n = input_dims->c;
  const int32_t stride = params->stride.w;
  if (output_dims->c != c_n || input_dims->n != output_dims->n || params->stride.h != stride ||
      (stride != 1 && stride != 2) || params->padding.w > 1 || params->padding.h > 1) {
    return TM_ERROR_ARG;
  }
  if (ctx->buf == NULL || ctx->size < tm_fast_depthwise3x3_s8_get_buffer_size(params, input_dims, output_dims)) {
    return TM_ERROR_SCRATCH;
  }
  const view v = view_of(params, input_dims, output_dims);
  int16_t *plane = (int16_t *)ctx->buf;
  int32_t *acc = (int32_t *)(void *)(plane + v.rows * v.width);
  const int16_t zp = (int16_t)params->input_zero_point;
  for (int32_t i = 0; i < v.rows * v.width; ++i) {
    plane[i] = zp;
  }
  const int full = params->activation.min <= -128 && params->activation.max >= 127;
  const int32_t lo = params->activation.min;
  const int32_t hi = params->activation.max;
  for (int32_t b = 0; b < input_dims->n; ++b) {
    const int8_t *image = input + b * input_dims->h * input_dims->w * c_n;
    int8_t *out_image = output + b * output_dims->h * output_dims->w * c_n;
    for (int32_t c = 0; c < c_n; ++c) {
      int8_t w9[9];
      const int8_t *w = weights_of(weights, weight_bits, c, w9);
      for (int32_t y = 0; y < v.in_h; ++y) {
        fill_row(image + c + y * v.src_row, v.src_col, v.in_w, plane + (y + v.pad_h) * v.width + v.pad_w);
      }
      if (full) {
        channel(plane, &v, w, channels + c, stride, acc, 1, -128, 127, out_image + c);
      } else {
        channel(plane, &v, w, channels + c, stride, acc, 0, lo, hi, out_image + c);
      }
    }
  }
  return TM_OK;
}

tm_status tm_fast_depthwise3x3_s8(const tm_context *ctx, const tm_fast_conv_params *params,
                                  const tm_dims *input_dims, const int8_t *input, const int8_t *weights,
                                  const tm_fast_channel *channels, const tm_dims *output_dims, int8_t *output) {
  return tm_fast_depthwise3x3_run(ctx, params, input_dims, input, weights, 8, channels, output_dims, output);
}
