"""ADD, MUL (broadcasting, constants, fused activations) and standalone RELU/RELU6 against TFLite Micro."""

from __future__ import annotations

import pytest
from keras_models import convert
from support import assert_bit_exact

from tinyml.frontend.tflite import load_model
from tinyml.ir.graph import Operator, Quantization, Tensor
from tinyml.kernels.portable.elementwise import broadcast_dims
from tinyml.ops import Unsupported
from tinyml.ops.base import FusedActivation
from tinyml.passes import check_op, optimize


def op_summary(path) -> list[tuple[str, str]]:
    """(type, fused activation) of each op left after optimisation: what the test really exercises."""
    return [(op.type, getattr(op.attrs, "activation", "")) for op in optimize(load_model(path)).ops]


def two_inputs(fn, shape1, shape2):
    """A Keras model computing fn(a, b) of two inputs."""
    import tensorflow as tf

    def build():
        a, b = tf.keras.Input(shape1), tf.keras.Input(shape2)
        return tf.keras.Model([a, b], fn(a, b))

    return build


def convert_two(fn, shape1, shape2, path, **kw):
    return convert(two_inputs(fn, shape1, shape2), [shape1, shape2], path, **kw)


def one_input(fn, shape):
    import tensorflow as tf

    def build():
        a = tf.keras.Input(shape)
        return tf.keras.Model(a, fn(a))

    return build


BINARY_SHAPES = {
    # name: (input 1 shape, input 2 shape), batch excluded
    "equal": ((8, 8, 16), (8, 8, 16)),
    "odd_equal": ((7, 5, 3), (7, 5, 3)),
    "channel_vector": ((8, 8, 16), (1, 1, 16)),
    "row_scalars": ((8, 8, 16), (8, 1, 1)),
    "first_broadcast": ((1, 1, 5), (6, 4, 5)),
    "both_broadcast": ((6, 1, 16), (1, 7, 1)),
    "per_pixel": ((5, 6, 3), (5, 6, 1)),
    "rank2": ((9, 12), (1, 12)),
    "rank5": ((2, 3, 4, 5), (1, 3, 1, 5)),
}


@pytest.mark.parametrize("case", sorted(BINARY_SHAPES))
def test_add_shapes(case, tmp_path):
    s1, s2 = BINARY_SHAPES[case]
    path = convert_two(lambda a, b: a + b, s1, s2, tmp_path / "m.tflite")
    assert op_summary(path) == [("ADD", "NONE")]
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("case", ["equal", "odd_equal", "channel_vector", "row_scalars", "both_broadcast", "rank5"])
def test_mul_shapes(case, tmp_path):
    s1, s2 = BINARY_SHAPES[case]
    path = convert_two(lambda a, b: a * b, s1, s2, tmp_path / "m.tflite")
    assert op_summary(path) == [("MUL", "NONE")]
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("op", ["ADD", "MUL"])
@pytest.mark.parametrize("act", ["RELU", "RELU6"])
def test_fused_activation(op, act, tmp_path):
    import tensorflow as tf

    def fn(a, b):
        y = tf.keras.layers.Add()([a, b]) if op == "ADD" else tf.keras.layers.Multiply()([a, b])
        return tf.keras.layers.ReLU(6.0 if act == "RELU6" else None)(y)

    path = convert(two_inputs(fn, (6, 5, 8), (6, 5, 8)), [(6, 5, 8)] * 2, tmp_path / "m.tflite")
    assert op_summary(path) == [(op, act)]
    assert_bit_exact(path, tmp_path)


def test_unequal_scales(tmp_path):
    """Operands on very different scales: the per-input multipliers of ADD differ widely."""
    path = convert(two_inputs(lambda a, b: a * 20.0 + b, (4, 4, 8), (4, 4, 8)), [(4, 4, 8)] * 2, tmp_path / "m.tflite")
    assert [t for t, _ in op_summary(path)] == ["MUL", "ADD"]
    assert_bit_exact(path, tmp_path)


def test_constant_vector_operand(tmp_path):
    """`x + const` and `x * const` with a per-channel constant, as a bias or scale layer would make."""
    import numpy as np
    import tensorflow as tf

    bias = tf.constant(np.linspace(-1.0, 2.0, 6).astype(np.float32))
    gain = tf.constant(np.linspace(0.5, -3.0, 6).astype(np.float32))
    path = convert(one_input(lambda a: (a + bias) * gain, (5, 5, 6)), [(5, 5, 6)], tmp_path / "m.tflite")
    assert [t for t, _ in op_summary(path)] == ["ADD", "MUL"]
    assert_bit_exact(path, tmp_path)


def test_scalar_constant_operands(tmp_path):
    """Scalar constants (shape ()), which the converter makes the second operand."""
    path = convert(one_input(lambda a: 0.3 + (-0.7) * a, (6, 6, 4)), [(6, 6, 4)], tmp_path / "m.tflite")
    graph = optimize(load_model(path))
    assert [op.type for op in graph.ops] == ["MUL", "ADD"]
    assert any(t.shape == () for op in graph.ops for t in op.inputs)
    assert_bit_exact(path, tmp_path)


def test_constant_tensor_operand(tmp_path):
    """A full-size constant: no broadcasting, one operand in flash."""
    import numpy as np
    import tensorflow as tf

    const = tf.constant(np.random.default_rng(1).uniform(-2, 2, (1, 4, 3, 5)).astype(np.float32))
    path = convert(one_input(lambda a: a + const, (4, 3, 5)), [(4, 3, 5)], tmp_path / "m.tflite")
    assert op_summary(path) == [("ADD", "NONE")]
    assert_bit_exact(path, tmp_path)


def test_same_tensor_twice(tmp_path):
    path = convert(one_input(lambda a: a * a + a, (3, 3, 7)), [(3, 3, 7)], tmp_path / "m.tflite")
    assert [t for t, _ in op_summary(path)] == ["MUL", "ADD"]
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("act", ["RELU", "RELU6"])
@pytest.mark.parametrize("float_io", [False, True], ids=["int8_io", "float_io"])
def test_standalone_activation(act, float_io, tmp_path):
    """Relu straight on the model input cannot be fused; the converter gives its output a different scale."""
    import tensorflow as tf

    layer = tf.keras.layers.ReLU(6.0 if act == "RELU6" else None)
    path = convert(one_input(layer, (7, 6, 5)), [(7, 6, 5)], tmp_path / "m.tflite", float_io=float_io)
    ops = [t for t, _ in op_summary(path)]
    assert ops == (["QUANTIZE", act, "DEQUANTIZE"] if float_io else [act])
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("act", ["RELU", "RELU6"])
def test_standalone_activation_offset_input(act, tmp_path):
    """A reshape keeps the converter from fusing the relu into the ADD before it.

    The relu's input then has a zero point far from 0 and, for RELU6, a scale
    that differs from the output's (which TFLM ignores).
    """
    import tensorflow as tf

    def fn(a):
        y = tf.keras.layers.Reshape((30,))(a * 4.0 + 3.0)
        return tf.keras.layers.ReLU(6.0 if act == "RELU6" else None)(y)

    path = convert(one_input(fn, (5, 6)), [(5, 6)], tmp_path / "m.tflite")
    ops = [t for t, _ in op_summary(path)]
    assert act in ops
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize(
    ("a", "b", "out", "expected"),
    [
        ((1, 8, 8, 16), (1, 8, 8, 16), (1, 8, 8, 16), ((1, 1, 1, 1024), (1, 1, 1, 1024), (1, 1, 1, 1024))),
        ((1, 8, 8, 16), (16,), (1, 8, 8, 16), ((1, 1, 64, 16), (1, 1, 1, 16), (1, 1, 64, 16))),
        ((1, 6, 6, 4), (), (1, 6, 6, 4), ((1, 1, 1, 144), (1, 1, 1, 1), (1, 1, 1, 144))),
        ((1, 6, 1, 16), (1, 1, 7, 1), (1, 6, 7, 16), ((1, 6, 1, 16), (1, 1, 7, 1), (1, 6, 7, 16))),
        ((1, 2, 3, 4, 5), (1, 1, 3, 1, 5), (1, 2, 3, 4, 5), ((2, 3, 4, 5), (1, 3, 1, 5), (2, 3, 4, 5))),
    ],
)
def test_broadcast_dims_merge(a, b, out, expected):
    """Adjacent dims that broadcast alike merge, so the kernel's inner loop is as long as possible."""
    assert broadcast_dims(a, b, out) == expected


@pytest.mark.parametrize(
    ("a", "b", "out"),
    [((1, 4), (1, 3), (1, 4)), ((2, 3), (2, 3), (2, 6)), ((2, 3, 4, 5, 6), (1, 3, 1, 5, 1), (2, 3, 4, 5, 6))],
)
def test_broadcast_dims_rejects(a, b, out):
    with pytest.raises(Unsupported):
        broadcast_dims(a, b, out)


NONE = FusedActivation()


def _int8(name, shape, scale=0.05, zero_point=0, dtype="int8"):
    return Tensor(name, shape, dtype, Quantization((scale,), (zero_point,)))


@pytest.mark.parametrize(
    "op",
    [
        Operator("ADD", [_int8("a", (1, 4), dtype="int16"), _int8("b", (1, 4))], [_int8("y", (1, 4))], NONE),
        Operator("MUL", [_int8("a", (1, 4)), Tensor("b", (1, 4), "float32")], [_int8("y", (1, 4))], NONE),
        Operator("ADD", [_int8("a", (1, 4)), _int8("b", (1, 4))], [_int8("y", (1, 4), scale=1e-9)], NONE),
        Operator("MUL", [_int8("a", (1, 4)), _int8("b", (1, 4))], [_int8("y", (1, 4))], FusedActivation("TANH")),
        Operator("RELU", [_int8("a", (1, 4))], [_int8("y", (1, 4), dtype="int16")]),
        Operator("RELU6", [Tensor("a", (1, 4), "float32")], [Tensor("y", (1, 4), "float32")]),
    ],
    ids=["add_int16", "mul_float_operand", "add_output_multiplier_over_1", "mul_tanh", "relu_int16", "relu6_float"],
)
def test_unsupported_variants(op):
    with pytest.raises(Unsupported):
        check_op(op)
