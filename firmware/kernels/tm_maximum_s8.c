/*
 * MAXIMUM, int8, with broadcasting: the larger raw value of each pair. TFLite
 * Micro ignores the quantization (the converter gives the inputs and the
 * output the same one), and so does this kernel.
 */
#include <stddef.h>

#include "tinyml/tm_kernels.h"

static void maximum_row(const void *consts, int32_t count, const int8_t *a, int32_t stride_a, const int8_t *b,
                        int32_t stride_b, int8_t *out) {
  (void)consts;
  for (int32_t i = 0; i < count; ++i) {
    const int8_t x = a[i * stride_a];
    const int8_t y = b[i * stride_b];
    out[i] = x > y ? x : y;
  }
}

tm_status tm_maximum_s8(const tm_context *ctx, const tm_dims *input1_dims, const int8_t *input1,
                        const tm_dims *input2_dims, const int8_t *input2, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  return tm_broadcast_binary_s8(NULL, maximum_row, input1_dims, input1, input2_dims, input2, output_dims, output);
}
