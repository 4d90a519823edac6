"""TRANSPOSE_CONV (Keras Conv2DTranspose) against TFLite Micro: strides, SAME and VALID padding, odd and
non-square sizes, output padding, with and without bias, every fused activation, per-tensor weights."""

from __future__ import annotations

import pytest
from keras_models import convert
from support import assert_bit_exact

from tinyml.frontend.tflite import load_model
from tinyml.passes import optimize
from tinyml.plan import PlanOptions


def transpose_conv(shape, filters, kernel, path, activation=None, per_tensor=False, **layer):
    """A Keras model of one Conv2DTranspose on an input of `shape`; a random bias unless use_bias=False (Keras's
    zero bias is dropped by the converter)."""
    import tensorflow as tf

    def build():
        x = tf.keras.Input(shape)
        layer_ = tf.keras.layers.Conv2DTranspose(
            filters, kernel, activation=activation, bias_initializer="random_normal", **layer
        )
        return tf.keras.Model(x, layer_(x))

    return convert(build, [shape], path, per_tensor=per_tensor)


def with_fused_activation(path, activation: int):
    """The model with the fused activation of its one op that has one replaced (TFLite's ActivationFunctionType
    number): the converter fuses no clip to [-1, 1], so RELU_N1_TO_1 is set on a converted model."""
    from tinyml.quant.flatbuf import read_model, write_model

    model = read_model(path.read_bytes())
    (op,) = (o for o in model.subgraphs[0].operators if hasattr(o.builtinOptions, "fusedActivationFunction"))
    op.builtinOptions.fusedActivationFunction = activation
    path.write_bytes(write_model(model))
    return path


def only_op(path):
    """The one op left after optimisation, which the test must exercise."""
    ops = optimize(load_model(path)).ops
    assert [op.type for op in ops] == ["TRANSPOSE_CONV"]
    return ops[0]


GEOMETRIES = {
    # name: (input shape, filters, kernel, layer options, output height and width)
    "stride1_same": ((6, 5, 3), 4, 3, {"padding": "same"}, (6, 5)),
    "stride1_valid": ((6, 5, 3), 4, 3, {"padding": "valid"}, (8, 7)),
    "stride2_same": ((5, 6, 3), 4, 3, {"strides": 2, "padding": "same"}, (10, 12)),
    "stride2_valid": ((5, 6, 3), 4, 3, {"strides": 2, "padding": "valid"}, (11, 13)),
    "stride2_even_kernel": ((4, 4, 8), 6, 4, {"strides": 2, "padding": "same"}, (8, 8)),
    "odd_sizes": ((7, 3, 5), 3, (5, 2), {"strides": (2, 1), "padding": "same"}, (14, 3)),
    "stride3_valid_small_kernel": ((3, 4, 2), 5, 2, {"strides": 3, "padding": "valid"}, (9, 12)),
    # output_padding 0 trims SAME's 2x to 2x - 1: the scatter then drops the last row and column of taps
    "output_padding": ((4, 5, 3), 2, 3, {"strides": 2, "padding": "same", "output_padding": 0}, (7, 9)),
}


@pytest.mark.parametrize("case", sorted(GEOMETRIES))
def test_geometry(case, tmp_path):
    shape, filters, kernel, layer, out_hw = GEOMETRIES[case]
    path = transpose_conv(shape, filters, kernel, tmp_path / "m.tflite", **layer)
    op = only_op(path)
    assert op.outputs[0].shape[1:3] == out_hw and len(op.inputs) == 4
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("activation", ["relu", "relu6"])
def test_fused_activation(activation, tmp_path):
    path = transpose_conv((5, 4, 3), 4, 3, tmp_path / "m.tflite", activation, strides=2, padding="same")
    assert only_op(path).attrs.activation == activation.upper()
    assert_bit_exact(path, tmp_path)


def test_fused_relu_n1_to_1(tmp_path):
    path = transpose_conv((5, 4, 3), 4, 3, tmp_path / "m.tflite", strides=2, padding="valid")
    with_fused_activation(path, 2)
    assert only_op(path).attrs.activation == "RELU_N1_TO_1"
    assert_bit_exact(path, tmp_path)


def test_without_bias(tmp_path):
    path = transpose_conv((5, 6, 3), 4, 3, tmp_path / "m.tflite", use_bias=False, strides=2, padding="valid")
    assert len(only_op(path).inputs) == 3
    assert_bit_exact(path, tmp_path)


def test_per_tensor_weights(tmp_path):
    path = transpose_conv((5, 6, 3), 4, 3, tmp_path / "m.tflite", per_tensor=True, strides=2, padding="same")
    assert not only_op(path).input(1).quant.per_channel
    assert_bit_exact(path, tmp_path)


def test_after_a_patch_stage(tmp_path):
    """A transposed convolution is not patchable: the planner's patch stage ends before it, and it runs whole."""
    import tensorflow as tf

    def build():
        x = tf.keras.Input((16, 16, 3))
        y = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        y = tf.keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(y)
        return tf.keras.Model(x, tf.keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same")(y))

    path = convert(build, [(16, 16, 3)], tmp_path / "m.tflite")
    planned = assert_bit_exact(path, tmp_path, options=PlanOptions(prefer="memory"))
    types = [op.type for op in planned.graph.ops]
    assert "TINYML_COPY_REGION" in types and types[-1] == "TRANSPOSE_CONV" and types.count("TRANSPOSE_CONV") == 1
