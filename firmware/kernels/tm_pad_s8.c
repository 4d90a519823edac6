/*
 * PAD / PADV2, int8, constant mode, up to 4-D.
 *
 * The output is written front to back: rows that lie wholly in the padding
 * are filled in one go; other rows get their leading fill, the input's
 * elements (read strictly in order), and their trailing fill.
 */
#include <string.h>

#include "tinyml/tm_kernels.h"

tm_status tm_pad_s8(const tm_context *ctx, const tm_pad_params *params, const tm_dims *input_dims,
                    const int8_t *input, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const tm_dims *before = &params->before;
  const int32_t after_n = output_dims->n - input_dims->n - before->n;
  const int32_t after_h = output_dims->h - input_dims->h - before->h;
  const int32_t after_w = output_dims->w - input_dims->w - before->w;
  const int32_t after_c = output_dims->c - input_dims->c - before->c;
  if (before->n < 0 || before->h < 0 || before->w < 0 || before->c < 0 || after_n < 0 || after_h < 0 ||
      after_w < 0 || after_c < 0) {
    return TM_ERROR_ARG;
  }
  const int value = (int8_t)params->value;
  const int32_t out_row = output_dims->w * output_dims->c;
  const int32_t in_c = input_dims->c;
  const size_t lead_w = (size_t)(before->w * output_dims->c);
  const size_t trail_w = (size_t)(after_w * output_dims->c);

  for (int32_t n = 0; n < output_dims->n; ++n) {
    const int n_inside = n >= before->n && n < before->n + input_dims->n;
    for (int32_t h = 0; h < output_dims->h; ++h) {
      if (!n_inside || h < before->h || h >= before->h + input_dims->h) {
        memset(output, value, (size_t)out_row);
        output += out_row;
        continue;
      }
      memset(output, value, lead_w);
      output += lead_w;
      if (before->c == 0 && after_c == 0) {
        const int32_t span = input_dims->w * in_c;
        memcpy(output, input, (size_t)span);
        output += span;
        input += span;
      } else {
        for (int32_t w = 0; w < input_dims->w; ++w) {
          memset(output, value, (size_t)before->c);
          output += before->c;
          memcpy(output, input, (size_t)in_c);
          output += in_c;
          input += in_c;
          memset(output, value, (size_t)after_c);
          output += after_c;
        }
      }
      memset(output, value, trail_w);
      output += trail_w;
    }
  }
  return TM_OK;
}
