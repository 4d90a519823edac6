"""BATCH_MATMUL's definition on graphs built in Python: shapes with adj_x/adj_y and broadcasting, roles, MACs, the
multiplier, validation, and the reference against a plain loop over TFLite Micro's definition."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT16
from tinyml.kernels import REGISTRY
from tinyml.ops import Role, Unsupported, definition
from tinyml.ops.arith import multiply_by_quantized_multiplier
from tinyml.ops.batch_matmul import batch_matmul_requant
from tinyml.ops.fixedpoint import quantize_multiplier
from tinyml.passes import check_op
from tinyml.reference import run

RNG = np.random.default_rng(12)


def matmul_graph(lhs_shape, rhs_shape, adj_x=False, adj_y=False, const_rhs=False, **out):
    """(builder, lhs, rhs, output, op) of one BATCH_MATMUL of int8 operands with non-zero zero points."""
    b = GraphBuilder("bmm")
    lhs = b.input(lhs_shape, scale=0.07, zero_point=-5)
    if const_rhs:
        rhs = b.const(RNG.integers(-128, 128, rhs_shape), scale=0.03, zero_point=4)
    else:
        rhs = b.input(rhs_shape, scale=0.03, zero_point=4)
    options = {"adj_x": adj_x, "adj_y": adj_y, "asymmetric_quantize_inputs": False}
    y = b.op("BATCH_MATMUL", [lhs, rhs], options, **{"scale": 0.2, "zero_point": -9, **out})
    return b, lhs, rhs, y, b.ops[-1]


@pytest.mark.parametrize(
    ("lhs", "rhs", "adj", "out"),
    [
        ((4, 6), (6, 5), (False, False), (4, 5)),
        ((1, 6, 4), (1, 5, 6), (True, True), (1, 4, 5)),
        ((3, 4, 6), (6, 5), (False, False), (3, 4, 5)),
        ((2, 1, 4, 6), (3, 5, 6), (False, True), (2, 3, 4, 5)),
        ((1, 2, 1, 3, 4), (2, 1, 2, 4, 1), (False, False), (2, 2, 2, 3, 1)),
    ],
)
def test_output_shape_and_macs(lhs, rhs, adj, out):
    *_, y, op = matmul_graph(lhs, rhs, *adj)
    assert y.shape == out and definition(op).macs(op) == int(np.prod(out)) * (lhs[-2] if adj[0] else lhs[-1])


def test_a_constant_operand_is_weights():
    *_, op = matmul_graph((1, 4, 6), (1, 6, 5))
    assert definition(op).roles(op) == (Role.FEATURE, Role.FEATURE)
    *_, op = matmul_graph((1, 4, 6), (1, 6, 5), const_rhs=True)
    assert definition(op).roles(op) == (Role.FEATURE, Role.WEIGHTS)
    assert definition(op).inputs_with(op, Role.WEIGHTS) == [op.input(1)]


def test_multiplier_multiplies_the_scales_as_floats():
    """TFLM computes lhs_scale * rhs_scale in float, then divides by the output scale in double."""
    *_, op = matmul_graph((4, 6), (6, 5))
    r = batch_matmul_requant(op)
    product = float(np.float32(np.float32(0.07) * np.float32(0.03)))
    assert (r.multiplier, r.shift) == quantize_multiplier(product / float(np.float32(0.2)))
    assert (r.lhs_offset, r.rhs_offset, r.output_offset, r.act) == (5, -4, -9, (-128, 127))


def _naive(lhs, rhs, adj_x, adj_y, out_shape):
    """TFLM's loop over the broadcast batch, one output at a time."""
    lhs = lhs.astype(np.int64) + 5
    rhs = rhs.astype(np.int64) - 4
    acc = np.zeros(out_shape, np.int64)

    def matrix(x, index):
        """The operand's matrix at the output's batch index (right-aligned; its extents of 1 broadcast)."""
        own = index[len(index) - x.ndim + 2 :]
        return x[tuple(i if d > 1 else 0 for i, d in zip(own, x.shape[:-2], strict=True))]

    for index in np.ndindex(*out_shape[:-2]):
        a, b = matrix(lhs, index), matrix(rhs, index)
        a, b = (a.T if adj_x else a), (b.T if adj_y else b)
        for r in range(out_shape[-2]):
            for c in range(out_shape[-1]):
                acc[(*index, r, c)] = sum(int(a[r, k]) * int(b[k, c]) for k in range(a.shape[1]))
    return acc


@pytest.mark.parametrize(
    ("lhs", "rhs", "adj"),
    [
        ((1, 4, 6), (1, 6, 5), (False, False)),
        ((2, 6, 3), (6, 5), (True, False)),
        ((2, 1, 4, 6), (3, 5, 6), (False, True)),
        ((1, 7, 2), (3, 1, 2, 7), (True, True)),
    ],
)
def test_reference_is_the_offset_product(lhs, rhs, adj):
    b, _, _, y, op = matmul_graph(lhs, rhs, *adj)
    xs = [RNG.integers(-128, 128, t.shape).astype(np.int8) for t in b.inputs]
    (got,) = run(b.graph(), xs)
    r = batch_matmul_requant(op)
    acc = _naive(xs[0], xs[1], *adj, y.shape)
    want = np.clip(multiply_by_quantized_multiplier(acc, r.multiplier, r.shift) - 9, -128, 127)
    assert got.dtype == np.int8 and np.array_equal(got, want)


@pytest.mark.parametrize(
    ("lhs", "rhs", "adj", "message"),
    [
        ((4, 6), (5, 5), (False, False), r"do not multiply \(depth 6 against 5\)"),
        ((2, 4, 6), (3, 6, 5), (False, False), "batch dimensions of .* do not broadcast"),
        ((6,), (6, 5), (False, False), "lhs of rank 1"),
        ((1, 1, 1, 1, 2, 4, 6), (6, 5), (False, False), "lhs of rank 7"),
    ],
)
def test_operands_that_do_not_multiply(lhs, rhs, adj, message):
    with pytest.raises(Unsupported, match=message):
        matmul_graph(lhs, rhs, *adj)


def test_int16_and_per_channel_operands_are_refused():
    b = GraphBuilder("bmm")
    lhs, rhs = b.input((4, 6), type=INT16, scale=0.01), b.input((6, 5), type=INT16, scale=0.01)
    b.op("BATCH_MATMUL", [lhs, rhs], {})
    with pytest.raises(Unsupported, match="is int16; int8 expected"):
        check_op(b.ops[-1])
    b = GraphBuilder("bmm")
    w = b.const(RNG.integers(-127, 128, (6, 5)), scale=[0.01] * 5, axis=1)
    b.op("BATCH_MATMUL", [b.input((4, 6), scale=0.05), w], {})
    with pytest.raises(Unsupported, match="per channel"):
        check_op(b.ops[-1])


def test_three_alternating_batch_groups_are_the_kernels_limit():
    """The definition allows any broadcast; the portable kernel carries two merged batch dims."""
    *_, op = matmul_graph((2, 1, 2, 3, 4), (1, 2, 1, 4, 5))
    definition(op).validate(op)
    with pytest.raises(Unsupported, match="three alternating groups"):
        REGISTRY["BATCH_MATMUL"].check(op)
