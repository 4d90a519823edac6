"""TRANSPOSE, SPLIT, SPLIT_V, SLICE, STRIDED_SLICE, DEPTH_TO_SPACE, SPACE_TO_DEPTH (tm_copy_strided_s8) and GATHER
(tm_gather_s8), int8.

Each output of the strided family is a strided view of its input, worked out
here: (extent, input stride) per output dim, and the offset of its first
element. The views are copied rather than aliased: the planner gives all
tensors of one storage the same offset, and a split's or slice's outputs start
inside their input.
"""

from __future__ import annotations

import math

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported, register
from tinyml.ops.layout import gather_geometry, permutation, slice_index, split_axis, split_input, split_sizes

#: the dims tm_copy_strided_s8 loops over (TM_STRIDED_DIMS)
STRIDED_DIMS = 6

#: (extent, input stride in elements) per output dim, outermost first
Dims = list[tuple[int, int]]


def row_major(shape: tuple[int, ...]) -> list[int]:
    """Element strides of a dense tensor of `shape`."""
    return [math.prod(shape[d + 1 :]) for d in range(len(shape))]


def merged(dims: Dims) -> Dims:
    """The same walk over fewer dims: extents of 1 dropped, and a dim folded into the one before it when
    stepping that one is the same as stepping through all of it (so inner runs get as long as possible)."""
    out: Dims = []
    for extent, stride in dims:
        if extent == 1:
            continue
        if out and out[-1][1] == extent * stride:
            out[-1] = (out[-1][0] * extent, stride)
        else:
            out.append((extent, stride))
    return out


def strided_views(op: Operator) -> list[tuple[int, Dims]]:
    """(offset, dims) of each output as a view of the op's feature input."""
    if op.type in ("SPLIT", "SPLIT_V"):
        shape = split_input(op).shape
        strides, axis = row_major(shape), split_axis(op)
        views, start = [], 0
        for size in split_sizes(op):
            dims = [(size if d == axis else n, s) for d, (n, s) in enumerate(zip(shape, strides, strict=True))]
            views.append((start * strides[axis], dims))
            start += size
        return views
    shape = op.input(0).shape
    strides = row_major(shape)
    if op.type == "TRANSPOSE":
        return [(0, [(shape[p], strides[p]) for p in permutation(op)])]
    if op.type in ("SLICE", "STRIDED_SLICE"):
        offset, dims = 0, []
        for item, n, s in zip(slice_index(op), shape, strides, strict=True):
            if isinstance(item, int):  # a dim the slice removes
                offset += item * s
                continue
            start, _, step = item.indices(n)
            offset += start * s
            dims.append((len(range(*item.indices(n))), step * s))
        return [(offset, dims)]
    bs = op.attrs.block_size
    n, h, w, c = shape
    if op.type == "DEPTH_TO_SPACE":  # output (n, h, dy, w, dx, c/bs^2) reads input (n, h, w, dy, dx, c/bs^2)
        depth = c // (bs * bs)
        return [(0, [(n, h * w * c), (h, w * c), (bs, bs * depth), (w, c), (bs, depth), (depth, 1)])]
    # SPACE_TO_DEPTH: output (n, h/bs, w/bs, dy, dx, c) reads input (n, h/bs, dy, w/bs, dx, c)
    return [(0, [(n, h * w * c), (h // bs, bs * w * c), (w // bs, bs * c), (bs, w * c), (bs, c), (c, 1)])]


def strided_params(offset: int, dims: Dims) -> dict[str, object]:
    """tm_strided_params for one view: merged, padded with outer dims of 1 to STRIDED_DIMS."""
    walk = merged(dims) or [(1, 1)]
    if len(walk) > STRIDED_DIMS:
        raise Unsupported(f"a copy over {len(walk)} dims (the portable kernel loops over {STRIDED_DIMS})")
    walk = [(1, 0)] * (STRIDED_DIMS - len(walk)) + walk
    return {"dims": [e for e, _ in walk], "strides": [s for _, s in walk], "offset": offset}


STRIDED_OPS = ("TRANSPOSE", "SPLIT", "SPLIT_V", "SLICE", "STRIDED_SLICE", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH")


@register
class StridedCopy(Kernel):
    op_types = STRIDED_OPS

    def check(self, op: Operator) -> None:
        self.require_int8(op)
        for offset, dims in strided_views(op):
            strided_params(offset, dims)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp = split_input(op) if op.type in ("SPLIT", "SPLIT_V") else op.input(0)
        parts = [
            {**strided_params(offset, dims), "output": ctx.tensor(out)}
            for (offset, dims), out in zip(strided_views(op), op.outputs, strict=True)
        ]
        return Call("ops/copy_strided_s8.c.j2", {"input": ctx.tensor(inp), "parts": parts})


@register
class Gather(Kernel):
    op_types = ("GATHER",)

    def check(self, op: Operator) -> None:
        self.require_int8(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        g = gather_geometry(op)
        return Call(
            "ops/gather_s8.c.j2",
            {
                "geometry": (g.batch, g.outer, g.axis_size, g.positions, g.inner),
                "positions": ctx.tensor(op.input(1)),
                "input": ctx.tensor(op.input(0)),
                "output": ctx.tensor(op.outputs[0]),
            },
        )


def copy_features(op: Operator) -> dict[str, float]:
    """The cost model's loop counts for tm_copy_strided_s8: calls (one per output), elements, memcpy runs (one
    per innermost row when it is contiguous) and elements copied one at a time (when it is not)."""
    runs = scattered = 0
    for offset, dims in strided_views(op):
        p = strided_params(offset, dims)
        rows = math.prod(p["dims"][:-1])  # type: ignore[index]
        if p["strides"][-1] == 1:  # type: ignore[index]
            runs += rows
        else:
            scattered += rows * p["dims"][-1]  # type: ignore[index]
    elements = sum(t.num_elements for t in op.outputs)
    return {"calls": len(op.outputs), "elements": elements, "runs": runs, "scattered": scattered}


def gather_features(op: Operator) -> dict[str, float]:
    """tm_gather_s8: one memcpy per position per outer slab."""
    g = gather_geometry(op)
    return {"calls": 1, "elements": op.outputs[0].num_elements, "runs": g.batch * g.outer * g.positions}
