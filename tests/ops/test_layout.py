"""TRANSPOSE, SPLIT, SPLIT_V, SLICE, STRIDED_SLICE, GATHER, DEPTH_TO_SPACE and SPACE_TO_DEPTH definitions: inferred
shapes, roles, validation, references that move every byte as NumPy indexing says, and constant folding through
them."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ir.graph import Operator, Tensor
from tinyml.ir.types import INT16, INT32, INT64
from tinyml.ops import Role, Unsupported, definition, parse_attrs
from tinyml.passes import check_op
from tinyml.passes.fold import fold_constants
from tinyml.reference import run

RNG = np.random.default_rng(5)


def _refusal(op) -> str:
    with pytest.raises(Unsupported) as e:
        check_op(op)
    return str(e.value)


def _values(shape):
    return RNG.integers(-128, 128, shape).astype(np.int8)


def _one(op_type, shape, params, attrs=None):
    """An op on one int8 input and constant int32 parameters; returns (graph, op, input values)."""
    b = GraphBuilder()
    x = b.input(shape)
    y = b.op(op_type, [x, *(b.const(p, INT32) for p in params)], attrs)
    return b.graph([y]), b.ops[0], _values(shape)


def test_transpose():
    graph, op, xs = _one("TRANSPOSE", (1, 2, 3, 4), [[0, 3, -3, 2]])
    assert op.outputs[0].shape == (1, 4, 2, 3)
    assert definition(op).roles(op) == (Role.FEATURE, Role.PARAM) and definition(op).macs(op) == 0
    check_op(op)
    assert np.array_equal(run(graph, [xs])[0], xs.transpose(0, 3, 1, 2))
    _, op, _ = _one("TRANSPOSE", (1, 2), [[0, 1]])
    op.inputs[1] = Tensor("perm", (2,), INT32, None, np.array([0, 0], np.int32))
    assert _refusal(op) == "permutation [0, 0] of a rank 2 tensor"


def _split(op_type, shape, axis, sizes, num_splits):
    """SPLIT or SPLIT_V with one output per part (the builder makes single-output ops)."""
    x = Tensor("x", shape, "int8", None)
    axis_t = Tensor("axis", (), INT32, None, np.array(axis, np.int32))
    extent = shape[axis]
    parts = sizes if op_type == "SPLIT_V" else [extent // num_splits] * num_splits
    parts = [extent - (sum(parts) + 1) if p == -1 else p for p in parts]
    outs = [Tensor(f"y{i}", (*shape[:axis], p, *shape[axis + 1 :]), "int8", None) for i, p in enumerate(parts)]
    if op_type == "SPLIT":
        inputs = [axis_t, x]
    else:
        inputs = [x, Tensor("sizes", (len(sizes),), INT32, None, np.array(sizes, np.int32)), axis_t]
    return Operator(op_type, inputs, outs, parse_attrs(op_type, {"num_splits": num_splits}))


@pytest.mark.parametrize(
    ("op_type", "axis", "sizes", "n"), [("SPLIT", 2, None, 3), ("SPLIT_V", 3, [2, -1, 1], 3), ("SPLIT", 1, None, 2)]
)
def test_split_has_one_output_per_part(op_type, axis, sizes, n):
    op = _split(op_type, (1, 4, 6, 5), axis, sizes, n)
    check_op(op)
    assert definition(op).roles(op)[0 if op_type == "SPLIT_V" else 1] is Role.FEATURE
    xs = _values((1, 4, 6, 5))
    got = definition(op).reference(op, [xs if t.data is None else t.data for t in op.inputs])
    expected = np.split(xs, np.cumsum([t.shape[axis] for t in op.outputs])[:-1], axis=axis)
    assert len(got) == n and all(np.array_equal(g, e) for g, e in zip(got, expected, strict=True))


def test_split_validation():
    assert _refusal(_split("SPLIT", (1, 4, 5, 2), 2, None, 2)) == "2 equal splits of an axis of 5"
    op = _split("SPLIT_V", (1, 4, 6, 2), 2, [2, 2, 3], 3)
    assert _refusal(op) == "split sizes [2, 2, 3] of an axis of 6"
    op = _split("SPLIT", (1, 4, 6, 2), 2, None, 2)
    op.outputs.pop()
    assert _refusal(op) == "1 outputs for 2 splits"


@pytest.mark.parametrize(
    ("begin", "size"), [([0, 1, 0, 2], [1, 2, -1, 1]), ([0, 0, 2, 0], [-1, 3, 1, 3])], ids=["to_end", "column"]
)
def test_slice(begin, size):
    graph, op, xs = _one("SLICE", (1, 4, 5, 3), [begin, size])
    check_op(op)
    index = tuple(slice(b, None if s == -1 else b + s) for b, s in zip(begin, size, strict=True))
    assert np.array_equal(run(graph, [xs])[0], xs[index])


STRIDED = {
    # name: (begin, end, strides, attrs, NumPy index)
    "steps": ([0, 0, 1, 0], [1, 4, 5, 3], [1, 2, 1, 2], {}, np.s_[:, 0:4:2, 1:5, 0:3:2]),
    "masks": ([0, 3, 9, 1], [0, 0, 0, 0], [1, -1, -2, 1], {"begin_mask": 3, "end_mask": 15}, np.s_[:, ::-1, 4::-2, 1:]),
    "shrink": ([0, 1, 0, -1], [1, 2, 5, 0], [1, 1, 1, 1], {"shrink_axis_mask": 10}, np.s_[:, 1, :, -1]),
    "offset": ([0, 1, 1, 0], [1, 2, 3, 3], [1, 1, 1, 1], {"offset": True}, np.s_[:, 1:3, 1:4, 0:3]),
    "short": ([0, 2], [1, 4], [1, 1], {}, np.s_[:, 2:4]),
}


@pytest.mark.parametrize("case", sorted(STRIDED))
def test_strided_slice(case):
    begin, end, strides, attrs, index = STRIDED[case]
    graph, op, xs = _one("STRIDED_SLICE", (1, 4, 5, 3), [begin, end, strides], attrs)
    check_op(op)
    assert np.array_equal(run(graph, [xs])[0], xs[index])


def test_strided_slice_refusals():
    b = GraphBuilder()
    ends = [b.const(v, INT32) for v in ([0, 0], [1, 2], [1, 1])]
    b.op("STRIDED_SLICE", [b.input((1, 4, 5, 3)), *ends], {"ellipsis_mask": 1}, shape=(1, 2, 5, 3))
    assert _refusal(b.ops[0]) == "STRIDED_SLICE with an ellipsis or new-axis mask"
    b = GraphBuilder()
    x = b.input((1, 4))
    b.op("SLICE", [x, b.const([0, 3], INT32), b.const([1, 2], INT32)], shape=(1, 2))
    assert _refusal(b.ops[0]) == "slice of [3, 5) from a dim of 4"
    b = GraphBuilder()
    b.op("STRIDED_SLICE", [b.input((1, 4)), *(b.const(v, INT32) for v in ([0, 3], [1, 1], [1, 1]))])
    assert _refusal(b.ops[0]) == "output 't5' of shape (1, 0) is empty"


def test_strided_slice_and_gather_of_constants_fold():
    """Keras 3's shape arithmetic: STRIDED_SLICE and GATHER on constant int32 vectors become constants."""
    b = GraphBuilder()
    x = b.input((1, 6))
    shape = b.const([1, 6, 7, 8], INT32)
    sliced = b.op("STRIDED_SLICE", [shape, *(b.const(v, INT32) for v in ([1], [3], [1]))], type=INT32)
    picked = b.op("GATHER", [shape, b.const([3, 0], INT32)], type=INT32)
    y = b.op("RESHAPE", [x, b.const([1, 6], INT32)])
    graph = b.graph([y])
    fold_constants(graph)
    assert [op.type for op in graph.ops] == ["RESHAPE"]
    assert sliced.data.tolist() == [6, 7] and picked.data.tolist() == [8, 1]


@pytest.mark.parametrize(("positions", "axis", "batch_dims"), [([2, 0, 2], 3, 0), ([[1], [0]], 1, 0), ([[3, 0]], 2, 1)])
def test_gather(positions, axis, batch_dims):
    graph, op, xs = _one("GATHER", (1, 2, 4, 3), [positions], {"axis": axis, "batch_dims": batch_dims})
    check_op(op)
    got = run(graph, [xs])[0]
    if batch_dims:
        expected = np.stack([np.take(xs[i], positions[i], axis=axis - 1) for i in range(1)])
    else:
        expected = np.take(xs, positions, axis=axis)
    assert np.array_equal(got, expected)


def test_gather_refusals():
    _, op, _ = _one("GATHER", (1, 2, 4), [[0, 4]], {"axis": 2})
    assert _refusal(op) == "positions [0, 4] outside the axis"
    b = GraphBuilder()
    x = b.input((1, 2, 4))
    b.op("GATHER", [x, b.const([1], INT64)], {"axis": 2})
    assert _refusal(b.ops[0]) == "positions of type int64 (TFLite Micro takes int32)"


@pytest.mark.parametrize("block", [2, 3])
def test_depth_to_space_and_space_to_depth_invert_each_other(block):
    b = GraphBuilder()
    x = b.input((1, 2, 3, 2 * block * block))
    d2s = b.op("DEPTH_TO_SPACE", [x], {"block_size": block})
    s2d = b.op("SPACE_TO_DEPTH", [d2s], {"block_size": block})
    assert d2s.shape == (1, 2 * block, 3 * block, 2) and s2d.shape == x.shape
    for op in b.ops:
        check_op(op)
    xs = _values(x.shape)
    spread, back = run(b.graph([d2s, s2d]), [xs])
    assert np.array_equal(back, xs)
    # output pixel (h*bs + dy, w*bs + dx), channel c comes from input pixel (h, w), channel (dy*bs + dx)*C + c
    assert spread[0, 1 * block + 1, 2 * block + 0, 1] == xs[0, 1, 2, (1 * block + 0) * 2 + 1]


def test_layout_ops_take_int8_only():
    b = GraphBuilder()
    x = b.input((1, 4, 4, 4), type=INT16)
    b.op("SPACE_TO_DEPTH", [x], {"block_size": 2})
    assert _refusal(b.ops[0]) == "tensor 't1' is int16; int8 expected"
    b = GraphBuilder()
    b.op("DEPTH_TO_SPACE", [b.input((1, 4, 4, 6))], {"block_size": 2}, shape=(1, 8, 8, 1))
    assert _refusal(b.ops[0]) == "block size 2 on an input of shape (1, 4, 4, 6)"
