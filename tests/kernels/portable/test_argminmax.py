"""ARG_MAX and ARG_MIN (int8 in, int32 index out) along each axis, with ties, against TFLite Micro."""

from __future__ import annotations

import pytest
from keras_models import convert
from support import assert_bit_exact

from tinyml.frontend.tflite import load_model
from tinyml.ops import Unsupported
from tinyml.passes import check_op, optimize


def arg_model(fn, shape):
    import tensorflow as tf

    def build():
        x = tf.keras.Input(shape)
        return tf.keras.Model(x, tf.keras.layers.Lambda(fn)(x))

    return build


def arg_ops(path) -> list[str]:
    return [op.type for op in optimize(load_model(path)).ops]


@pytest.mark.parametrize("op", ["ARG_MAX", "ARG_MIN"])
@pytest.mark.parametrize("axis", [-1, 1, 2, 0], ids=["last", "rows", "cols", "batch"])
def test_axes(op, axis, tmp_path):
    """Every axis of a 4-D input (the batch axis has one element: all indices 0)."""
    import tensorflow as tf

    pick = tf.argmax if op == "ARG_MAX" else tf.argmin
    shape = (6, 5, 7)
    path = convert(arg_model(lambda a: pick(a, axis=axis, output_type=tf.int32), shape), [shape], tmp_path / "m.tflite")
    assert arg_ops(path) == [op]
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("op", ["ARG_MAX", "ARG_MIN"])
def test_ties_keep_the_first_index(op, tmp_path):
    """After a RELU6 with a coarse output half the values are equal (the clamp's ends): ties everywhere."""
    import tensorflow as tf

    pick = tf.argmax if op == "ARG_MAX" else tf.argmin

    def fn(a):
        return pick(tf.nn.relu6(a * 8.0), axis=-1, output_type=tf.int32)

    path = convert(arg_model(fn, (3, 40)), [(3, 40)], tmp_path / "m.tflite")
    assert arg_ops(path)[-1] == op
    assert_bit_exact(path, tmp_path)


def test_rank2_and_float_input(tmp_path):
    """A 2-D input with a float model input (QUANTIZE first); the int32 index is the model output."""
    import tensorflow as tf

    path = convert(
        arg_model(lambda a: tf.argmax(a, axis=-1, output_type=tf.int32), (33,)),
        [(33,)],
        tmp_path / "m.tflite",
        float_io=True,
    )
    assert arg_ops(path) == ["QUANTIZE", "ARG_MAX"]
    assert_bit_exact(path, tmp_path)


def test_int64_output_refused(tmp_path):
    """tf.argmax's default int64 index: TFLM writes int32 only, so it is refused by name."""
    import tensorflow as tf

    def fn(a):
        return tf.cast(tf.argmax(a, axis=-1), tf.int32)  # int64 ARG_MAX, then a CAST

    path = convert(arg_model(fn, (4, 6)), [(4, 6)], tmp_path / "m.tflite")
    (op,) = [op for op in load_model(path).ops if op.type == "ARG_MAX"]
    with pytest.raises(Unsupported, match="ARG_MAX with int64 output; TensorFlow Lite Micro writes int32 indices only"):
        check_op(op)
