/*
 * LOG_SOFTMAX, int8 input, int8 output fixed at scale 16/256 and zero point
 * 127 (what TFLite Micro requires), with TFLM's integer arithmetic.
 */
#ifndef TINYML_TM_LOGSOFTMAX_H
#define TINYML_TM_LOGSOFTMAX_H

#include "tinyml/tm_types.h"

typedef struct {
  int32_t diff_min;          /* input differences below it (negative) contribute exp() = 0 */
  tm_per_tensor_quant reverse; /* a Q5.26 value back to input steps (shift <= 0) */
} tm_log_softmax_params;

/*
 * Log softmax over c, for each of the n * h * w rows (c < 4096). quant takes an
 * input difference (x - row max) to Q5.26: a left shift in [0, 31], then the multiplier.
 */
tm_status tm_log_softmax_s8(const tm_context *ctx, const tm_log_softmax_params *params,
                            const tm_per_tensor_quant *quant, const tm_dims *input_dims, const int8_t *input,
                            const tm_dims *output_dims, int8_t *output);

#endif /* TINYML_TM_LOGSOFTMAX_H */
