/* Stateful ops: SVDF and LSTM. Their state persists between inferences, in a buffer the caller keeps outside the
 * arena. */
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

typedef struct {
  int32_t batches;
  int32_t steps;
  int32_t input_size;
  int32_t units;
  int32_t time_major;        /* input and output are [steps, batches, n] rather than [batches, steps, n] */
  int32_t input_offset;      /* minus the input zero point */
  int32_t hidden_offset;     /* minus the hidden state's zero point */
  int32_t hidden_zero_point; /* the hidden state's (and output's) zero point */
  int32_t cell_clip;         /* in the cell state's units; 0: none */
  int32_t cell_tanh_multiplier; /* tanh(cell)'s input scaling: (cell * multiplier + round) >> shift */
  int32_t cell_tanh_shift;
} tm_lstm_params;

/* Gates in TFLite's order: input, forget, cell, output. */
typedef struct {
  tm_per_tensor_quant input[4];     /* the step's input x input weights -> Q3.12 */
  tm_per_tensor_quant recurrent[4]; /* hidden state x recurrent weights -> Q3.12 */
  tm_per_tensor_quant forget_cell;  /* forget gate x cell state -> cell state */
  tm_per_tensor_quant input_cell;   /* input gate x cell gate -> cell state */
  tm_per_tensor_quant hidden;       /* tanh(cell state) x output gate -> hidden state */
} tm_lstm_quant;

typedef struct {
  const int8_t *input[4];     /* [units, input_size] */
  const int8_t *recurrent[4]; /* [units, units] */
  const int32_t *bias[4];     /* [units] */
} tm_lstm_weights;

/*
 * UNIDIRECTIONAL_SEQUENCE_LSTM as TFLite Micro's integer kernel runs it:
 * int8 input, weights, hidden state and output, int16 cell state (Q-format
 * given by its power-of-two scale). `sigmoid_table` holds the 256 entries of
 * TFLite's int16 sigmoid/tanh interpolation table. Scratch: three int16
 * vectors of `units`.
 */
int32_t tm_lstm_s8_get_buffer_size(const tm_lstm_params *params);
tm_status tm_lstm_s8(const tm_context *ctx, const tm_lstm_params *params, const tm_lstm_quant *quant,
                     const tm_lstm_weights *weights, const uint16_t *sigmoid_table, const int8_t *input,
                     int8_t *hidden_state, int16_t *cell_state, int8_t *output);

#endif /* TINYML_TM_STATE_H */
