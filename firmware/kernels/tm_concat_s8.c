/*
 * CONCATENATION, int8: copy one input into its slab of the output.
 *
 * Inputs share the output's quantization (TFLite Micro requires it), so this
 * is a strided block copy: for each index of the dims before `axis`, one
 * contiguous run of the input lands at its offset in the output's run.
 */
#include <string.h>

#include "tinyml/tm_kernels.h"

tm_status tm_concat_s8(const tm_context *ctx, const tm_concat_params *params, const tm_dims *input_dims,
                       const int8_t *input, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const int32_t in[4] = {input_dims->n, input_dims->h, input_dims->w, input_dims->c};
  const int32_t out[4] = {output_dims->n, output_dims->h, output_dims->w, output_dims->c};
  const int32_t axis = params->axis;
  if (axis < 0 || axis > 3 || params->offset < 0 || params->offset + in[axis] > out[axis]) {
    return TM_ERROR_ARG;
  }
  int32_t outer = 1;
  int32_t inner = 1;
  for (int32_t d = 0; d < 4; ++d) {
    if (d != axis && in[d] != out[d]) {
      return TM_ERROR_ARG;
    }
    if (d < axis) {
      outer *= in[d];
    } else if (d > axis) {
      inner *= in[d];
    }
  }
  const int32_t in_run = in[axis] * inner;
  const int32_t out_run = out[axis] * inner;
  output += params->offset * inner;
  for (int32_t i = 0; i < outer; ++i) {
    memcpy(output, input, (size_t)in_run);
    input += in_run;
    output += out_run;
  }
  return TM_OK;
}
