"""Models for the int16 tests: Keras -> TFLite 16x8 (int16 activations, int8 weights) by TensorFlow's converter,
and QUANTIZE/DEQUANTIZE chains between integer types written with the flatbuffer schema (the converter makes
int8 <-> int16 requantizations only inside mixed models)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: TFLite TensorType numbers by the names the chain builder takes
_TYPES = {"float32": 0, "uint8": 3, "int16": 7, "int8": 9}


def convert16(
    build: Callable[[], object],
    input_shapes: list[tuple[int, ...]],
    path: Path,
    float_io: bool = False,
    seed: int = 0,
    low: float = -1.5,
    high: float = 1.5,
    per_tensor: bool = False,
) -> Path:
    """Build a Keras model with `build()` and convert it to TFLite's 16x8 quantization (int16 activations with
    zero point 0, int8 weights, int64 conv/dense biases); int16 inputs and outputs unless `float_io`; one weight
    scale per tensor instead of per channel with `per_tensor`. The representative data is seeded uniform noise in
    [low, high)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    model = build()
    rng = np.random.default_rng(seed)
    names = [t.name for t in model.inputs]

    def representative():
        for _ in range(32):
            yield {
                n: rng.uniform(low, high, size=(1, *s)).astype(np.float32)
                for n, s in zip(names, input_shapes, strict=True)
            }

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    if per_tensor:
        converter._experimental_disable_per_channel = True
    if not float_io:
        converter.inference_input_type = tf.int16
        converter.inference_output_type = tf.int16
    path.write_bytes(converter.convert())
    return path


def quantize_chain(path: Path, shape: Sequence[int], stages: Sequence[tuple[str, float, int]]) -> Path:
    """A model that is one chain of QUANTIZE ops (DEQUANTIZE into float32): the input has the first stage's
    (type, scale, zero point), each further stage is the output of an op converting from the one before.
    A float32 stage's scale and zero point are ignored. An unused buffer as large as the tensors makes the file
    big enough for TFLite Micro's Python runtime, which sizes its arena at ten times the file."""
    import ai_edge_litert.schema_py_generated as fb

    from tinyml.quant.flatbuf import write_model

    model = fb.ModelT()
    model.version, model.description = 3, "quantize chain"
    padding = fb.BufferT()
    padding.data = np.zeros(int(np.prod(shape)) * 4 * len(stages), np.uint8)
    model.buffers = [fb.BufferT(), padding]
    codes = {}
    sub = fb.SubGraphT()
    sub.tensors, sub.operators = [], []
    for k, (type_name, scale, zero_point) in enumerate(stages):
        t = fb.TensorT()
        t.name, t.type, t.buffer = f"t{k}", _TYPES[type_name], 0
        t.shape = np.array(shape, dtype=np.int32)
        if type_name != "float32":
            q = fb.QuantizationParametersT()
            q.scale, q.zeroPoint = np.array([scale], np.float32), np.array([zero_point], np.int64)
            t.quantization = q
        sub.tensors.append(t)
        if k:
            code = 6 if type_name == "float32" else 114
            if code not in codes:
                c = fb.OperatorCodeT()
                c.builtinCode = c.deprecatedBuiltinCode = code
                c.version = 1
                codes[code] = len(codes)
                model.operatorCodes = [*(model.operatorCodes or []), c]
            op = fb.OperatorT()
            op.opcodeIndex, op.inputs, op.outputs = codes[code], np.array([k - 1]), np.array([k])
            sub.operators.append(op)
    sub.inputs, sub.outputs = np.array([0], np.int32), np.array([len(stages) - 1], np.int32)
    model.subgraphs = [sub]
    path.write_bytes(write_model(model))
    return path


def convert_uint8_io(build: Callable[[], object], input_shape: tuple[int, ...], path: Path, seed: int = 0) -> Path:
    """An int8 model with uint8 input and output, as detectors fed camera bytes have: the converter puts a
    QUANTIZE uint8 -> int8 after the input and one int8 -> uint8 before the output."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    model = build()
    rng = np.random.default_rng(seed)

    def representative():
        for _ in range(32):
            yield [rng.uniform(0.0, 1.0, size=(1, *input_shape)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    path.write_bytes(converter.convert())
    return path


def small_16x8_cnn(path: Path) -> Path:
    """A whole 16x8 model, float in and out: conv, depthwise, a residual ADD, pools, dense."""
    import tensorflow as tf

    def build():
        layers = tf.keras.layers
        x = tf.keras.Input((12, 12, 3))
        y = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        z = layers.DepthwiseConv2D(3, padding="same")(y)
        y = layers.ReLU()(layers.Add()([y, z]))
        y = layers.MaxPooling2D(2)(y)
        y = layers.AveragePooling2D(2)(y)
        y = layers.Flatten()(y)
        return tf.keras.Model(x, layers.Dense(5)(y))

    return convert16(build, [(12, 12, 3)], path, float_io=True)
