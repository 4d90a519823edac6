"""L2_NORMALIZATION (int8, last axis) against TFLite Micro: row lengths, ranks, input scales."""

from __future__ import annotations

import pytest
from keras_models import convert
from support import assert_bit_exact

from tinyml.frontend.tflite import load_model
from tinyml.passes import optimize


def l2_model(gain: float, shape):
    import tensorflow as tf

    def build():
        x = tf.keras.Input(shape)
        return tf.keras.Model(x, tf.keras.layers.Lambda(lambda a: tf.math.l2_normalize(a * gain, axis=-1))(x))

    return build


@pytest.mark.parametrize("shape", [(16,), (5, 7), (4, 3, 33), (2, 2, 600)], ids=["vector", "rows", "rank3", "rank4"])
@pytest.mark.parametrize("gain", [1.0, 0.02], ids=["unit", "small"])
def test_l2_normalization(shape, gain, tmp_path):
    path = convert(l2_model(gain, shape), [shape], tmp_path / "m.tflite")
    assert [op.type for op in optimize(load_model(path)).ops][-1] == "L2_NORMALIZATION"
    assert_bit_exact(path, tmp_path)


def test_tanh_and_l2_normalization_in_place(tmp_path):
    """Between two convolutions both write over their dying input: the planner's in-place variants, still exact."""
    import tensorflow as tf

    def build():
        x = tf.keras.Input((9, 9, 8))
        a = tf.keras.layers.Conv2D(8, 3, padding="same")(x)
        b = tf.keras.layers.Lambda(tf.tanh)(a)
        c = tf.keras.layers.Lambda(lambda t: tf.math.l2_normalize(t, axis=-1))(b)
        return tf.keras.Model(x, tf.keras.layers.Conv2D(4, 3)(c))

    path = convert(build, [(9, 9, 8)], tmp_path / "m.tflite")
    planned = assert_bit_exact(path, tmp_path)
    types = [op.type for op in optimize(load_model(path)).ops]
    assert types == ["CONV_2D", "TANH", "L2_NORMALIZATION", "CONV_2D"] and {1, 2} <= planned.plan.in_place
