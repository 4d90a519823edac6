/*
 * UNIDIRECTIONAL_SEQUENCE_LSTM, int8 with an int16 cell state (TFLite
 * Micro's EvalLstm for int8 activations and weights). Each batch row runs its
 * steps in order; a step computes the forget, input and cell gates from the
 * step's input and the previous hidden state (two int16-saturated fully
 * connected results, their saturated sum, then sigmoid or tanh in Q0.15),
 * updates the cell state, computes the output gate and writes the new hidden
 * state, which is also the step's output.
 */
#include <stddef.h>

#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

int32_t tm_lstm_s8_get_buffer_size(const tm_lstm_params *params) {
  return 3 * params->units * (int32_t)sizeof(int16_t);
}

static int32_t sat16(int32_t v) {
  return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}

/* TFLite's int16 LOGISTIC of a Q3.12 value (input multiplier 3), to Q0.15. */
static int16_t sigmoid_q312(int32_t x, const uint16_t *table) {
  const int32_t v = x * 3;
  const uint32_t a = (uint32_t)(v < 0 ? -v : v);
  const uint32_t uh = a >> 9;
  uint32_t result;
  if (uh >= 255u) {
    result = 0x7FFFu << 10;
  } else {
    const uint32_t ua = table[uh];
    const uint32_t ub = table[uh + 1u];
    result = (ua << 9) + (a & 0x1FFu) * (ub - ua);
  }
  result = v >= 0 ? result + (1u << 9) : (1u << 25) - result + (1u << 9) - 1u;
  return (int16_t)(result >> 10);
}

/* TFLite's int16 TANH with its input scaling resolved: (x * multiplier + round) >> shift, to Q0.15. */
static int16_t tanh_scaled(int32_t x, int32_t multiplier, int32_t shift, const uint16_t *table) {
  const int32_t round = shift > 0 ? 1 << (shift - 1) : 0;
  const int32_t v = (x * multiplier + round) >> shift;
  const uint32_t a = (uint32_t)(v < 0 ? -v : v);
  const uint32_t uh = a >> 8;
  int32_t result;
  if (uh >= 255u) {
    result = (int32_t)(0xFFFFu << 8);
  } else {
    const uint32_t ua = table[uh];
    const uint32_t ub = table[uh + 1u];
    result = (int32_t)((ua << 8) + (a & 0xFFu) * (ub - ua));
  }
  result = v >= 0 ? result - (1 << 23) + (1 << 7) : -result + (1 << 23) + (1 << 7) - 1;
  return (int16_t)(result >> 8);
}

/* One gate's pre-activation for unit u: the two fully connected results, each saturated to int16, summed. */
static int32_t gate_q312(const tm_lstm_params *params, const tm_lstm_quant *quant, const tm_lstm_weights *weights,
                         int32_t g, int32_t u, const int8_t *x, const int8_t *h) {
  const int8_t *w = weights->input[g] + u * params->input_size;
  int32_t acc = 0;
  for (int32_t i = 0; i < params->input_size; ++i) {
    acc += w[i] * (x[i] + params->input_offset);
  }
  acc += weights->bias[g][u];
  const int32_t from_input = sat16(tm_requantize(acc, quant->input[g].multiplier, quant->input[g].shift));
  const int8_t *r = weights->recurrent[g] + u * params->units;
  acc = 0;
  for (int32_t i = 0; i < params->units; ++i) {
    acc += r[i] * (h[i] + params->hidden_offset);
  }
  const int32_t from_hidden = sat16(tm_requantize(acc, quant->recurrent[g].multiplier, quant->recurrent[g].shift));
  return sat16(from_input + from_hidden);
}

tm_status tm_lstm_s8(const tm_context *ctx, const tm_lstm_params *params, const tm_lstm_quant *quant,
                     const tm_lstm_weights *weights, const uint16_t *sigmoid_table, const int8_t *input,
                     int8_t *hidden_state, int16_t *cell_state, int8_t *output) {
  const int32_t units = params->units;
  if (ctx->buf == NULL || ctx->size < tm_lstm_s8_get_buffer_size(params)) {
    return TM_ERROR_SCRATCH;
  }
  int16_t *forget = (int16_t *)ctx->buf;
  int16_t *in_gate = forget + units;
  int16_t *cell_gate = in_gate + units;
  for (int32_t b = 0; b < params->batches; ++b) {
    int8_t *h = hidden_state + b * units;
    int16_t *c = cell_state + b * units;
    for (int32_t t = 0; t < params->steps; ++t) {
      const int32_t row = params->time_major ? t * params->batches + b : b * params->steps + t;
      const int8_t *x = input + row * params->input_size;
      for (int32_t u = 0; u < units; ++u) {
        forget[u] = sigmoid_q312(gate_q312(params, quant, weights, 1, u, x, h), sigmoid_table);
        in_gate[u] = sigmoid_q312(gate_q312(params, quant, weights, 0, u, x, h), sigmoid_table);
        cell_gate[u] = tanh_scaled(gate_q312(params, quant, weights, 2, u, x, h), 3, 0, sigmoid_table);
      }
      for (int32_t u = 0; u < units; ++u) {
        const int32_t kept = sat16(tm_requantize(forget[u] * c[u], quant->forget_cell.multiplier,
                                                 quant->forget_cell.shift));
        const int32_t added = sat16(tm_requantize(in_gate[u] * cell_gate[u], quant->input_cell.multiplier,
                                                  quant->input_cell.shift));
        int32_t cell = sat16(kept + added);
        if (params->cell_clip > 0) {
          cell = cell > params->cell_clip ? params->cell_clip : (cell < -params->cell_clip ? -params->cell_clip : cell);
        }
        c[u] = (int16_t)cell;
      }
      /* the output gate still reads the previous hidden state: keep it in the input gate's buffer first */
      for (int32_t u = 0; u < units; ++u) {
        in_gate[u] = sigmoid_q312(gate_q312(params, quant, weights, 3, u, x, h), sigmoid_table);
      }
      int8_t *out = output + row * units;
      for (int32_t u = 0; u < units; ++u) {
        const int32_t squashed = tanh_scaled(c[u], params->cell_tanh_multiplier, params->cell_tanh_shift,
                                             sigmoid_table);
        const int32_t v = tm_requantize(squashed * in_gate[u], quant->hidden.multiplier, quant->hidden.shift) +
                          params->hidden_zero_point;
        h[u] = tm_clamp_s8(v, -128, 127);
        out[u] = h[u];
      }
    }
  }
  return TM_OK;
}
