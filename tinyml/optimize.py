"""Graph optimiser: fold what is known at compile time, drop dead ops, check support.

Keras 3 exports `SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE` chains to compute a
reshape target at run time although every shape is static; folding them turns
the RESHAPE's shape operand into a constant and leaves only real work. Any
operator left that no kernel supports is reported, all at once, with where it
is, so the user sees the full list in one go.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyml.errors import UnsupportedOpError
from tinyml.ir import Graph, Operator, Tensor
from tinyml.ops import REGISTRY, Unsupported


def optimize(graph: Graph) -> Graph:
    """Fold constant subgraphs, remove unused ops, and check every op is supported."""
    _fold_constants(graph)
    _remove_dead_ops(graph)
    check_supported(graph)
    return graph


def _shape(op: Operator) -> np.ndarray:
    dtype = np.int64 if op.attrs.get("out_type") == 4 else np.int32  # TensorType.INT64 == 4
    return np.array(op.input(0).shape, dtype=dtype)


def _strided_slice(op: Operator) -> np.ndarray:
    data, begin, end, strides = (op.input(i).data for i in range(4))
    assert data is not None and begin is not None and end is not None and strides is not None
    if op.attrs.get("ellipsis_mask") or op.attrs.get("new_axis_mask"):
        raise Unsupported("STRIDED_SLICE with ellipsis or new-axis masks")
    index: list[object] = []
    for d in range(len(begin)):
        bit = 1 << d
        b, e, s = int(begin[d]), int(end[d]), int(strides[d])
        if op.attrs.get("offset"):
            e = b + e
        if op.attrs.get("shrink_axis_mask", 0) & bit:
            index.append(b)
            continue
        index.append(
            slice(
                None if op.attrs.get("begin_mask", 0) & bit else b,
                None if op.attrs.get("end_mask", 0) & bit else e,
                s,
            )
        )
    return np.asarray(data[tuple(index)])


def _pack(op: Operator) -> np.ndarray:
    return np.stack([t.data for t in op.inputs if t is not None], axis=op.attrs.get("axis", 0))


def _concat(op: Operator) -> np.ndarray:
    return np.concatenate([t.data for t in op.inputs if t is not None], axis=op.attrs.get("axis", 0))


def _reshape(op: Operator) -> np.ndarray:
    data = op.input(0).data
    assert data is not None
    return data.reshape(op.outputs[0].shape)


_FOLDERS: dict[str, Callable[[Operator], np.ndarray]] = {
    "STRIDED_SLICE": _strided_slice,
    "PACK": _pack,
    "CONCATENATION": _concat,
    "RESHAPE": _reshape,
    "SQUEEZE": _reshape,
    "EXPAND_DIMS": _reshape,
}


def _foldable(op: Operator) -> bool:
    if op.type == "SHAPE":
        return True  # shapes are static, whatever the input's values
    if op.type not in _FOLDERS or op.attrs.get("activation", "NONE") != "NONE":
        return False
    return all(t is None or t.is_const for t in op.inputs)


def _fold_constants(graph: Graph) -> None:
    kept: list[Operator] = []
    graph_outputs = {id(t) for t in graph.outputs}
    for op in graph.ops:
        if _foldable(op) and not any(id(t) in graph_outputs for t in op.outputs):
            try:
                value = _shape(op) if op.type == "SHAPE" else _FOLDERS[op.type](op)
            except Unsupported:
                kept.append(op)
                continue
            out: Tensor = op.outputs[0]
            out.data = value.astype(np.dtype(out.dtype)).reshape(out.shape)
            continue
        kept.append(op)
    graph.ops = kept


def _remove_dead_ops(graph: Graph) -> None:
    """Drop ops whose outputs nobody reads (what folding leaves behind)."""
    changed = True
    while changed:
        needed = {id(t) for t in graph.outputs}
        for op in graph.ops:
            needed.update(id(t) for t in op.inputs if t is not None)
        alive = [op for op in graph.ops if any(id(t) in needed for t in op.outputs)]
        changed = len(alive) != len(graph.ops)
        graph.ops = alive


def check_supported(graph: Graph) -> None:
    """Raise UnsupportedOpError naming every op (and variant) we cannot compile."""
    problems: list[str] = []
    for op in graph.ops:
        kernel = REGISTRY.get(op.type)
        where = f"{op.label} (output {op.outputs[0].name!r})"
        if kernel is None:
            problems.append(f"{where}: operator {op.type} is not supported")
            continue
        try:
            kernel.check(op)
        except Unsupported as e:
            problems.append(f"{where}: {e}")
    if problems:
        supported = ", ".join(sorted(REGISTRY))
        raise UnsupportedOpError(
            f"{len(problems)} unsupported operator(s) in {graph.name}:\n  " + "\n  ".join(problems),
            f"re-export the model using only supported operators ({supported})",
        )
