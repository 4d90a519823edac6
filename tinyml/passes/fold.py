"""Constant folding: ops whose inputs are all known at compile time become constants.

Keras 3 exports `SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE` chains to compute a reshape target at run time
although every shape is static; folding them turns the RESHAPE's shape operand into a constant and leaves
only real work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyml.ir.graph import Graph, Operator, Tensor
from tinyml.ops import DEFINITIONS, Unsupported
from tinyml.ops.shape import concat_axis


def _shape(op: Operator) -> np.ndarray:
    dtype = np.int64 if op.attrs.get("out_type") == 4 else np.int32  # TensorType.INT64 == 4
    return np.array(op.input(0).shape, dtype=dtype)


def _by_definition(op: Operator) -> np.ndarray:
    """Ops tinyml also runs (STRIDED_SLICE, GATHER) fold through their definition's reference."""
    return DEFINITIONS[op.type].reference(op, [None if t is None else t.data for t in op.inputs])[0]


def _pack(op: Operator) -> np.ndarray:
    return np.stack([t.data for t in op.inputs if t is not None], axis=op.attrs.get("axis", 0))


def _reduce_prod(op: Operator) -> np.ndarray:
    data, axes = op.input(0).data, op.input(1).data
    assert data is not None and axes is not None
    return np.prod(data, axis=tuple(int(a) for a in axes.reshape(-1)), keepdims=bool(op.attrs.get("keep_dims")))


def _concat(op: Operator) -> np.ndarray:
    return np.concatenate([t.data for t in op.inputs if t is not None], axis=concat_axis(op))


def _reshape(op: Operator) -> np.ndarray:
    data = op.input(0).data
    assert data is not None
    return data.reshape(op.outputs[0].shape)


_FOLDERS: dict[str, Callable[[Operator], np.ndarray]] = {
    "STRIDED_SLICE": _by_definition,
    "PACK": _pack,
    "GATHER": _by_definition,
    "REDUCE_PROD": _reduce_prod,
    "CONCATENATION": _concat,
    "RESHAPE": _reshape,
    "SQUEEZE": _reshape,
    "EXPAND_DIMS": _reshape,
}


def _foldable(op: Operator) -> bool:
    if op.type == "SHAPE":
        return True  # shapes are static, whatever the input's values
    if op.type not in _FOLDERS or getattr(op.attrs, "activation", "NONE") != "NONE":
        return False
    return all(t is None or t.is_const for t in op.inputs)


#: ops whose output shapes the converter may store as placeholders
_PLACEHOLDER_SHAPES = ("RESHAPE", "FULLY_CONNECTED")


def _infer_shape(op: Operator) -> None:
    """Recompute output shapes the converter could only store as placeholders, from the op's definition.

    Shapes computed at run time in TensorFlow (Dense on a 3-D input, say) are
    written to the flatbuffer as (1, 1); once their shape operands are folded,
    the real shapes follow.
    """
    if op.type not in _PLACEHOLDER_SHAPES:
        return
    if op.type == "FULLY_CONNECTED" and (op.opt_input(1) is None or len(op.input(1).shape) != 2):
        return
    try:
        shapes = DEFINITIONS[op.type].infer_shapes(op)
    except Unsupported:
        return
    for t, shape in zip(op.outputs, shapes, strict=False):
        t.shape = tuple(shape)


def fold_constants(graph: Graph) -> None:
    kept: list[Operator] = []
    graph_outputs = {id(t) for t in graph.outputs}
    for op in graph.ops:
        _infer_shape(op)
        if _foldable(op) and not any(id(t) in graph_outputs for t in op.outputs):
            try:
                value = _shape(op) if op.type == "SHAPE" else _FOLDERS[op.type](op)
            except Unsupported:
                kept.append(op)
                continue
            out: Tensor = op.outputs[0]
            out.data = value.astype(out.type.np_dtype).reshape(out.shape)
            continue
        kept.append(op)
    graph.ops = kept
