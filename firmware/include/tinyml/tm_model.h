/* Descriptions of a generated model's inputs and outputs. */
#ifndef TINYML_TM_MODEL_H
#define TINYML_TM_MODEL_H

#include <stdint.h>

typedef enum { TM_INT8, TM_UINT8, TM_INT16, TM_INT32, TM_FLOAT32 } tm_type;

typedef struct {
  const char *name;
  tm_type type;
  int32_t rank;
  int32_t shape[6];
  int32_t bytes;
  float scale;        /* quantization: real = scale * (q - zero_point) */
  int32_t zero_point;
} tm_tensor_info;

/* Hooks around every layer: with TM_PROFILE_LAYERS defined, the application
 * provides tm_layer_begin/tm_layer_end (the firmware reads the cycle counter
 * there); otherwise they cost nothing. */
#ifdef TM_PROFILE_LAYERS
void tm_layer_begin(int32_t index);
void tm_layer_end(int32_t index);
#define TM_LAYER_BEGIN(index) tm_layer_begin(index)
#define TM_LAYER_END(index) tm_layer_end(index)
#else
#define TM_LAYER_BEGIN(index)
#define TM_LAYER_END(index)
#endif

#endif /* TINYML_TM_MODEL_H */
