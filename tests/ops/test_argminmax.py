"""ARG_MAX / ARG_MIN definitions: output shapes per axis, the first index on ties, refused variants."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT32, INT64
from tinyml.ops import Role, Unsupported, definition
from tinyml.passes import check_op
from tinyml.reference import run


def arg_graph(op_type: str, shape: tuple[int, ...], axis: int, axis_type=INT32, out_type=INT32):
    b = GraphBuilder()
    x = b.input(shape, scale=0.1, zero_point=3)
    axis_t = b.const(np.array([axis]), type=axis_type)
    b.op(op_type, [x, axis_t], {}, type=out_type)
    return b


@pytest.mark.parametrize("op_type", ["ARG_MAX", "ARG_MIN"])
@pytest.mark.parametrize(("axis", "want"), [(0, (5, 4, 3)), (2, (2, 5, 3)), (-1, (2, 5, 4)), (-3, (2, 4, 3))])
def test_shape_split_and_reference(op_type, axis, want):
    b = arg_graph(op_type, (2, 5, 4, 3), axis)
    op = b.ops[0]
    d = definition(op)
    check_op(op)
    assert op.outputs[0].shape == want and d.roles(op) == (Role.FEATURE, Role.PARAM) and not d.patchable(op)
    outer, size, inner = d.split(op)
    assert outer * size * inner == 120 and size == (2, 5, 4, 3)[axis]
    x = np.random.default_rng(1).integers(-128, 128, (2, 5, 4, 3)).astype(np.int8)
    (got,) = run(b.graph(), [x])
    pick = np.argmax if op_type == "ARG_MAX" else np.argmin
    assert got.dtype == np.int32 and np.array_equal(got, pick(x, axis=axis))


@pytest.mark.parametrize("op_type", ["ARG_MAX", "ARG_MIN"])
def test_ties_give_the_first_index(op_type):
    b = arg_graph(op_type, (1, 6), -1)
    x = np.array([[5, -7, 9, 9, -7, 5]], dtype=np.int8)
    (got,) = run(b.graph(), [x])
    assert got.tolist() == ([2] if op_type == "ARG_MAX" else [1])


def test_refused_variants():
    with pytest.raises(Unsupported, match="int64 output"):
        check_op(arg_graph("ARG_MAX", (3, 4), 1, out_type=INT64).ops[0])
    with pytest.raises(Unsupported, match="axis of type int64"):
        check_op(arg_graph("ARG_MIN", (3, 4), 1, axis_type=INT64).ops[0])
    with pytest.raises(Unsupported, match=r"ARG_MAX axis \[2\] of a rank 2 input"):
        arg_graph("ARG_MAX", (3, 4), 2)
