/*
 * PAD / PADV2, CONCATENATION and patch region copies, int16: data movement
 * only. PAD writes the output front to back, each element the input's or the
 * pad value. CONCATENATION and the region copy are the int8 byte copies with
 * every extent along the innermost dim doubled (two bytes per element).
 */
#include "tinyml/tm_kernels.h"

tm_status tm_pad_s16(const tm_context *ctx, const tm_pad_params *params, const tm_dims *input_dims,
                     const int16_t *input, const tm_dims *output_dims, int16_t *output) {
  (void)ctx;
  const tm_dims *before = &params->before;
  if (before->n < 0 || before->h < 0 || before->w < 0 || before->c < 0 ||
      output_dims->n < input_dims->n + before->n || output_dims->h < input_dims->h + before->h ||
      output_dims->w < input_dims->w + before->w || output_dims->c < input_dims->c + before->c) {
    return TM_ERROR_ARG;
  }
  const int16_t value = (int16_t)params->value;
  for (int32_t n = 0; n < output_dims->n; ++n) {
    const int in_n = n >= before->n && n < before->n + input_dims->n;
    for (int32_t h = 0; h < output_dims->h; ++h) {
      const int in_h = in_n && h >= before->h && h < before->h + input_dims->h;
      for (int32_t w = 0; w < output_dims->w; ++w) {
        const int in_w = in_h && w >= before->w && w < before->w + input_dims->w;
        for (int32_t c = 0; c < output_dims->c; ++c) {
          const int inside = in_w && c >= before->c && c < before->c + input_dims->c;
          *output++ = inside ? *input++ : value;
        }
      }
    }
  }
  return TM_OK;
}

tm_status tm_concat_s16(const tm_context *ctx, const tm_concat_params *params, const tm_dims *input_dims,
                        const int16_t *input, const tm_dims *output_dims, int16_t *output) {
  const tm_dims in_bytes = {input_dims->n, input_dims->h, input_dims->w, input_dims->c * 2};
  const tm_dims out_bytes = {output_dims->n, output_dims->h, output_dims->w, output_dims->c * 2};
  const tm_concat_params byte_params = {params->axis, params->axis == 3 ? params->offset * 2 : params->offset};
  return tm_concat_s8(ctx, &byte_params, &in_bytes, (const int8_t *)input, &out_bytes, (int8_t *)output);
}

tm_status tm_copy_region_s16(const tm_region_params *params, const tm_dims *src_dims, const int16_t *src,
                             const tm_dims *dst_dims, int16_t *dst) {
  const tm_dims src_bytes = {src_dims->n, src_dims->h, src_dims->w, src_dims->c * 2};
  const tm_dims dst_bytes = {dst_dims->n, dst_dims->h, dst_dims->w, dst_dims->c * 2};
  return tm_copy_region_s8(params, &src_bytes, (const int8_t *)src, &dst_bytes, (int8_t *)dst);
}
