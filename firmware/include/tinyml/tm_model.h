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

/* Hooks around every layer, empty unless the application defines them
 * (the benchmark firmware uses them to read the cycle counter). */
#ifndef TM_LAYER_BEGIN
#define TM_LAYER_BEGIN(index)
#endif
#ifndef TM_LAYER_END
#define TM_LAYER_END(index)
#endif

#endif /* TINYML_TM_MODEL_H */
