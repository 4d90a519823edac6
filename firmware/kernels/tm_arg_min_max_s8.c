/*
 * ARG_MAX / ARG_MIN over the middle axis of [outer][axis][inner] int8 data,
 * as TFLite Micro: a value replaces the current pick only when strictly
 * greater (smaller), so ties keep the first index.
 */
#include "tinyml/tm_kernels.h"

tm_status tm_arg_min_max_s8(const tm_context *ctx, const tm_arg_min_max_params *params, const tm_dims *input_dims,
                            const int8_t *input, const tm_dims *output_dims, int32_t *output) {
  (void)ctx;
  const int32_t outer = input_dims->h;
  const int32_t axis = input_dims->w;
  const int32_t inner = input_dims->c;
  if (input_dims->n != 1 || axis < 1 || output_dims->n * output_dims->h != 1 || output_dims->w != outer ||
      output_dims->c != inner) {
    return TM_ERROR_ARG;
  }
  const int32_t sign = params->select_max ? 1 : -1; /* ARG_MIN: the largest of the negated values */
  for (int32_t o = 0; o < outer; ++o) {
    const int8_t *row = input + o * axis * inner;
    for (int32_t i = 0; i < inner; ++i) {
      int32_t best = sign * row[i];
      int32_t index = 0;
      for (int32_t a = 1; a < axis; ++a) {
        const int32_t v = sign * row[a * inner + i];
        if (v > best) {
          best = v;
          index = a;
        }
      }
      output[o * inner + i] = index;
    }
  }
  return TM_OK;
}
