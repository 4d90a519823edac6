/*
 * SVDF, int8 input and output, int16 or int8 state (TFLite Micro's
 * EvalIntegerSvdfReference). Per inference: shift each filter's memory one
 * step (the state is shifted as one flat buffer, as TFLM does; every slot that
 * takes a neighbour's value is the newest one, rewritten next), store each
 * filter's requantized projection of the input in its newest slot, then per
 * output unit sum bias and the time-weighted memories of its `rank` filters
 * and requantize. The per-unit sums need no scratch: int32 addition wraps
 * alike in any order.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

int32_t tm_svdf_s8_get_buffer_size(const tm_dims *weights_feature_dims) {
  (void)weights_feature_dims;
  return 0;
}

#define TM_SVDF_BODY(T, T_MIN, T_MAX)                                                                            \
  (void)ctx;                                                                                                     \
  const int32_t batches = input_dims->n;                                                                         \
  const int32_t input_size = input_dims->c;                                                                      \
  const int32_t filters = weights_feature_dims->n;                                                               \
  const int32_t memory = weights_time_dims->c;                                                                   \
  const int32_t rank = params->rank;                                                                             \
  if (rank <= 0 || filters % rank != 0 || weights_feature_dims->c != input_size ||                               \
      weights_time_dims->n != filters || output_dims->c != filters / rank || output_dims->n != batches) {        \
    return TM_ERROR_ARG;                                                                                         \
  }                                                                                                              \
  const int32_t total = batches * filters * memory;                                                              \
  for (int32_t i = 0; i + 1 < total; ++i) {                                                                      \
    state[i] = state[i + 1];                                                                                     \
  }                                                                                                              \
  for (int32_t b = 0; b < batches; ++b) {                                                                        \
    const int8_t *x = input + b * input_size;                                                                    \
    T *newest = state + b * filters * memory + (memory - 1);                                                     \
    for (int32_t f = 0; f < filters; ++f) {                                                                      \
      const int8_t *w = weights_feature + f * input_size;                                                        \
      int32_t acc = 0;                                                                                           \
      for (int32_t i = 0; i < input_size; ++i) {                                                                 \
        acc += w[i] * (x[i] + params->input_offset);                                                             \
      }                                                                                                          \
      acc = tm_requantize(acc, quant->feature.multiplier, quant->feature.shift);                                 \
      acc = acc < (T_MIN) ? (T_MIN) : (acc > (T_MAX) ? (T_MAX) : acc);                                           \
      newest[f * memory] = (T)(params->state_offset + acc);                                                      \
    }                                                                                                            \
  }                                                                                                              \
  const int32_t units = filters / rank;                                                                          \
  for (int32_t b = 0; b < batches; ++b) {                                                                        \
    const T *mem = state + b * filters * memory;                                                                 \
    for (int32_t u = 0; u < units; ++u) {                                                                        \
      int32_t acc = bias[u];                                                                                     \
      for (int32_t r = 0; r < rank; ++r) {                                                                       \
        const int32_t f = u * rank + r;                                                                          \
        const T *w = weights_time + f * memory;                                                                  \
        const T *m = mem + f * memory;                                                                           \
        int32_t sum = 0;                                                                                         \
        for (int32_t j = 0; j < memory; ++j) {                                                                   \
          sum += w[j] * (m[j] - params->state_offset);                                                           \
        }                                                                                                        \
        acc = (int32_t)((uint32_t)acc + (uint32_t)sum);                                                          \
      }                                                                                                          \
      acc = tm_requantize(acc, quant->time.multiplier, quant->time.shift) + params->output_offset;               \
      output[b * units + u] = tm_clamp_s8(acc, -128, 127);                                                       \
    }                                                                                                            \
  }                                                                                                              \
  return TM_OK;

tm_status tm_svdf_s16(const tm_context *ctx, const tm_svdf_params *params, const tm_svdf_quant *quant,
                      const tm_dims *input_dims, const int8_t *input, int16_t *state,
                      const tm_dims *weights_feature_dims, const int8_t *weights_feature,
                      const tm_dims *weights_time_dims, const int16_t *weights_time, const int32_t *bias,
                      const tm_dims *output_dims, int8_t *output) {
  TM_SVDF_BODY(int16_t, -32768, 32767)
}

tm_status tm_svdf_s8(const tm_context *ctx, const tm_svdf_params *params, const tm_svdf_quant *quant,
                     const tm_dims *input_dims, const int8_t *input, int8_t *state,
                     const tm_dims *weights_feature_dims, const int8_t *weights_feature,
                     const tm_dims *weights_time_dims, const int8_t *weights_time, const int32_t *bias,
                     const tm_dims *output_dims, int8_t *output) {
  TM_SVDF_BODY(int8_t, -128, 127)
}
