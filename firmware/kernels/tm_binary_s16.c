/*
 * ADD and MUL, int16, with broadcasting: TFLite Micro runs int16 through the
 * int8 formulas (ADD: each input plus its offset scaled up by 2^left_shift,
 * 15 for int16, rescaled to a common scale, the sum rescaled to the output;
 * MUL: the product of the offset inputs rescaled once), in int32.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

/* Calls `element(i, j)` for each output element i reading input1[i1] and input2[i2], broadcasting both. */
#define TM_BROADCAST_LOOP(element)                                                                              \
  do {                                                                                                          \
    tm_dims s1, s2;                                                                                             \
    if (!tm_broadcast_strides(input1_dims, output_dims, &s1) ||                                                 \
        !tm_broadcast_strides(input2_dims, output_dims, &s2)) {                                                 \
      return TM_ERROR_ARG;                                                                                      \
    }                                                                                                           \
    int32_t o = 0;                                                                                              \
    for (int32_t n = 0; n < output_dims->n; ++n) {                                                              \
      for (int32_t h = 0; h < output_dims->h; ++h) {                                                            \
        for (int32_t w = 0; w < output_dims->w; ++w) {                                                          \
          for (int32_t c = 0; c < output_dims->c; ++c, ++o) {                                                   \
            const int32_t i1 = n * s1.n + h * s1.h + w * s1.w + c * s1.c;                                       \
            const int32_t i2 = n * s2.n + h * s2.h + w * s2.w + c * s2.c;                                       \
            output[o] = element(input1[i1], input2[i2]);                                                        \
          }                                                                                                     \
        }                                                                                                       \
      }                                                                                                         \
    }                                                                                                           \
  } while (0)

tm_status tm_add_s16(const tm_context *ctx, const tm_add_params *params, const tm_add_quant *quant,
                     const tm_dims *input1_dims, const int16_t *input1, const tm_dims *input2_dims,
                     const int16_t *input2, const tm_dims *output_dims, int16_t *output) {
  (void)ctx;
  const int32_t scale_up = 1 << params->left_shift;
#define TM_ADD_S16(a, b)                                                                                        \
  tm_clamp_s16(tm_requantize(tm_requantize(((a) + params->input1_offset) * scale_up, quant->input1.multiplier,  \
                                           quant->input1.shift) +                                               \
                                 tm_requantize(((b) + params->input2_offset) * scale_up,                        \
                                               quant->input2.multiplier, quant->input2.shift),                  \
                             quant->output.multiplier, quant->output.shift) +                                   \
                   params->output_offset,                                                                       \
               params->activation.min, params->activation.max)
  TM_BROADCAST_LOOP(TM_ADD_S16);
#undef TM_ADD_S16
  return TM_OK;
}

tm_status tm_mul_s16(const tm_context *ctx, const tm_mul_params *params, const tm_per_tensor_quant *quant,
                     const tm_dims *input1_dims, const int16_t *input1, const tm_dims *input2_dims,
                     const int16_t *input2, const tm_dims *output_dims, int16_t *output) {
  (void)ctx;
#define TM_MUL_S16(a, b)                                                                                        \
  tm_clamp_s16(tm_requantize(((a) + params->input1_offset) * ((b) + params->input2_offset), quant->multiplier,   \
                             quant->shift) +                                                                    \
                   params->output_offset,                                                                       \
               params->activation.min, params->activation.max)
  TM_BROADCAST_LOOP(TM_MUL_S16);
#undef TM_MUL_S16
  return TM_OK;
}
