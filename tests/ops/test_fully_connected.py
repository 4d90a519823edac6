"""FULLY_CONNECTED's definition: shapes (keep_num_dims or rows), MACs, roles, validation, and the reference
against the plain sum it stands for, per-tensor weights with a zero point and per-channel int8/int4 weights."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT4, INT8
from tinyml.ops import Role, Unsupported, definition
from tinyml.ops.arith import multiply_by_quantized_multiplier
from tinyml.ops.requant import conv_requant
from tinyml.passes import check_op
from tinyml.reference import run

RNG = np.random.default_rng(3)


@pytest.mark.parametrize(
    ("in_shape", "keep", "out_shape"),
    [
        ((1, 12), False, (1, 5)),
        ((2, 3, 12), False, (6, 5)),
        ((2, 3, 12), True, (2, 3, 5)),
        ((1, 2, 2, 3), False, (1, 5)),
    ],
)
def test_shapes_and_macs(in_shape, keep, out_shape):
    b = GraphBuilder()
    x = b.input(in_shape)
    y = b.fully_connected(x, b.weights(np.ones((5, 12))), np.zeros(5), keep_num_dims=keep)
    op = b.ops[-1]
    assert y.shape == out_shape and definition(op).macs(op) == x.num_elements * 5
    assert definition(op).roles(op) == (Role.FEATURE, Role.WEIGHTS, Role.BIAS) and not definition(op).patchable(op)
    assert definition(op).window(op) is None
    check_op(op)


@pytest.mark.parametrize(
    ("weights_type", "scales", "zero_point"),
    [(INT8, 0.02, 7), (INT8, [0.01, 0.02, 0.03, 0.015, 0.025], 0), (INT4, [0.1, 0.2, 0.15, 0.12, 0.3], 0)],
    ids=["per_tensor_zero_point", "per_channel", "per_channel_int4"],
)
def test_reference_is_the_weighted_sum(weights_type, scales, zero_point):
    b = GraphBuilder()
    x = b.input((3, 12), scale=0.05, zero_point=-9)
    lo, hi = weights_type.range
    w = b.const(RNG.integers(lo, hi + 1, (5, 12)), weights_type, scales, zero_point)
    bias = RNG.integers(-2000, 2000, 5)
    b.fully_connected(x, w, bias, activation="RELU", scale=0.3, zero_point=-20)
    op = b.ops[-1]
    definition(op).validate(op)  # per-channel int4 weights: valid, computed by the reference (no kernel: TFLM has none)
    xs = RNG.integers(-128, 128, x.shape).astype(np.int8)
    (got,) = run(b.graph(), [xs])
    acc = (xs.astype(np.int64) + 9) @ (w.data.astype(np.int64) - zero_point).T + bias
    r = conv_requant(op)
    want = np.clip(multiply_by_quantized_multiplier(acc, r.multipliers, r.shifts) - 20, *r.act)
    assert np.array_equal(got, want) and r.act == (-20, 127)
    assert r.weights_offset == -zero_point and r.per_channel == (zero_point == 0)


def test_validation_names_the_variant():
    b = GraphBuilder()
    x = b.input((1, 10))
    b.fully_connected(x, b.weights(np.ones((5, 12))), shape=(1, 5))
    with pytest.raises(Unsupported, match=r"input \(1, 10\) does not match weights \(5, 12\)"):
        check_op(b.ops[-1])
    b = GraphBuilder()
    x = b.input((1, 12))
    b.fully_connected(x, b.const(np.ones((5, 12)), INT8, [0.1] * 5, [1] * 5))
    with pytest.raises(Unsupported, match="per-channel weights with non-zero zero points"):
        check_op(b.ops[-1])
    b = GraphBuilder()
    x = b.input((1, 12))
    b.fully_connected(x, b.weights(np.ones((5, 12))), activation="SIGN_BIT")
    with pytest.raises(Unsupported, match="fused activation SIGN_BIT"):
        check_op(b.ops[-1])
