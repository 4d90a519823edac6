"""AVERAGE_POOL_2D, MAX_POOL_2D and global average pooling against TFLite Micro."""

from __future__ import annotations

import pytest
from keras_models import convert
from support import assert_bit_exact

from tinyml.frontend.tflite import load_model

POOL_CASES = {
    # name: (input shape, pool size, strides, padding)
    "2x2_valid": ((8, 8, 3), 2, None, "valid"),
    "3x3_same_stride2_odd": ((9, 7, 5), 3, 2, "same"),
    "3x3_same_stride1": ((5, 6, 4), 3, 1, "same"),  # every border window is clipped
    "rect_window_same": ((10, 9, 2), (3, 2), (2, 3), "same"),
    "stride_over_window": ((11, 11, 3), 2, 3, "valid"),
    "whole_input": ((25, 5, 16), (25, 5), None, "valid"),  # the MLPerf KWS head
    "resnet_head": ((8, 8, 64), 8, None, "valid"),  # the MLPerf image classification head
}


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pool2d(case, kind, tmp_path):
    import tensorflow as tf

    shape, pool, strides, padding = POOL_CASES[case]
    layer = tf.keras.layers.AveragePooling2D if kind == "avg" else tf.keras.layers.MaxPooling2D

    def build():
        return tf.keras.Sequential([tf.keras.Input(shape), layer(pool, strides=strides, padding=padding)])

    assert_bit_exact(convert(build, [shape], tmp_path / "m.tflite"), tmp_path)


@pytest.mark.parametrize(("kind", "act"), [("avg", "relu"), ("avg", "relu6"), ("max", "relu"), ("max", "relu6")])
def test_pool2d_fused_activation(kind, act, tmp_path):
    """A conv with a zero point away from -128 feeding pool + activation: the converter fuses the clamp."""
    import tensorflow as tf

    layer = tf.keras.layers.AveragePooling2D if kind == "avg" else tf.keras.layers.MaxPooling2D

    def build():
        return tf.keras.Sequential(
            [
                tf.keras.Input((9, 9, 3)),
                tf.keras.layers.Conv2D(4, 3),
                layer(3, strides=2, padding="same"),
                tf.keras.layers.Activation(act),
            ]
        )

    path = convert(build, [(9, 9, 3)], tmp_path / "m.tflite")
    pools = [op for op in load_model(path).ops if op.type.endswith("POOL_2D")]
    assert [op.attrs.activation for op in pools] == [act.upper()]
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape", [(5, 7, 6), (3, 3, 40)], ids=["odd", "small"])
def test_global_average_pooling(shape, keepdims, tmp_path):
    """Keras' GlobalAveragePooling2D converts to MEAN over axes 1 and 2."""
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input(shape), tf.keras.layers.GlobalAveragePooling2D(keepdims=keepdims)])

    path = convert(build, [shape], tmp_path / "m.tflite")
    assert [op.type for op in load_model(path).ops] == ["MEAN"]
    assert_bit_exact(path, tmp_path)
