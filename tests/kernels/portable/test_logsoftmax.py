"""LOG_SOFTMAX (int8) against TFLite Micro: row lengths, input scales (narrow, wide: most outputs at -128), ranks."""

from __future__ import annotations

import pytest
from keras_models import convert
from support import assert_bit_exact

from tinyml.frontend.tflite import load_model
from tinyml.passes import optimize


def log_softmax_model(gain: float, shape):
    import tensorflow as tf

    def build():
        x = tf.keras.Input(shape)
        return tf.keras.Model(x, tf.keras.layers.Lambda(lambda a: tf.nn.log_softmax(a * gain))(x))

    return build


@pytest.mark.parametrize(
    "shape", [(10,), (4, 6), (3, 50), (2, 3, 300)], ids=["vector", "rows", "long_rows", "rank3_very_long"]
)
@pytest.mark.parametrize("gain", [1.0, 12.0, 0.05], ids=["unit", "wide", "narrow"])
def test_log_softmax(shape, gain, tmp_path):
    path = convert(log_softmax_model(gain, shape), [shape], tmp_path / "m.tflite")
    assert [op.type for op in optimize(load_model(path)).ops][-1] == "LOG_SOFTMAX"
    assert_bit_exact(path, tmp_path)
