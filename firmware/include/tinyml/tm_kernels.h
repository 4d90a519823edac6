/* tinyml portable kernels: every family's API. */
#ifndef TINYML_TM_KERNELS_H
#define TINYML_TM_KERNELS_H

#include "tinyml/tm_types.h"
#include "tinyml/tm_conv.h"
#include "tinyml/tm_fc.h"
#include "tinyml/tm_pool.h"
#include "tinyml/tm_shape.h"
#include "tinyml/tm_reduce.h"
#include "tinyml/tm_softmax.h"
#include "tinyml/tm_elementwise.h"
#include "tinyml/tm_activation.h"
#include "tinyml/tm_quantize.h"
#include "tinyml/tm_fast.h"
#include "tinyml/tm_subbyte.h"
#include "tinyml/tm_s16.h"

#endif /* TINYML_TM_KERNELS_H */
