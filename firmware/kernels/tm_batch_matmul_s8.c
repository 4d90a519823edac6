/*
 * BATCH_MATMUL, int8, per-tensor, as TFLite Micro's reference computes it:
 * each output is sum over depth of (lhs + lhs_offset) * (rhs + rhs_offset)
 * in int32, requantized once and clamped. TFLM copies a transposed rhs (or
 * lhs) into a buffer first; here the operands are read with strides instead,
 * and tinyml stores a constant operand already in the layout whose depth is
 * contiguous.
 */
#include "tinyml/tm_kernels.h"
#include "tinyml/tm_math.h"

int32_t tm_batch_matmul_s8_get_buffer_size(const tm_dims *lhs_dims, const tm_dims *rhs_dims) {
  (void)lhs_dims;
  (void)rhs_dims;
  return 0;
}

/* The element offset of batch (n, h) in an operand of `dims`, its extents of 1 broadcasting. */
static int32_t batch_start(const tm_dims *dims, int32_t n, int32_t h) {
  const int32_t bn = dims->n > 1 ? n : 0;
  const int32_t bh = dims->h > 1 ? h : 0;
  return (bn * dims->h + bh) * dims->w * dims->c;
}

tm_status tm_batch_matmul_s8(const tm_context *ctx, const tm_batch_matmul_params *params,
                             const tm_per_tensor_quant *quant, const tm_dims *lhs_dims, const int8_t *lhs,
                             const tm_dims *rhs_dims, const int8_t *rhs, const tm_dims *output_dims, int8_t *output) {
  (void)ctx;
  const int32_t rows = output_dims->w;
  const int32_t cols = output_dims->c;
  const int32_t depth = params->adj_x ? lhs_dims->w : lhs_dims->c;
  const int32_t lhs_rows = params->adj_x ? lhs_dims->c : lhs_dims->w;
  const int32_t rhs_depth = params->adj_y ? rhs_dims->c : rhs_dims->w;
  const int32_t rhs_cols = params->adj_y ? rhs_dims->w : rhs_dims->c;
  if (lhs_rows != rows || rhs_cols != cols || rhs_depth != depth) {
    return TM_ERROR_ARG;
  }
  /* strides between rows / depth steps of lhs, and between depth steps / columns of rhs */
  const int32_t lhs_row_step = params->adj_x ? 1 : depth;
  const int32_t lhs_k_step = params->adj_x ? rows : 1;
  const int32_t rhs_k_step = params->adj_y ? 1 : cols;
  const int32_t rhs_col_step = params->adj_y ? depth : 1;
  const int32_t lhs_offset = params->lhs_offset;
  const int32_t rhs_offset = params->rhs_offset;

  for (int32_t n = 0; n < output_dims->n; ++n) {
    for (int32_t h = 0; h < output_dims->h; ++h) {
      const int8_t *lhs_batch = lhs + batch_start(lhs_dims, n, h);
      const int8_t *rhs_batch = rhs + batch_start(rhs_dims, n, h);
      for (int32_t r = 0; r < rows; ++r) {
        const int8_t *lhs_row = lhs_batch + r * lhs_row_step;
        for (int32_t c = 0; c < cols; ++c) {
          const int8_t *rhs_col = rhs_batch + c * rhs_col_step;
          int32_t acc = 0;
          if (lhs_k_step == 1 && rhs_k_step == 1) {
            for (int32_t k = 0; k < depth; ++k) {
              acc += (lhs_row[k] + lhs_offset) * (rhs_col[k] + rhs_offset);
            }
          } else {
            for (int32_t k = 0; k < depth; ++k) {
              acc += (lhs_row[k * lhs_k_step] + lhs_offset) * (rhs_col[k * rhs_k_step] + rhs_offset);
            }
          }
          acc = tm_requantize(acc, quant->multiplier, quant->shift) + params->output_offset;
          *output++ = tm_clamp_s8(acc, params->activation.min, params->activation.max);
        }
      }
    }
  }
  return TM_OK;
}
