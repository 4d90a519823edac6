/*
 * ADD with operands of 8, 4 or 2 bits (tm_subbyte.h), broadcasting as
 * tm_add_s8: each input (plus its offset, in the stored domain) is scaled up by
 * 2^left_shift and rescaled to a common scale, the sum to the output's.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

static inline int32_t scale_input(int32_t x, int32_t offset, int32_t left_shift, tm_per_tensor_quant q) {
  return tm_requantize((x + offset) * (1 << left_shift), q.multiplier, q.shift);
}

tm_status tm_add_sb(const tm_context *ctx, const tm_add_sb_params *params, const tm_add_quant *quant,
                    const tm_dims *input1_dims, const void *input1, const tm_dims *input2_dims, const void *input2,
                    const tm_dims *output_dims, void *output) {
  (void)ctx;
  const tm_add_params *p = &params->add;
  const int32_t bits1 = params->input1_bits;
  const int32_t bits2 = params->input2_bits;
  const int32_t out_bits = params->output_bits;
  tm_dims s1, s2;
  if (!tm_sb_valid_bits(bits1) || !tm_sb_valid_bits(bits2) || !tm_sb_valid_bits(out_bits) ||
      !tm_broadcast_strides(input1_dims, output_dims, &s1) || !tm_broadcast_strides(input2_dims, output_dims, &s2)) {
    return TM_ERROR_ARG;
  }
  int32_t o = 0;
  for (int32_t n = 0; n < output_dims->n; ++n) {
    for (int32_t h = 0; h < output_dims->h; ++h) {
      for (int32_t w = 0; w < output_dims->w; ++w) {
        const int32_t a = n * s1.n + h * s1.h + w * s1.w;
        const int32_t b = n * s2.n + h * s2.h + w * s2.w;
        for (int32_t c = 0; c < output_dims->c; ++c, ++o) {
          const int32_t va = tm_sb_load(input1, a + c * s1.c, bits1);
          const int32_t vb = tm_sb_load(input2, b + c * s2.c, bits2);
          const int32_t sum = scale_input(va, p->input1_offset, p->left_shift, quant->input1) +
                              scale_input(vb, p->input2_offset, p->left_shift, quant->input2);
          const int32_t out = tm_requantize(sum, quant->output.multiplier, quant->output.shift) + p->output_offset;
          tm_sb_store(output, o, out_bits, tm_clamp_s8(out, p->activation.min, p->activation.max));
        }
      }
    }
  }
  return TM_OK;
}
