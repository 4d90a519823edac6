/*
 * QUANTIZE between integer types (TFLite Micro's Requantize): subtract the
 * input zero point, rescale by in_scale / out_scale, add the output zero
 * point, clamp to the output type. TFLite Micro's xor-0x80 fast path for
 * int8 <-> uint8 at one scale gives the same values as this general one.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

#define TM_DEFINE_REQUANTIZE(name, in_type, out_type, lo, hi)                                                 \
  tm_status name(const tm_context *ctx, const tm_requantize_params *params, const tm_per_tensor_quant *quant,  \
                 const tm_dims *input_dims, const in_type *input, const tm_dims *output_dims, out_type *output) { \
    (void)ctx;                                                                                                \
    const int32_t size = input_dims->n * input_dims->h * input_dims->w * input_dims->c;                       \
    if (size != output_dims->n * output_dims->h * output_dims->w * output_dims->c) {                          \
      return TM_ERROR_ARG;                                                                                    \
    }                                                                                                         \
    const int32_t in_offset = params->input_offset;                                                           \
    const int32_t out_offset = params->output_offset;                                                         \
    for (int32_t i = 0; i < size; ++i) {                                                                      \
      const int32_t v = tm_requantize((int32_t)input[i] + in_offset, quant->multiplier, quant->shift) + out_offset; \
      output[i] = (out_type)(v < (lo) ? (lo) : (v > (hi) ? (hi) : v));                                        \
    }                                                                                                         \
    return TM_OK;                                                                                             \
  }

TM_DEFINE_REQUANTIZE(tm_requantize_s8_u8, int8_t, uint8_t, 0, UINT8_MAX)
TM_DEFINE_REQUANTIZE(tm_requantize_u8_s8, uint8_t, int8_t, INT8_MIN, INT8_MAX)
TM_DEFINE_REQUANTIZE(tm_requantize_s8_s16, int8_t, int16_t, INT16_MIN, INT16_MAX)
TM_DEFINE_REQUANTIZE(tm_requantize_s16_s8, int16_t, int8_t, INT8_MIN, INT8_MAX)
TM_DEFINE_REQUANTIZE(tm_requantize_s16_s16, int16_t, int16_t, INT16_MIN, INT16_MAX)
