"""ADD and MUL definitions: NumPy broadcasting, validation, requantization, patching, and the references."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.kernels import REGISTRY
from tinyml.ops import Region, Role, Unsupported, definition
from tinyml.ops.arith import multiply_by_quantized_multiplier
from tinyml.ops.requant import ADD_LEFT_SHIFT, add_requant, mul_requant
from tinyml.passes import check_op
from tinyml.reference import run

RNG = np.random.default_rng(11)


@pytest.mark.parametrize(
    ("a", "b", "out"),
    [((1, 4), (1, 4), (1, 4)), ((2, 3, 4), (4,), (2, 3, 4)), ((2, 1, 4), (1, 3, 1), (2, 3, 4)), ((), (2, 2), (2, 2))],
)
def test_broadcast_shapes_and_macs(a, b, out):
    g = GraphBuilder()
    y = g.add(g.input(a), g.input(b))
    op = g.ops[0]
    assert y.shape == out and definition(op).macs(op) == int(np.prod(out))
    assert definition(op).roles(op) == (Role.FEATURE, Role.FEATURE)
    check_op(op)


def test_shapes_that_do_not_broadcast():
    g = GraphBuilder()
    with pytest.raises(Unsupported, match=r"shapes \(1, 4\) and \(1, 3\) do not broadcast"):
        g.add(g.input((1, 4)), g.input((1, 3)))
    g.mul(g.input((2, 3)), g.input((2, 3)), shape=(2, 6))
    with pytest.raises(Unsupported, match=r"do not broadcast to \(2, 6\)"):
        check_op(g.ops[-1])


def test_only_the_kernel_limits_broadcasting_to_four_merged_dims():
    g = GraphBuilder()
    g.add(g.input((2, 3, 4, 5, 6)), g.input((1, 3, 1, 5, 1)))
    op = g.ops[0]
    definition(op).validate(op)
    with pytest.raises(Unsupported, match="needs 5 dims"):
        REGISTRY["ADD"].check(op)


def test_patchable_only_on_equal_4d_shapes():
    g = GraphBuilder()
    x = g.input((1, 4, 4, 2))
    g.add(x, g.input((1, 4, 4, 2)))
    g.add(x, g.input((2,)))
    same, broadcast = g.ops
    assert definition(same).patchable(same) and not definition(broadcast).patchable(broadcast)
    assert definition(same).receptive_field(same, Region(1, 3, 0, 2), 1) == Region(1, 3, 0, 2)


def test_constants_that_broadcast_are_patchable_and_read_where_they_vary():
    """A patch stage cuts a constant operand to its receptive field: the rows and columns it varies over."""
    g = GraphBuilder()
    x = g.input((1, 6, 8, 3))
    for shape in [(3,), (1, 1, 8, 3), (6, 1, 3), (1, 6, 8, 3)]:
        g.mul(x, g.const(np.ones(shape), scale=0.1))
    g.add(x, g.const(np.ones((2, 6, 8, 3)), scale=0.1), shape=x.shape)  # a batch of 2 does not broadcast to 1
    *broadcast, batch = g.ops
    out = Region(2, 4, 1, 5)
    fields = [definition(op).receptive_field(op, out, 1) for op in broadcast]
    assert all(definition(op).patchable(op) for op in broadcast) and not definition(batch).patchable(batch)
    assert fields == [Region(0, 1, 0, 1), Region(0, 1, 1, 5), Region(2, 4, 0, 1), out]


def test_add_reference_and_requantization():
    g = GraphBuilder()
    a, b = g.input((2, 3, 4), scale=0.05, zero_point=3), g.input((4,), scale=0.1, zero_point=-7)
    g.add(a, b, activation="RELU", scale=0.2, zero_point=-100)
    op = g.ops[0]
    r = add_requant(op)
    assert (r.input1_offset, r.input2_offset, r.output_offset) == (-3, 7, -100) and r.act == (-100, 127)
    xa, xb = RNG.integers(-128, 128, a.shape).astype(np.int8), RNG.integers(-128, 128, b.shape).astype(np.int8)
    (got,) = run(g.graph(), [xa, xb])
    (m1, s1), (m2, s2), (mo, so) = r.quant
    sa = multiply_by_quantized_multiplier((xa.astype(np.int64) - 3) << ADD_LEFT_SHIFT, m1, s1)
    sb = multiply_by_quantized_multiplier((xb.astype(np.int64) + 7) << ADD_LEFT_SHIFT, m2, s2)
    want = np.clip(multiply_by_quantized_multiplier(sa + sb, mo, so) - 100, -100, 127)
    assert np.array_equal(got, want)


def test_mul_reference():
    g = GraphBuilder()
    a, b = g.input((3, 4), scale=0.05, zero_point=3), g.input((3, 1), scale=0.1, zero_point=0)
    g.mul(a, b, scale=0.02, zero_point=1)
    xa, xb = RNG.integers(-128, 128, a.shape).astype(np.int8), RNG.integers(-128, 128, b.shape).astype(np.int8)
    (got,) = run(g.graph(), [xa, xb])
    ((m, s),) = mul_requant(g.ops[0]).quant
    want = np.clip(multiply_by_quantized_multiplier((xa.astype(np.int64) - 3) * xb, m, s) + 1, -128, 127)
    assert np.array_equal(got, want)


@pytest.mark.parametrize(
    ("types", "message"),
    [
        (("int16", "int8"), "'t2' is int8; int16 expected"),
        (("int8", "float32"), r"'t2' is float32 \(not quantized\); int8 expected"),
    ],
)
def test_types_are_refused_by_name(types, message):
    g = GraphBuilder()
    a = g.input((1, 4), type=types[0])
    b = g.input((1, 4), type=types[1], scale=None if types[1] == "float32" else 0.05)
    g.add(a, b, type="int8", scale=0.05)
    with pytest.raises(Unsupported, match=message):
        check_op(g.ops[0])


def test_add_factors_must_stay_below_one():
    g = GraphBuilder()
    g.add(g.input((1, 4)), g.input((1, 4)), scale=1e-9)
    with pytest.raises(Unsupported, match=r"ADD rescaling factors .* are not all in \(0, 1\)"):
        check_op(g.ops[0])
