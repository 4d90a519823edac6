/* BATCH_MATMUL. */
#ifndef TINYML_TM_BATCH_MATMUL_H
#define TINYML_TM_BATCH_MATMUL_H

#include "tinyml/tm_types.h"

typedef struct {
  int32_t lhs_offset;
  int32_t rhs_offset;
  int32_t output_offset;
  /* whether lhs is stored (depth, rows) rather than (rows, depth), and rhs (cols, depth) rather than (depth, cols) */
  int32_t adj_x;
  int32_t adj_y;
  tm_activation activation;
} tm_batch_matmul_params;

/*
 * Batched int8 matrix product, one requantization for the whole output:
 * out[n][h] = (lhs[n][h] + lhs_offset) x (rhs[n][h] + rhs_offset).
 * Dims: n and h are two batch dimensions (an operand's extent 1 broadcasts
 * to the output's), w and c the matrix as stored. Output dims: (n, h, rows,
 * cols). Scratch: none (operands are read in place, with strides).
 */
int32_t tm_batch_matmul_s8_get_buffer_size(const tm_dims *lhs_dims, const tm_dims *rhs_dims);
tm_status tm_batch_matmul_s8(const tm_context *ctx, const tm_batch_matmul_params *params,
                             const tm_per_tensor_quant *quant, const tm_dims *lhs_dims, const int8_t *lhs,
                             const tm_dims *rhs_dims, const int8_t *rhs, const tm_dims *output_dims, int8_t *output);

#endif /* TINYML_TM_BATCH_MATMUL_H */
