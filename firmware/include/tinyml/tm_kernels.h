/* tinyml portable kernels: every family's API. */
#ifndef TINYML_TM_KERNELS_H
#define TINYML_TM_KERNELS_H

#include "tinyml/tm_types.h"
#include "tinyml/tm_conv.h"
#include "tinyml/tm_fc.h"
#include "tinyml/tm_pool.h"
#include "tinyml/tm_shape.h"
#include "tinyml/tm_layout.h"
#include "tinyml/tm_reduce.h"
#include "tinyml/tm_softmax.h"
#include "tinyml/tm_elementwise.h"
#include "tinyml/tm_binary.h"
#include "tinyml/tm_piecewise.h"
#include "tinyml/tm_activation.h"
#include "tinyml/tm_quantize.h"
#include "tinyml/tm_fast.h"
#include "tinyml/tm_subbyte.h"
#include "tinyml/tm_transpose_conv.h"
#include "tinyml/tm_batch_matmul.h"
#include "tinyml/tm_lut.h"
#include "tinyml/tm_argminmax.h"
#include "tinyml/tm_logsoftmax.h"
#include "tinyml/tm_l2norm.h"
#include "tinyml/tm_state.h"
#include "tinyml/tm_s16.h"

#endif /* TINYML_TM_KERNELS_H */
