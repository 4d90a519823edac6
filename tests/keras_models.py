"""Tiny Keras models converted to int8 TFLite by TensorFlow's converter, for per-op tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def convert(
    build: Callable[[], object],
    input_shapes: list[tuple[int, ...]],
    path: Path,
    float_io: bool = False,
    per_tensor: bool = False,
    seed: int = 0,
) -> Path:
    """Build a Keras model with `build()`, quantize it to int8 and write it to `path`.

    `input_shapes` exclude the batch dimension. The representative data set is
    seeded noise, so conversions are reproducible. `float_io` keeps float32
    inputs and outputs (the converter adds QUANTIZE/DEQUANTIZE); `per_tensor`
    asks for per-tensor weight scales.
    """
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    model = build()
    rng = np.random.default_rng(seed)

    names = [t.name for t in model.inputs]  # the converter may reorder inputs: feed them by name

    def representative():
        for _ in range(32):
            yield {
                n: rng.uniform(-1.5, 1.5, size=(1, *s)).astype(np.float32)
                for n, s in zip(names, input_shapes, strict=True)
            }

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if per_tensor:
        converter._experimental_disable_per_channel = True
    path.write_bytes(converter.convert())
    return path


def convert_16x8(fn: Callable[[object], object], shape: tuple[int, ...], path: Path, bound: float) -> Path:
    """A model of int16 activations (TFLite's 16x8 mode) applying `fn` (TensorFlow ops, through a Lambda layer) to
    one int16 input of `shape` (batch excluded), calibrated on seeded uniform noise in [-bound, bound]."""
    import tensorflow as tf

    x = tf.keras.Input(shape)
    model = tf.keras.Model(x, tf.keras.layers.Lambda(fn)(x))
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(16):
            yield [rng.uniform(-bound, bound, (1, *shape)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    converter.inference_input_type = tf.int16
    converter.inference_output_type = tf.int16
    path.write_bytes(converter.convert())
    return path


def int4_weights_model(path: Path, seed: int = 0) -> Path:
    """CONV_2D (per-channel) -> DEPTHWISE_CONV_2D -> RESHAPE -> FULLY_CONNECTED with INT4 weights, int8 elsewhere.

    TensorFlow's converter stores a weight as INT4 when it comes through a 4-bit narrow-range fake quant; with
    every activation fake-quantized too, no representative data set is needed.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    conv_w = rng.uniform(-1, 1, (3, 3, 4, 8)).astype(np.float32)
    depthwise_w = rng.uniform(-1, 1, (3, 3, 8, 1)).astype(np.float32)
    dense_w = rng.uniform(-0.3, 0.3, (6 * 6 * 8, 5)).astype(np.float32)
    fake_quant = tf.quantization.fake_quant_with_min_max_vars
    per_channel = tf.quantization.fake_quant_with_min_max_vars_per_channel
    bound = np.abs(conv_w).reshape(-1, 8).max(axis=0)

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((1, 8, 8, 4), tf.float32)])
        def __call__(self, x):  # type: ignore[no-untyped-def]
            x = fake_quant(x, -2.0, 2.0)
            w = per_channel(tf.constant(conv_w), -bound, bound, num_bits=4, narrow_range=True)
            y = fake_quant(tf.nn.relu(tf.nn.conv2d(x, w, 1, "VALID")), 0.0, 6.0)
            w = fake_quant(tf.constant(depthwise_w), -1.0, 1.0, num_bits=4, narrow_range=True)
            y = fake_quant(tf.nn.depthwise_conv2d(y, w, [1, 1, 1, 1], "SAME"), -8.0, 8.0)
            w = fake_quant(tf.constant(dense_w), -0.3, 0.3, num_bits=4, narrow_range=True)
            return fake_quant(tf.matmul(tf.reshape(y, (1, -1)), w), -20.0, 20.0)

    model = Model()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([model.__call__.get_concrete_function()], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path
