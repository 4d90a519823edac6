/* FULLY_CONNECTED. */
#ifndef TINYML_TM_FC_H
#define TINYML_TM_FC_H

#include "tinyml/tm_types.h"

typedef struct {
  int32_t input_offset;
  int32_t filter_offset;
  int32_t output_offset;
  tm_activation activation;
} tm_fc_params;

/*
 * Input dims: n = batches, c = accumulation depth; filter dims: n = units,
 * c = depth. bias[o] must be b[o] + input_offset * sum(filter[o]).
 */
int32_t tm_fully_connected_s8_get_buffer_size(const tm_dims *filter_dims);
tm_status tm_fully_connected_s8(const tm_context *ctx, const tm_fc_params *params, const tm_per_tensor_quant *quant,
                                const tm_dims *input_dims, const int8_t *input, const tm_dims *filter_dims,
                                const int8_t *filter, const tm_dims *bias_dims, const int32_t *bias,
                                const tm_dims *output_dims, int8_t *output);
tm_status tm_fully_connected_per_channel_s8(const tm_context *ctx, const tm_fc_params *params,
                                            const tm_per_channel_quant *quant, const tm_dims *input_dims,
                                            const int8_t *input, const tm_dims *filter_dims, const int8_t *filter,
                                            const tm_dims *bias_dims, const int32_t *bias,
                                            const tm_dims *output_dims, int8_t *output);

/*
 * The same with packed int4 weights, per-tensor only (TFLite Micro runs no
 * per-channel int4 fully connected weights): `filter` holds the flattened
 * [units, depth] filter two weights per byte, low nibble first (TFLite's
 * INT4); the filter offset must be zero (int4 weights are symmetric).
 */
int32_t tm_fully_connected_s4_get_buffer_size(const tm_dims *filter_dims);
tm_status tm_fully_connected_s4(const tm_context *ctx, const tm_fc_params *params, const tm_per_tensor_quant *quant,
                                const tm_dims *input_dims, const int8_t *input, const tm_dims *filter_dims,
                                const int8_t *filter, const tm_dims *bias_dims, const int32_t *bias,
                                const tm_dims *output_dims, int8_t *output);

#endif /* TINYML_TM_FC_H */
