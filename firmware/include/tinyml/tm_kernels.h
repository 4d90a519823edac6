/* tinyml portable kernels: every family's API. */
#ifndef TINYML_TM_KERNELS_H
#define TINYML_TM_KERNELS_H

#include "tinyml/tm_types.h"
#include "tinyml/tm_conv.h"
#include "tinyml/tm_fc.h"

#endif /* TINYML_TM_KERNELS_H */
