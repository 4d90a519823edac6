/*
 * Conversion between bit widths (tm_subbyte.h): element i of the output is
 * element i of the input plus delta. Unpacking a b-bit activation to int8 adds
 * its level; packing an int8 tensor whose values lie on 2^b levels subtracts
 * it. tinyml places this op where a packed tensor meets a kernel that reads
 * only int8 (or the reverse).
 */
#include "tinyml/tm_kernels.h"

tm_status tm_repack_sb(const tm_context *ctx, const tm_repack_params *params, const tm_dims *input_dims,
                       const void *input, const tm_dims *output_dims, void *output) {
  (void)ctx;
  const int32_t count = input_dims->n * input_dims->h * input_dims->w * input_dims->c;
  if (!tm_sb_valid_bits(params->input_bits) || !tm_sb_valid_bits(params->output_bits) ||
      count != output_dims->n * output_dims->h * output_dims->w * output_dims->c) {
    return TM_ERROR_ARG;
  }
  for (int32_t i = 0; i < count; ++i) {
    tm_sb_store(output, i, params->output_bits, tm_sb_load(input, i, params->input_bits) + params->delta);
  }
  return TM_OK;
}
