"""Models for the int16 SOFTMAX tests: one SOFTMAX op written with the flatbuffer schema, where a test needs an exact
input scale and beta (the converter picks scales from data and always writes beta 1), and a keyword-spotter-shaped
16x8 model by TensorFlow's converter (tests/int16_models.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from int16_models import convert16

#: TFLite's code for SOFTMAX, and its TensorType for int16
_SOFTMAX, _INT16 = 25, 7
#: the output quantization TFLite gives an int16 softmax: Q0.15
OUTPUT_SCALE = 1 / 32768


def softmax16_model(path: Path, shape: Sequence[int], input_scale: float, beta: float = 1.0) -> Path:
    """A model that is one int16 SOFTMAX (zero points 0, output scale 1/32768) over the last axis of `shape`.
    An unused buffer as large as the tensors, and 8 KiB for TFLM's two persistent tables and its bookkeeping,
    makes the file big enough for TFLite Micro's Python runtime, which sizes its arena at ten times the file."""
    import ai_edge_litert.schema_py_generated as fb

    from tinyml.quant.flatbuf import write_model

    model = fb.ModelT()
    model.version, model.description = 3, "int16 softmax"
    padding = fb.BufferT()
    padding.data = np.zeros(int(np.prod(shape)) * 4 + 8192, np.uint8)
    model.buffers = [fb.BufferT(), padding]
    code = fb.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = _SOFTMAX
    code.version = 3
    model.operatorCodes = [code]
    sub = fb.SubGraphT()
    sub.tensors = []
    for name, scale in (("input", input_scale), ("output", OUTPUT_SCALE)):
        t = fb.TensorT()
        t.name, t.type, t.buffer = name, _INT16, 0
        t.shape = np.array(shape, dtype=np.int32)
        q = fb.QuantizationParametersT()
        q.scale, q.zeroPoint = np.array([scale], np.float32), np.array([0], np.int64)
        t.quantization = q
        sub.tensors.append(t)
    options = fb.SoftmaxOptionsT()
    options.beta = beta
    op = fb.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, np.array([0]), np.array([1])
    op.builtinOptionsType, op.builtinOptions = fb.BuiltinOptions.SoftmaxOptions, options
    sub.operators = [op]
    sub.inputs, sub.outputs = np.array([0], np.int32), np.array([1], np.int32)
    model.subgraphs = [sub]
    path.write_bytes(write_model(model))
    return path


def keyword_spotter16(path: Path, frames: int = 49, features: int = 10, classes: int = 12) -> Path:
    """A small keyword spotter in 16x8 (the shape of MLPerf Tiny's DS-CNN): a (frames, features) spectrogram through
    a strided convolution, a depthwise-separable block, average pooling and a dense layer into a softmax."""

    def build():  # type: ignore[no-untyped-def]
        import tensorflow as tf

        layers = tf.keras.layers
        x = inp = tf.keras.Input((frames, features, 1))
        x = layers.Conv2D(16, (5, 3), strides=(2, 2), padding="same", activation="relu")(x)
        x = layers.DepthwiseConv2D((3, 3), padding="same", activation="relu")(x)
        x = layers.Conv2D(24, 1, activation="relu")(x)
        x = layers.AveragePooling2D(pool_size=(x.shape[1], x.shape[2]))(x)
        x = layers.Flatten()(x)
        x = layers.Dense(classes)(x)
        return tf.keras.Model(inp, layers.Softmax()(x))

    return convert16(build, [(frames, features, 1)], path, low=-4.0, high=4.0)
