/*
 * ADD, int8, with broadcasting and a fused activation clamp.
 *
 * TFLite's integer scheme: each input (plus its offset) is scaled up by
 * 2^left_shift and rescaled to a common scale by its own multiplier (< 1);
 * the sum is rescaled to the output scale. A broadcast operand's rescaled
 * value is computed once per row instead of once per element.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

/* Every constant of the inner loops, copied to locals: stores through int8_t
 * pointers may alias anything, which would force the compiler to reload
 * constants read through the params pointers. */
typedef struct {
  int32_t offset1, offset2, output_offset, left_shift;
  int32_t mult1, shift1, mult2, shift2, out_mult, out_shift;
  int32_t act_min, act_max;
} add_consts;

static inline int32_t scale_input(int32_t x, int32_t offset, int32_t left_shift, int32_t mult, int32_t shift) {
  return tm_requantize((x + offset) * (1 << left_shift), mult, shift);
}

static inline int8_t add_output(add_consts k, int32_t sum) {
  return tm_clamp_s8(tm_requantize(sum, k.out_mult, k.out_shift) + k.output_offset, k.act_min, k.act_max);
}

/* One row of `count` outputs; a stride of 0 repeats that input's first element. */
static void add_row(add_consts k, int32_t count, const int8_t *a, int32_t stride_a, const int8_t *b,
                    int32_t stride_b, int8_t *out) {
  if (stride_a == 0) {
    const int32_t va = scale_input(a[0], k.offset1, k.left_shift, k.mult1, k.shift1);
    for (int32_t i = 0; i < count; ++i) {
      out[i] = add_output(k, va + scale_input(b[i * stride_b], k.offset2, k.left_shift, k.mult2, k.shift2));
    }
  } else if (stride_b == 0) {
    const int32_t vb = scale_input(b[0], k.offset2, k.left_shift, k.mult2, k.shift2);
    for (int32_t i = 0; i < count; ++i) {
      out[i] = add_output(k, scale_input(a[i], k.offset1, k.left_shift, k.mult1, k.shift1) + vb);
    }
  } else {
    for (int32_t i = 0; i < count; ++i) {
      const int32_t va = scale_input(a[i], k.offset1, k.left_shift, k.mult1, k.shift1);
      const int32_t vb = scale_input(b[i], k.offset2, k.left_shift, k.mult2, k.shift2);
      out[i] = add_output(k, va + vb);
    }
  }
}

tm_status tm_add_s8(const tm_context *ctx, const tm_add_params *params, const tm_add_quant *quant,
                    const tm_dims *input1_dims, const int8_t *input1, const tm_dims *input2_dims,
                    const int8_t *input2, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const add_consts k = {
      .offset1 = params->input1_offset,
      .offset2 = params->input2_offset,
      .output_offset = params->output_offset,
      .left_shift = params->left_shift,
      .mult1 = quant->input1.multiplier,
      .shift1 = quant->input1.shift,
      .mult2 = quant->input2.multiplier,
      .shift2 = quant->input2.shift,
      .out_mult = quant->output.multiplier,
      .out_shift = quant->output.shift,
      .act_min = params->activation.min,
      .act_max = params->activation.max,
  };
  if (tm_dims_equal(input1_dims, output_dims) && tm_dims_equal(input2_dims, output_dims)) {
    add_row(k, output_dims->n * output_dims->h * output_dims->w * output_dims->c, input1, 1, input2, 1, output);
    return TM_OK;
  }
  tm_dims s1, s2;
  if (!tm_broadcast_strides(input1_dims, output_dims, &s1) || !tm_broadcast_strides(input2_dims, output_dims, &s2)) {
    return TM_ERROR_ARG;
  }
  for (int32_t n = 0; n < output_dims->n; ++n) {
    for (int32_t h = 0; h < output_dims->h; ++h) {
      for (int32_t w = 0; w < output_dims->w; ++w) {
        const int8_t *a = input1 + n * s1.n + h * s1.h + w * s1.w;
        const int8_t *b = input2 + n * s2.n + h * s2.h + w * s2.w;
        add_row(k, output_dims->c, a, s1.c, b, s2.c, output);
        output += output_dims->c;
      }
    }
  }
  return TM_OK;
}
