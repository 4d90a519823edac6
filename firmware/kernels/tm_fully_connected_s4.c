/*
 * FULLY_CONNECTED, int8 activations, packed int4 weights, one requantization
 * for the whole output (the only int4 form TFLite Micro runs).
 *
 * The filter stays packed as TFLite stores it: unit o's weights are elements
 * o * depth ... o * depth + depth - 1 of the flattened [units, depth] tensor,
 * two per byte, low nibble first, so with an odd depth every other row starts
 * in the middle of a byte. The bias must already hold
 * b[o] + input_offset * sum(filter[o]); int4 weights are symmetric, so the
 * filter offset must be zero. No scratch.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_dot.h"
#include "tinyml/tm_math.h"

int32_t tm_fully_connected_s4_get_buffer_size(const tm_dims *filter_dims) {
  (void)filter_dims;
  return 0;
}

tm_status tm_fully_connected_s4(const tm_context *ctx, const tm_fc_params *params, const tm_per_tensor_quant *quant,
                                const tm_dims *input_dims, const int8_t *input, const tm_dims *filter_dims,
                                const int8_t *filter, const tm_dims *bias_dims, const int32_t *bias,
                                const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  (void)bias_dims;
  const int32_t depth = input_dims->c;
  const int32_t units = output_dims->c;
  if (filter_dims->c != depth || filter_dims->n != units || params->filter_offset != 0) {
    return TM_ERROR_ARG;
  }
  for (int32_t b = 0; b < input_dims->n; ++b) {
    for (int32_t o = 0; o < units; o += 2) {
      const int pair = o + 1 < units;
      int32_t acc0 = bias[o];
      int32_t acc1 = pair ? bias[o + 1] : 0;
      tm_dot2_s4(input, filter, o * depth, (o + pair) * depth, depth, &acc0, &acc1);
      acc0 = tm_requantize(acc0, quant->multiplier, quant->shift) + params->output_offset;
      output[o] = tm_clamp_s8(acc0, params->activation.min, params->activation.max);
      if (pair) {
        acc1 = tm_requantize(acc1, quant->multiplier, quant->shift) + params->output_offset;
        output[o + 1] = tm_clamp_s8(acc1, params->activation.min, params->activation.max);
      }
    }
    input += depth;
    output += units;
  }
  return TM_OK;
}
