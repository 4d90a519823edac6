/*
 * tinyml portable kernels: shared types.
 *
 * Every kernel family has one signature shape, in this order:
 *   context (caller-provided scratch), params (geometry, offsets, clamp),
 *   quant (requantization), then (dims, data) pairs for each operand.
 * Scratch is sized by the kernel's *_get_buffer_size twin; kernels never
 * allocate. Offsets follow TFLite's convention: input_offset is minus the
 * input zero point, output_offset is the output zero point.
 */
#ifndef TINYML_TM_TYPES_H
#define TINYML_TM_TYPES_H

#include <stdint.h>

/* Weights and the arena are aligned so kernels may use word loads. */
#if defined(__GNUC__) || defined(__clang__)
#define TM_ALIGNED(n) __attribute__((aligned(n)))
#else
#define TM_ALIGNED(n)
#endif

typedef enum {
  TM_OK = 0,
  TM_ERROR_ARG = -1,     /* inconsistent dims or params */
  TM_ERROR_SCRATCH = -2  /* scratch missing or smaller than *_get_buffer_size */
} tm_status;

/* NHWC extents; tensors of lower rank are right-aligned into w/c. */
typedef struct {
  int32_t n;
  int32_t h;
  int32_t w;
  int32_t c;
} tm_dims;

/* Scratch memory handed to a kernel. */
typedef struct {
  void *buf;
  int32_t size;
} tm_context;

typedef struct {
  int32_t w;
  int32_t h;
} tm_tile;

/* Output clamp in the quantized domain (fused RELU/RELU6 or the type range). */
typedef struct {
  int32_t min;
  int32_t max;
} tm_activation;

/* One multiplier/shift per output channel. */
typedef struct {
  const int32_t *multiplier;
  const int32_t *shift;
} tm_per_channel_quant;

typedef struct {
  int32_t multiplier;
  int32_t shift;
} tm_per_tensor_quant;

#endif /* TINYML_TM_TYPES_H */
