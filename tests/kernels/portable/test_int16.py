"""16x8 models (int16 activations, int8 weights, int64 biases) against TFLite Micro, op by op and corner by corner:
the portable tm_*_s16 kernels on the host. (Keras's dilated convolutions convert to SPACE_TO_BATCH_ND around an
undilated one, which TFLite Micro does not run in int16, so dilation is left to the reference tests.)"""

from __future__ import annotations

import numpy as np
import pytest
from int16_models import convert16, small_16x8_cnn
from support import assert_bit_exact

from tinyml.frontend.tflite import load_model
from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT16, INT64
from tinyml.ops.region import COPY
from tinyml.passes import optimize
from tinyml.plan import PlanOptions, check_plan, plan_memory
from tinyml.plan.patches import PatchConfig


def _ops(path) -> list:
    return optimize(load_model(path)).ops


def _assert_16x8(path, op_type: str) -> None:
    """The model has the op under test, on int16 tensors (and int64 bias where it has weights)."""
    ops = [op for op in _ops(path) if op.type == op_type]
    assert ops, f"no {op_type} in {[op.type for op in _ops(path)]}"
    for op in ops:
        assert op.input(0).type == INT16 and op.outputs[0].type == INT16
        if op_type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and op.opt_input(2) is not None:
            assert op.inputs[2].type == INT64


CONV_CASES = {
    "valid": dict(filters=5, kernel_size=3),
    "same_stride2": dict(filters=6, kernel_size=3, strides=2, padding="same"),
    "grouped": dict(filters=6, kernel_size=3, groups=2, padding="same"),
    "relu": dict(filters=5, kernel_size=(3, 2), activation="relu"),
    "relu6": dict(filters=5, kernel_size=1, activation="relu6"),
    "no_bias": dict(filters=3, kernel_size=2, use_bias=False),
}


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d(case, tmp_path):
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((9, 8, 4)), tf.keras.layers.Conv2D(**CONV_CASES[case])])

    path = convert16(build, [(9, 8, 4)], tmp_path / "m.tflite")
    _assert_16x8(path, "CONV_2D")
    assert_bit_exact(path, tmp_path)


DEPTHWISE_CASES = {
    "valid": dict(kernel_size=3),
    "same_stride2": dict(kernel_size=3, strides=2, padding="same"),
    "multiplier2": dict(kernel_size=3, depth_multiplier=2, padding="same"),
    "relu6": dict(kernel_size=3, padding="same", activation="relu6"),
}


@pytest.mark.parametrize("case", DEPTHWISE_CASES)
def test_depthwise_conv2d(case, tmp_path):
    import tensorflow as tf

    def build():
        return tf.keras.Sequential(
            [tf.keras.Input((9, 7, 3)), tf.keras.layers.DepthwiseConv2D(**DEPTHWISE_CASES[case])]
        )

    path = convert16(build, [(9, 7, 3)], tmp_path / "m.tflite")
    _assert_16x8(path, "DEPTHWISE_CONV_2D")
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("activation", [None, "relu", "relu6"])
def test_fully_connected(activation, tmp_path):
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((37,)), tf.keras.layers.Dense(11, activation=activation)])

    path = convert16(build, [(37,)], tmp_path / "m.tflite")
    _assert_16x8(path, "FULLY_CONNECTED")
    assert_bit_exact(path, tmp_path)


def test_fully_connected_float_io_wide_range(tmp_path):
    """Float input and output (QUANTIZE to int16, DEQUANTIZE from it), large accumulators: 300 inputs in [-40, 40]."""
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((300,)), tf.keras.layers.Dense(9)])

    path = convert16(build, [(300,)], tmp_path / "m.tflite", float_io=True, low=-40.0, high=40.0)
    assert [op.type for op in _ops(path)] == ["QUANTIZE", "FULLY_CONNECTED", "DEQUANTIZE"]
    _assert_16x8(path, "FULLY_CONNECTED")
    assert_bit_exact(path, tmp_path)


BINARY_CASES = {
    "same_shape": ((5, 6, 4), (5, 6, 4)),
    "broadcast_channels": ((5, 6, 4), (1, 1, 4)),
    "broadcast_rows": ((5, 6, 4), (5, 1, 4)),
}


@pytest.mark.parametrize("case", BINARY_CASES)
@pytest.mark.parametrize("op", ["ADD", "MUL"])
def test_binary(op, case, tmp_path):
    """Two inputs at different scales (the second times 3), broadcast where the case says, then a ReLU that the
    converter fuses."""
    import tensorflow as tf

    a_shape, b_shape = BINARY_CASES[case]

    def build():
        a, b = tf.keras.Input(a_shape), tf.keras.Input(b_shape)
        layer = tf.keras.layers.Add() if op == "ADD" else tf.keras.layers.Multiply()
        y = layer([a, tf.keras.layers.Rescaling(3.0)(b)])
        return tf.keras.Model([a, b], tf.keras.layers.ReLU()(y))

    path = convert16(build, [a_shape, b_shape], tmp_path / "m.tflite")
    _assert_16x8(path, op)
    assert_bit_exact(path, tmp_path)


POOL_CASES = {
    "valid": dict(pool_size=2),
    "same_stride1": dict(pool_size=3, strides=1, padding="same"),
    "odd": dict(pool_size=(3, 2), strides=(2, 3), padding="same"),
}


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("kind", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_pool2d(kind, case, tmp_path):
    import tensorflow as tf

    layer = tf.keras.layers.AveragePooling2D if kind == "AVERAGE_POOL_2D" else tf.keras.layers.MaxPooling2D

    def build():
        return tf.keras.Sequential([tf.keras.Input((9, 7, 3)), layer(**POOL_CASES[case])])

    path = convert16(build, [(9, 7, 3)], tmp_path / "m.tflite")
    _assert_16x8(path, kind)
    assert_bit_exact(path, tmp_path)


def test_small_cnn_float_io(tmp_path):
    """Conv, depthwise, pool, a residual ADD, dense, with float input and output: a whole 16x8 model."""
    path = small_16x8_cnn(tmp_path / "m.tflite")
    types = [op.type for op in _ops(path)]
    assert types[0] == "QUANTIZE" and types[-1] == "DEQUANTIZE"
    assert_bit_exact(path, tmp_path)


def test_int16_tensors_take_two_bytes():
    """The planner sizes int16 activations at two bytes per element: a 1x1 conv from 8x8x4 to 8x8x6 int16 (input
    and output both live, and the int16 kernels never run in place) needs exactly 2 * (256 + 384) bytes."""
    b = GraphBuilder()
    x = b.input((1, 8, 8, 4), type=INT16, scale=1e-3)
    w = b.weights(np.arange(24).reshape(6, 1, 1, 4) - 12, scales=0.01)
    bias = b.const(np.arange(6) * 1000, type=INT64)
    b.conv2d(x, w, bias, padding="VALID", scale=2e-3)
    graph = optimize(b.graph())
    assert [t.nbytes for t in (*graph.inputs, *graph.outputs)] == [512, 768]
    plan = plan_memory(graph)
    assert check_plan(plan) == [] and not plan.in_place
    assert plan.peak == 512 + 768


SHAPE_CASES = ["concat_channels", "concat_rows", "pad", "reshape"]


@pytest.mark.parametrize("case", SHAPE_CASES)
def test_data_movement(case, tmp_path):
    """CONCATENATION (of inputs at different scales, which TFLM copies as they are in int16), PAD and RESHAPE
    between convolutions, so the moved tensors are int16."""
    import tensorflow as tf

    layers = tf.keras.layers

    def build():
        x = tf.keras.Input((6, 5, 3))
        a, b = layers.Conv2D(4, 1)(x), layers.Conv2D(3, 1)(layers.Rescaling(5.0)(x))
        if case == "concat_channels":
            y = layers.Concatenate()([a, b, a])
        elif case == "concat_rows":
            y = layers.Concatenate(axis=1)([a, layers.Conv2D(4, 1)(b)])
        elif case == "pad":
            y = layers.ZeroPadding2D(((1, 2), (0, 1)))(a)
        else:
            y = layers.Flatten()(a)
        return tf.keras.Model(x, layers.Conv2D(2, 1)(y) if case != "reshape" else layers.Dense(2)(y))

    path = convert16(build, [(6, 5, 3)], tmp_path / "m.tflite")
    op_type = {"pad": "PAD", "reshape": "RESHAPE"}.get(case, "CONCATENATION")
    _assert_16x8(path, op_type)
    assert_bit_exact(path, tmp_path)


def test_patch_stage(tmp_path):
    """The first ops (conv, depthwise, ADD, pool) run patch by patch over a 2x2 grid: int16 region copies
    (tm_copy_region_s16) gather and scatter two bytes per element."""
    import tensorflow as tf

    layers = tf.keras.layers

    def build():
        x = tf.keras.Input((12, 12, 3))
        y = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        y = layers.Add()([y, layers.DepthwiseConv2D(3, padding="same")(y)])
        y = layers.MaxPooling2D(2)(y)
        return tf.keras.Model(x, layers.Dense(3)(layers.Flatten()(y)))

    path = convert16(build, [(12, 12, 3)], tmp_path / "m.tflite")
    planned = assert_bit_exact(path, tmp_path, options=PlanOptions(patches=PatchConfig(4, 2, 2)))
    assert planned.patches is not None
    assert any(op.type == COPY and op.input(0).type == INT16 for op in planned.graph.ops)


@pytest.mark.parametrize("op_type", ["RELU", "RELU6"])
def test_standalone_relu(op_type, tmp_path):
    """RELU and RELU6 on the model's int16 input, where the converter has nothing to fuse them into."""
    import tensorflow as tf

    def build():
        relu = tf.keras.layers.ReLU(6.0 if op_type == "RELU6" else None)
        return tf.keras.Sequential([tf.keras.Input((7, 5, 3)), relu, tf.keras.layers.Conv2D(2, 1)])

    path = convert16(build, [(7, 5, 3)], tmp_path / "m.tflite", low=-8.0, high=8.0)
    _assert_16x8(path, op_type)
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("keep_dims", [False, True])
def test_mean(keep_dims, tmp_path):
    """MEAN over height and width (global average pooling) of an int16 feature map."""
    import tensorflow as tf

    def build():
        x = tf.keras.Input((6, 7, 5))
        y = tf.keras.layers.GlobalAveragePooling2D(keepdims=keep_dims)(tf.keras.layers.Conv2D(4, 1)(x))
        return tf.keras.Model(x, y)

    path = convert16(build, [(6, 7, 5)], tmp_path / "m.tflite")
    _assert_16x8(path, "MEAN")
    assert_bit_exact(path, tmp_path)
