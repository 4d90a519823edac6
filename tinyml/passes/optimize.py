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
from tflite.BuiltinOperator import BuiltinOperator

from tinyml.errors import UnsupportedOpError
from tinyml.ir.graph import Graph, Operator, Tensor
from tinyml.kernels import REGISTRY, Unsupported


def optimize(graph: Graph) -> Graph:
    """Fold constant subgraphs, remove unused ops, fuse patterns, and check every op is supported."""
    _fold_constants(graph)
    _remove_dead_ops(graph)
    _fuse_space_to_batch_convs(graph)
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


def _gather(op: Operator) -> np.ndarray:
    params, indices = op.input(0).data, op.input(1).data
    assert params is not None and indices is not None
    if op.attrs.get("batch_dims", 0):
        raise Unsupported("GATHER with batch_dims")
    return np.take(params, indices, axis=op.attrs.get("axis", 0))


def _reduce_prod(op: Operator) -> np.ndarray:
    data, axes = op.input(0).data, op.input(1).data
    assert data is not None and axes is not None
    return np.prod(data, axis=tuple(int(a) for a in axes.reshape(-1)), keepdims=bool(op.attrs.get("keep_dims")))


def _concat(op: Operator) -> np.ndarray:
    return np.concatenate([t.data for t in op.inputs if t is not None], axis=op.attrs.get("axis", 0))


def _reshape(op: Operator) -> np.ndarray:
    data = op.input(0).data
    assert data is not None
    return data.reshape(op.outputs[0].shape)


_FOLDERS: dict[str, Callable[[Operator], np.ndarray]] = {
    "STRIDED_SLICE": _strided_slice,
    "PACK": _pack,
    "GATHER": _gather,
    "REDUCE_PROD": _reduce_prod,
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


def _reshape_target(op: Operator) -> tuple[int, ...] | None:
    """RESHAPE's output shape from its (now constant) shape operand, -1 resolved."""
    shape_t = op.opt_input(1)
    if shape_t is not None and shape_t.data is not None:
        dims = [int(d) for d in shape_t.data.reshape(-1)]
    elif op.attrs.get("new_shape"):
        dims = list(op.attrs["new_shape"])
    else:
        return None
    total = op.input(0).num_elements
    if dims.count(-1) == 1:
        known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
        dims[dims.index(-1)] = total // known if known else 0
    return tuple(dims)


def _infer_shape(op: Operator) -> None:
    """Recompute output shapes the converter could only store as placeholders.

    Shapes computed at run time in TensorFlow (Dense on a 3-D input, say) are
    written to the flatbuffer as (1, 1); once their shape operands are folded,
    the real shapes follow.
    """
    out = op.outputs[0]
    if op.type == "RESHAPE":
        target = _reshape_target(op)
        if target is not None and int(np.prod(target, dtype=np.int64)) == op.input(0).num_elements:
            out.shape = target
    elif op.type == "FULLY_CONNECTED" and op.input(1).shape:
        inp, units = op.input(0), op.input(1).shape[0]
        depth = op.input(1).shape[-1]
        if op.attrs.get("keep_num_dims"):
            out.shape = (*inp.shape[:-1], units)
        elif depth and inp.num_elements % depth == 0:
            out.shape = (inp.num_elements // depth, units)


def _fold_constants(graph: Graph) -> None:
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


def _fuse_space_to_batch_convs(graph: Graph) -> None:
    """SPACE_TO_BATCH_ND -> conv (VALID) -> BATCH_TO_SPACE_ND becomes one dilated conv.

    TensorFlow lowers dilated SAME convolutions this way. Space-to-batch pads
    with the zero point, whose contribution to a quantized convolution is
    exactly zero, so a dilated conv that skips out-of-image taps with explicit
    leading padding computes the same bytes without the two reshuffles.
    """
    ops = graph.ops
    fused: list[Operator] = []
    i = 0
    while i < len(ops):
        op = ops[i]
        if i + 2 < len(ops) and (conv := _dilated_conv(graph, op, ops[i + 1], ops[i + 2])) is not None:
            fused.append(conv)
            i += 3
            continue
        fused.append(op)
        i += 1
    graph.ops = fused


def _dilated_conv(graph: Graph, s2b: Operator, conv: Operator, b2s: Operator) -> Operator | None:
    if (s2b.type, b2s.type) != ("SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"):
        return None
    if conv.type not in ("CONV_2D", "DEPTHWISE_CONV_2D") or conv.input(0) is not s2b.outputs[0]:
        return None
    if b2s.input(0) is not conv.outputs[0] or len(graph.consumers(s2b.outputs[0])) != 1:
        return None
    if len(graph.consumers(conv.outputs[0])) != 1 or conv.attrs.get("padding") != "VALID":
        return None
    block, pads, crops = s2b.input(1).data, s2b.input(2).data, b2s.input(2).data
    if block is None or pads is None or crops is None or b2s.input(1).data is None:
        return None
    if block.shape != (2,) or not np.array_equal(block, b2s.input(1).data):
        return None
    if conv.attrs.get("stride_h", 1) != 1 or conv.attrs.get("stride_w", 1) != 1:
        return None
    if conv.attrs.get("dilation_h_factor", 1) != 1 or conv.attrs.get("dilation_w_factor", 1) != 1:
        return None
    pad_top, pad_left = int(pads[0][0] - crops[0][0]), int(pads[1][0] - crops[1][0])
    if pad_top < 0 or pad_left < 0:
        return None
    attrs = dict(conv.attrs)
    attrs.update(
        padding="EXPLICIT",
        explicit_padding=(pad_top, pad_left),
        dilation_h_factor=int(block[0]),
        dilation_w_factor=int(block[1]),
    )
    inputs = [s2b.input(0), *conv.inputs[1:]]
    return Operator(conv.type, inputs, list(b2s.outputs), attrs, index=conv.index)


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
        # TFLite's operators only: the registry also holds ops tinyml makes itself, which no model can contain
        supported = ", ".join(sorted(t for t in REGISTRY if hasattr(BuiltinOperator, t)))
        raise UnsupportedOpError(
            f"{len(problems)} unsupported operator(s) in {graph.name}:\n  " + "\n  ".join(problems),
            f"re-export the model using only supported operators ({supported})",
        )
