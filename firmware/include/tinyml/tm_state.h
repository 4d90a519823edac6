/* Stateful ops: SVDF. Their state persists between inferences, in a buffer the caller keeps outside the arena. */
#ifndef TINYML_TM_STATE_H
#define TINYML_TM_STATE_H

#include "tinyml/tm_types.h"

typedef struct {
  int32_t rank;          /* filters summed per output unit */
  int32_t input_offset;  /* minus the input zero point */
  int32_t state_offset;  /* the state's zero point: added when a projection is stored, subtracted when read */
  int32_t output_offset; /* the output zero point */
} tm_svdf_params;

typedef struct {
  tm_per_tensor_quant feature; /* input x feature weights -> state */
  tm_per_tensor_quant time;    /* state x time weights + bias -> output */
} tm_svdf_quant;

/*
 * SVDF as TFLite Micro's integer kernel runs it. Input dims: n = batches,
 * c = input size; weights_feature dims: n = filters, c = input size;
 * weights_time dims: n = filters, c = memory size. The state holds, per batch
 * and filter, the last `memory size` projections, oldest first; bias has
 * filters / rank values; output dims: n = batches, c = filters / rank.
 * No fused activation: TFLite Micro's integer SVDF applies none.
 * _s16: int16 state and time weights; _s8: int8 state and time weights.
 */
int32_t tm_svdf_s8_get_buffer_size(const tm_dims *weights_feature_dims);
tm_status tm_svdf_s16(const tm_context *ctx, const tm_svdf_params *params, const tm_svdf_quant *quant,
                      const tm_dims *input_dims, const int8_t *input, int16_t *state,
                      const tm_dims *weights_feature_dims, const int8_t *weights_feature,
                      const tm_dims *weights_time_dims, const int16_t *weights_time, const int32_t *bias,
                      const tm_dims *output_dims, int8_t *output);
tm_status tm_svdf_s8(const tm_context *ctx, const tm_svdf_params *params, const tm_svdf_quant *quant,
                     const tm_dims *input_dims, const int8_t *input, int8_t *state,
                     const tm_dims *weights_feature_dims, const int8_t *weights_feature,
                     const tm_dims *weights_time_dims, const int8_t *weights_time, const int32_t *bias,
                     const tm_dims *output_dims, int8_t *output);

#endif /* TINYML_TM_STATE_H */
