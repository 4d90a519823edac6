"""RELU, RELU6, SOFTMAX and LOGISTIC definitions: shapes, roles, patching, validation, the quantization each
computes once (RELU's multiplier, RELU6's bounds, softmax's diff_min), and the references' clamps."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT4, INT8, INT16
from tinyml.ops import Region, Role, Unsupported, definition
from tinyml.ops.arith import multiply_by_quantized_multiplier
from tinyml.ops.requant import relu6_bounds, relu_requant, softmax_params
from tinyml.passes import check_op
from tinyml.reference import run

RNG = np.random.default_rng(13)


@pytest.mark.parametrize("op_type", ["RELU", "RELU6"])
def test_unary_shapes_roles_and_patching(op_type):
    b = GraphBuilder()
    x = b.input((1, 5, 4, 3))
    y = b.relu(x) if op_type == "RELU" else b.relu6(x)
    op = b.ops[0]
    d = definition(op)
    assert y.shape == x.shape and d.macs(op) == 0 and d.roles(op) == (Role.FEATURE,) and d.window(op) is None
    assert d.patchable(op) and d.receptive_field(op, Region(1, 3, 2, 4), 0) == Region(1, 3, 2, 4)
    check_op(op)


def test_relu_requantizes_to_the_output_and_clamps_at_its_zero():
    b = GraphBuilder()
    x = b.input((2, 16), scale=0.1, zero_point=5)
    b.relu(x, scale=0.05, zero_point=-100)
    op = b.ops[0]
    r = relu_requant(op)
    assert (r.input_offset, r.output_offset, r.act) == (-5, -100, (-100, 127))
    xs = RNG.integers(-128, 128, x.shape).astype(np.int8)
    (got,) = run(b.graph(), [xs])
    want = np.clip(multiply_by_quantized_multiplier(xs.astype(np.int64) - 5, r.multiplier, r.shift) - 100, -100, 127)
    assert np.array_equal(got, want) and got.min() == -100  # half the inputs are below zero


def test_relu6_clamps_in_the_input_quantization():
    """TFLM's RELU6 clamps to [0, 6] in the input's scale and zero point, ignoring the output's."""
    b = GraphBuilder()
    x = b.input((1, 64), scale=0.1, zero_point=-20)
    b.relu6(x, scale=0.5, zero_point=3)  # an output quantization TFLM ignores
    op = b.ops[0]
    assert relu6_bounds(op) == (-20, 40)  # 6 / 0.1 = 60 steps above the zero point
    xs = np.arange(-128, 128, 4, dtype=np.int8).reshape(1, 64)
    (got,) = run(b.graph(), [xs])
    assert np.array_equal(got, np.clip(xs, -20, 40))


def test_softmax_parameters_and_probabilities():
    b = GraphBuilder()
    x = b.input((3, 10), scale=0.1, zero_point=0)
    y = b.softmax(x, beta=1.0)
    op = b.ops[0]
    assert y.shape == x.shape and y.quant.scale == 1 / 256 and y.quant.zero_point == -128
    check_op(op)
    p = softmax_params(op)
    assert p.diff_min < 0 and p.multiplier > 0
    xs = RNG.integers(-128, 128, x.shape).astype(np.int8)
    (got,) = run(b.graph(), [xs])
    probs = (got.astype(np.int64) + 128) / 256
    exact = np.exp(0.1 * (xs.astype(np.float64) - xs.max(axis=1, keepdims=True)))
    exact /= exact.sum(axis=1, keepdims=True)
    assert np.abs(probs - exact).max() <= 2 / 256  # within TFLM's fixed-point rounding
    assert (got.argmax(axis=1) == xs.argmax(axis=1)).all()


def test_logistic_saturates_beyond_its_radius():
    b = GraphBuilder()
    x = b.input((1, 256), scale=0.1, zero_point=0)
    b.logistic(x)
    check_op(b.ops[0])
    xs = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    (got,) = run(b.graph(), [xs])
    probs = (got.astype(np.int64) + 128) / 256
    assert np.abs(probs - 1 / (1 + np.exp(-0.1 * xs.astype(np.float64)))).max() <= 1 / 256
    assert got[0, 0] == -128 and got[0, -1] == 127 and (np.diff(got.astype(np.int64)) >= 0).all()


def _refusal(op) -> str:
    with pytest.raises(Unsupported) as e:
        check_op(op)
    return str(e.value)


def test_validation_names_the_variant():
    b = GraphBuilder()
    b.softmax(b.input((1, 4)), scale=0.1, zero_point=0)
    assert _refusal(b.ops[0]) == (
        "output quantization scale 0.1, zero point 0; int8 output must have scale 1/256 and zero point -128"
    )
    b = GraphBuilder()
    b.softmax(b.input((1, 4)), type=INT16, scale=1 / 32768, zero_point=0)
    assert _refusal(b.ops[0]) == "int8 input with int16 output"
    b = GraphBuilder()
    b.logistic(b.input((1, 4)), shape=(1, 5))
    assert _refusal(b.ops[0]) == "logistic of shape (1, 4) to (1, 5)"
    b = GraphBuilder()
    b.relu(b.input((1, 4), name="x"), type=INT4, name="y")
    assert _refusal(b.ops[0]) == "tensor 'y' is int4; int8 expected"
    b = GraphBuilder()
    b.relu6(b.input((1, 4), type=INT16, name="x"), type=INT8, name="y")
    assert _refusal(b.ops[0]) == "tensor 'y' is int8; int16 expected"
    b = GraphBuilder()
    b.relu(b.input((1, 4)), shape=(4,))
    assert _refusal(b.ops[0]) == "output shape (4,) does not follow from the inputs (expected (1, 4))"
