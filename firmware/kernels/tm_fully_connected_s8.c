/*
 * FULLY_CONNECTED, int8, one requantization for the whole output.
 *
 * The bias must already hold b[o] + input_offset * sum(filter[o]) (folded by
 * tinyml at compile time). A non-zero filter offset, which TFLite allows but
 * converters do not emit, takes the slower exact path.
 * Input dims: n = batches, c = accumulation depth. Filter dims: n = outputs.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

int32_t tm_fully_connected_s8_get_buffer_size(const tm_dims *filter_dims) {
  (void)filter_dims;
  return 0;
}

tm_status tm_fully_connected_s8(const tm_context *ctx, const tm_fc_params *params, const tm_per_tensor_quant *quant,
                                const tm_dims *input_dims, const int8_t *input, const tm_dims *filter_dims,
                                const int8_t *filter, const tm_dims *bias_dims, const int32_t *bias,
                                const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  (void)bias_dims;
  const int32_t depth = input_dims->c;
  const int32_t units = output_dims->c;
  if (filter_dims->c != depth || filter_dims->n != units) {
    return TM_ERROR_ARG;
  }
  const int32_t f_off = params->filter_offset;
  for (int32_t b = 0; b < input_dims->n; ++b) {
    int32_t x_sum = 0;
    if (f_off != 0) {
      /* sum((w + f_off) * (x + i_off)) = folded terms + f_off * sum(x + i_off) */
      for (int32_t i = 0; i < depth; ++i) {
        x_sum += input[i] + params->input_offset;
      }
    }
    for (int32_t o = 0; o < units; ++o) {
      const int8_t *w = filter + o * depth;
      int32_t acc = bias[o] + f_off * x_sum;
      for (int32_t i = 0; i < depth; ++i) {
        acc += input[i] * w[i];
      }
      acc = tm_requantize(acc, quant->multiplier, quant->shift) + params->output_offset;
      output[o] = tm_clamp_s8(acc, params->activation.min, params->activation.max);
    }
    input += depth;
    output += units;
  }
  return TM_OK;
}
