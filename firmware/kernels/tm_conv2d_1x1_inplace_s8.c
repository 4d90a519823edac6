/*
 * 1x1 CONV_2D (stride 1, no padding, no groups) writing its output over its input.
 *
 * Output pixel p depends only on input pixel p. With cout <= cin, pixel p's
 * output bytes [p*cout, (p+1)*cout) lie below the end of input pixel p, so
 * walking forwards only overwrites input already copied to scratch; with
 * cout > cin the output starts at or after input pixel p, so walking
 * backwards is safe. The bias must hold b[o] + input_offset * sum(filter[o]).
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_dot.h"
#include "tinyml/tm_math.h"

int32_t tm_conv2d_1x1_inplace_s8_get_buffer_size(const tm_dims *input_dims) { return input_dims->c; }

static int8_t finish(int32_t acc, int32_t o, const tm_per_channel_quant *quant, const tm_conv_params *params) {
  acc = tm_requantize(acc, quant->multiplier[o], quant->shift[o]) + params->output_offset;
  return tm_clamp_s8(acc, params->activation.min, params->activation.max);
}

/* Two output channels per pass share each input load. */
static void one_pixel(const int8_t *x, int32_t cin, const int8_t *filter, const int32_t *bias,
                      const tm_per_channel_quant *quant, const tm_conv_params *params, int32_t cout, int8_t *out) {
  int32_t o = 0;
  for (; o + 1 < cout; o += 2) {
    const int8_t *w0 = filter + o * cin;
    int32_t acc0 = bias[o];
    int32_t acc1 = bias[o + 1];
    tm_dot2_s8(x, w0, w0 + cin, cin, &acc0, &acc1);
    out[o] = finish(acc0, o, quant, params);
    out[o + 1] = finish(acc1, o + 1, quant, params);
  }
  if (o < cout) {
    const int8_t *w0 = filter + o * cin;
    int32_t acc0 = bias[o];
    for (int32_t i = 0; i < cin; ++i) {
      acc0 += x[i] * w0[i];
    }
    out[o] = finish(acc0, o, quant, params);
  }
}

tm_status tm_conv2d_1x1_inplace_s8(const tm_context *ctx, const tm_conv_params *params,
                                   const tm_per_channel_quant *quant, const tm_dims *input_dims,
                                   const tm_dims *filter_dims, const int8_t *filter, const tm_dims *bias_dims,
                                   const int32_t *bias, const tm_dims *output_dims, int8_t *data) {
  (void)bias_dims;
  const int32_t cin = input_dims->c;
  const int32_t cout = output_dims->c;
  const int32_t pixels = input_dims->n * input_dims->h * input_dims->w;
  if (filter_dims->h != 1 || filter_dims->w != 1 || filter_dims->c != cin || filter_dims->n != cout ||
      output_dims->n * output_dims->h * output_dims->w != pixels || params->stride.h != 1 || params->stride.w != 1 ||
      params->padding.h != 0 || params->padding.w != 0) {
    return TM_ERROR_ARG;
  }
  int8_t *pixel = (int8_t *)ctx->buf;
  if (pixel == 0 || ctx->size < cin) {
    return TM_ERROR_SCRATCH;
  }
  for (int32_t k = 0; k < pixels; ++k) {
    const int32_t p = cout <= cin ? k : pixels - 1 - k;
    const int8_t *src = data + p * cin;
    for (int32_t i = 0; i < cin; ++i) {
      pixel[i] = src[i];
    }
    one_pixel(pixel, cin, filter, bias, quant, params, cout, data + p * cout);
  }
  return TM_OK;
}
