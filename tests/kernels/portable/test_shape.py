"""PAD, PADV2, CONCATENATION and MEAN against TFLite Micro."""

from __future__ import annotations

import pytest
from keras_models import convert
from support import assert_bit_exact

from tinyml.errors import UnsupportedOpError
from tinyml.frontend.tflite import load_model
from tinyml.passes import optimize


def _sequential(shape, make_layers):
    """A build function for `convert`; layers are made inside it, after the seed is set."""
    import tensorflow as tf

    return lambda: tf.keras.Sequential([tf.keras.Input(shape), *make_layers()])


def _op_types(path):
    return [op.type for op in load_model(path).ops]


# --- PAD / PADV2 ---

PAD_CASES = {
    # name: (input shape, paddings without the batch row, constant or None)
    "hw": ((5, 7, 3), [[1, 2], [3, 0], [0, 0]], None),
    "channels": ((5, 7, 3), [[0, 0], [0, 0], [2, 1]], None),
    "all_dims": ((4, 3, 5), [[1, 0], [2, 1], [0, 3]], None),
    "rank3": ((7, 4), [[2, 1], [0, 0]], None),
    "padv2_hw": ((5, 7, 3), [[1, 2], [0, 1], [0, 0]], 0.5),
    "padv2_channels": ((6, 5, 2), [[0, 1], [1, 0], [1, 1]], -0.75),
}


@pytest.mark.parametrize("case", sorted(PAD_CASES))
def test_pad(case, tmp_path):
    import keras
    import tensorflow as tf

    shape, pads, constant = PAD_CASES[case]
    full = [[0, 0], *pads]
    kwargs = {} if constant is None else {"constant_values": constant}
    path = convert(
        _sequential(shape, lambda: [tf.keras.layers.Lambda(lambda x: keras.ops.pad(x, full, **kwargs))]),
        [shape],
        tmp_path / "m.tflite",
    )
    assert _op_types(path) == ["PAD" if constant is None else "PADV2"]
    assert_bit_exact(path, tmp_path)


def test_zero_padding2d_nonzero_zero_point(tmp_path):
    """After a ReLU conv the zero point is -128, which is what PAD must fill with."""
    import tensorflow as tf

    def layers():
        return [tf.keras.layers.Conv2D(4, 1, activation="relu"), tf.keras.layers.ZeroPadding2D(((1, 2), (3, 0)))]

    path = convert(_sequential((5, 7, 3), layers), [(5, 7, 3)], tmp_path / "m.tflite")
    pad = load_model(path).ops[-1]
    assert pad.type == "PAD" and pad.outputs[0].quant.zero_point == -128
    assert_bit_exact(path, tmp_path)


# --- CONCATENATION ---


@pytest.mark.parametrize("axis", [1, 2, -1])
def test_concatenate_inputs(axis, tmp_path):
    """Three model inputs of one shape (the converter orders same-shaped inputs freely; either way works)."""
    import tensorflow as tf

    shape = (4, 5, 3)

    def build():
        inputs = [tf.keras.Input(shape) for _ in range(3)]
        return tf.keras.Model(inputs, tf.keras.layers.Concatenate(axis=axis)(inputs))

    path = convert(build, [shape] * 3, tmp_path / "m.tflite")
    assert _op_types(path) == ["CONCATENATION"]
    assert_bit_exact(path, tmp_path)


def test_concatenate_branches(tmp_path):
    """Branches of different depth and origin: the converter gives every operand the output's quantization."""
    import tensorflow as tf

    def build():
        x = tf.keras.Input((6, 5, 3))
        conv = tf.keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
        pool = tf.keras.layers.MaxPooling2D(3, strides=1, padding="same")(x)
        return tf.keras.Model(x, tf.keras.layers.Concatenate()([conv, x, pool]))

    path = convert(build, [(6, 5, 3)], tmp_path / "m.tflite")
    assert _op_types(path)[-1] == "CONCATENATION"
    assert_bit_exact(path, tmp_path)


def test_concatenate_dense_rows(tmp_path):
    """Rank-2 concatenation of two FULLY_CONNECTED outputs."""
    import tensorflow as tf

    def build():
        x = tf.keras.Input((7,))
        a = tf.keras.layers.Dense(3)(x)
        b = tf.keras.layers.Dense(5, activation="relu")(x)
        return tf.keras.Model(x, tf.keras.layers.Concatenate()([a, b]))

    path = convert(build, [(7,)], tmp_path / "m.tflite")
    assert _op_types(path)[-1] == "CONCATENATION"
    assert_bit_exact(path, tmp_path)


# --- MEAN ---

MEAN_CASES = {
    # name: (input shape, axes, keepdims)
    "hw": ((5, 7, 6), [1, 2], False),
    "hw_keepdims": ((5, 7, 6), [1, 2], True),
    "h": ((5, 7, 6), [1], True),
    "w": ((5, 7, 6), [2], False),
    "channels": ((5, 7, 6), [-1], False),
    "hwc": ((5, 7, 6), [1, 2, 3], False),
    "rank3_time": ((10, 8), [1], False),
}


def _mean_model(shape, axes, keepdims):
    import keras
    import tensorflow as tf

    return _sequential(
        shape, lambda: [tf.keras.layers.Lambda(lambda x: keras.ops.mean(x, axis=axes, keepdims=keepdims))]
    )


@pytest.mark.parametrize("case", sorted(MEAN_CASES))
def test_mean(case, tmp_path):
    shape, axes, keepdims = MEAN_CASES[case]
    path = convert(_mean_model(shape, axes, keepdims), [shape], tmp_path / "m.tflite")
    assert _op_types(path) == ["MEAN"]
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("scale_factor", [1.0, 1 / 3, 40.0], ids=["same_quant", "finer_output", "coarser_output"])
def test_mean_output_quantization(scale_factor, tmp_path):
    """Rewrites the output scale and zero point: equal to the input's (a multiplier of exactly 1 before
    the 1/count factor), a finer scale that saturates, and a coarser one."""
    import numpy as np
    from tensorflow.lite.tools import flatbuffer_utils

    path = convert(_mean_model((6, 9, 5), [1, 2], False), [(6, 9, 5)], tmp_path / "src.tflite")
    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    op = graph.operators[0]
    src = graph.tensors[op.inputs[0]].quantization
    dst = graph.tensors[op.outputs[0]].quantization
    dst.scale = np.array([np.float32(src.scale[0]) * np.float32(scale_factor)], dtype=np.float32)
    dst.zeroPoint = np.array(src.zeroPoint if scale_factor == 1.0 else [17], dtype=np.int64)
    patched = tmp_path / "m.tflite"
    flatbuffer_utils.write_model(model, str(patched))
    assert_bit_exact(patched, tmp_path)


def test_mean_non_adjacent_axes_rejected(tmp_path):
    path = convert(_mean_model((5, 7, 6), [1, 3], False), [(5, 7, 6)], tmp_path / "m.tflite")
    with pytest.raises(UnsupportedOpError, match="not adjacent"):
        optimize(load_model(path))
