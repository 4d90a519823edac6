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
