"""TRANSPOSE, SPLIT, SPLIT_V, SLICE, STRIDED_SLICE, GATHER, DEPTH_TO_SPACE and SPACE_TO_DEPTH: data movement.

Every output byte is an input byte, so TFLite Micro ignores quantization here and so do these
definitions: int8 in, the same int8 bytes out. Parameters (permutation, axis, begins, sizes,
strides, split sizes) must be constants, as TFLite Micro reads most of them at prepare time; GATHER's
positions may also be computed at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator, Tensor
from tinyml.ir.types import INT8, INT32, INT64
from tinyml.ops.base import (
    Arrays,
    OpDef,
    Role,
    Unsupported,
    array,
    const_ints,
    define,
    require_arity,
)

#: the most dims any of these ops handles (TFLite Micro: TRANSPOSE 6, SLICE and STRIDED_SLICE 5)
MAX_RANK = 6


def require_int8(*tensors: Tensor) -> None:
    """Feature inputs and outputs are int8 (a byte copy: their quantization is not looked at, as in TFLite Micro)."""
    for t in tensors:
        if t.type != INT8:
            raise Unsupported(f"tensor {t.name!r} is {t.type}; int8 expected")


def _axis(axis: int, rank: int, what: str = "axis") -> int:
    """An axis in [0, rank), negative ones counted from the end."""
    resolved = axis + rank if axis < 0 else axis
    if not 0 <= resolved < rank:
        raise Unsupported(f"{what} {axis} of a rank {rank} tensor")
    return resolved


def _scalar(t: Tensor, what: str) -> int:
    values = const_ints(t, what).reshape(-1)
    if values.size != 1:
        raise Unsupported(f"{what} with {values.size} values (one expected)")
    return int(values[0])


# --- TRANSPOSE ---


def permutation(op: Operator) -> tuple[int, ...]:
    """TRANSPOSE's permutation: output dim i is input dim perm[i]."""
    perm = tuple(int(p) for p in const_ints(op.input(1), "permutation").reshape(-1))
    rank = len(op.input(0).shape)
    if sorted(p + rank if p < 0 else p for p in perm) != list(range(rank)):
        raise Unsupported(f"permutation {list(perm)} of a rank {rank} tensor")
    return tuple(p + rank if p < 0 else p for p in perm)


class _Movement(OpDef):
    """Shared checks: arity, int8 feature tensors, a rank TFLite Micro handles, output shapes that follow."""

    def arity(self, op: Operator) -> tuple[int, int]:
        """The fewest and most inputs."""
        return (1, 1)

    def feature_input(self, op: Operator) -> Tensor:
        return op.input(0)

    def validate(self, op: Operator) -> None:
        require_arity(op, *self.arity(op))
        inp = self.feature_input(op)
        require_int8(inp, *op.outputs)
        if len(inp.shape) > MAX_RANK:
            raise Unsupported(f"rank {len(inp.shape)} input (at most {MAX_RANK})")
        self.check_shapes(op)
        for t in op.outputs:
            if t.num_elements == 0:
                raise Unsupported(f"output {t.name!r} of shape {t.shape} is empty")


@define
class Transpose(_Movement):
    op_types = ("TRANSPOSE",)
    input_roles = (Role.FEATURE, Role.PARAM)

    def arity(self, op: Operator) -> tuple[int, int]:
        return (2, 2)

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        shape = op.input(0).shape
        return [tuple(shape[p] for p in permutation(op))]

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        return [np.ascontiguousarray(np.transpose(array(inputs, 0), permutation(op)))]


# --- SPLIT / SPLIT_V ---


@dataclass(frozen=True)
class SplitAttrs:
    num_splits: int = 0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> SplitAttrs:
        return cls(num_splits=int(options.get("num_splits", 0)))


def split_axis(op: Operator) -> int:
    """The axis SPLIT (input 0) or SPLIT_V (input 2) cuts, in [0, rank)."""
    axis_t = op.input(0) if op.type == "SPLIT" else op.input(2)
    return _axis(_scalar(axis_t, "split axis"), len(split_input(op).shape), "split axis")


def split_input(op: Operator) -> Tensor:
    return op.input(1) if op.type == "SPLIT" else op.input(0)


def split_sizes(op: Operator) -> list[int]:
    """Each output's extent along the split axis: equal parts (SPLIT) or SPLIT_V's sizes, its one -1 resolved."""
    extent = split_input(op).shape[split_axis(op)]
    if op.type == "SPLIT":
        n = op.attrs.num_splits or len(op.outputs)
        if n <= 0 or extent % n:
            raise Unsupported(f"{n} equal splits of an axis of {extent}")
        return [extent // n] * n
    sizes = [int(s) for s in const_ints(op.input(1), "split sizes", (INT32, INT64)).reshape(-1)]
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = extent - (sum(sizes) + 1)
    if any(s < 0 for s in sizes) or sum(sizes) != extent:
        raise Unsupported(f"split sizes {sizes} of an axis of {extent}")
    return sizes


@define
class Split(_Movement):
    """SPLIT (axis, input) into num_splits equal parts; SPLIT_V (input, sizes, axis) into parts of given sizes."""

    op_types = ("SPLIT", "SPLIT_V")
    attrs_type = SplitAttrs

    def roles(self, op: Operator) -> tuple[Role, ...]:
        return (Role.PARAM, Role.FEATURE) if op.type == "SPLIT" else (Role.FEATURE, Role.PARAM, Role.PARAM)

    def feature_input(self, op: Operator) -> Tensor:
        return split_input(op)

    def arity(self, op: Operator) -> tuple[int, int]:
        return (2, 2) if op.type == "SPLIT" else (3, 3)

    def validate(self, op: Operator) -> None:
        require_arity(op, *self.arity(op))
        if len(op.outputs) != len(split_sizes(op)):
            raise Unsupported(f"{len(op.outputs)} outputs for {len(split_sizes(op))} splits")
        super().validate(op)

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        shape, axis = split_input(op).shape, split_axis(op)
        return [(*shape[:axis], size, *shape[axis + 1 :]) for size in split_sizes(op)]

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        x = array(inputs, 1 if op.type == "SPLIT" else 0)
        cuts = np.cumsum(split_sizes(op))[:-1]
        return [np.ascontiguousarray(part) for part in np.split(x, cuts, axis=split_axis(op))]


# --- SLICE / STRIDED_SLICE ---


@dataclass(frozen=True)
class StridedSliceAttrs:
    """StridedSliceOptions: bit d of a mask applies to dim d."""

    begin_mask: int = 0
    end_mask: int = 0
    ellipsis_mask: int = 0
    new_axis_mask: int = 0
    shrink_axis_mask: int = 0
    #: end counts from begin (end = begin + end)
    offset: bool = False

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> StridedSliceAttrs:
        keys = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
        return cls(**{k: int(options.get(k, 0)) for k in keys}, offset=bool(options.get("offset", False)))


def slice_index(op: Operator) -> tuple[slice | int, ...]:
    """The NumPy index SLICE or STRIDED_SLICE applies to its input: a slice per dim, or an int for a dim
    STRIDED_SLICE's shrink_axis_mask removes. NumPy clamps begins and ends exactly as TFLite does."""
    shape = op.input(0).shape
    if op.type == "SLICE":
        begin = const_ints(op.input(1), "slice begin", (INT32, INT64)).reshape(-1)
        size = const_ints(op.input(2), "slice size", (INT32, INT64)).reshape(-1)
        if len(begin) != len(shape) or len(size) != len(shape):
            raise Unsupported(f"slice begin {list(begin)} and size {list(size)} for a rank {len(shape)} input")
        index = []
        for b, s, dim in zip(begin, size, shape, strict=True):
            b, s = int(b), int(s)
            end = dim if s == -1 else b + s
            if not 0 <= b <= end <= dim:
                raise Unsupported(f"slice of [{b}, {end}) from a dim of {dim}")
            index.append(slice(b, end, 1))
        return tuple(index)
    a = op.attrs
    if a.ellipsis_mask or a.new_axis_mask:
        raise Unsupported("STRIDED_SLICE with an ellipsis or new-axis mask")
    begin, end, strides = (
        const_ints(op.input(i), what, (INT32, INT64)).reshape(-1)
        for i, what in ((1, "slice begins"), (2, "slice ends"), (3, "slice strides"))
    )
    if not len(begin) == len(end) == len(strides) or len(begin) > len(shape):
        raise Unsupported(f"slice begins, ends and strides of {len(begin)}, {len(end)}, {len(strides)} values")
    index: list[slice | int] = []
    for d, dim in enumerate(shape):
        if d >= len(begin):
            index.append(slice(None))
            continue
        bit = 1 << d
        b, e, s = int(begin[d]), int(end[d]), int(strides[d])
        if s == 0:
            raise Unsupported("a slice stride of 0")
        if a.shrink_axis_mask & bit:
            if not -dim <= b < dim:
                raise Unsupported(f"index {b} of a dim of {dim}")
            index.append(b + dim if b < 0 else b)
            continue
        if a.offset:
            e = b + e
        index.append(slice(None if a.begin_mask & bit else b, None if a.end_mask & bit else e, s))
    return tuple(index)


class _Slice(_Movement):
    """What SLICE and STRIDED_SLICE share: an index into the input (`slice_index`)."""

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        shape = []
        for item, dim in zip(slice_index(op), op.input(0).shape, strict=True):
            if isinstance(item, slice):
                shape.append(len(range(*item.indices(dim))))
        return [tuple(shape)]

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        return [np.ascontiguousarray(array(inputs, 0)[slice_index(op)])]


@define
class Slice(_Slice):
    """SLICE (input, begin, size); a size of -1 runs to the end of its dim."""

    op_types = ("SLICE",)
    input_roles = (Role.FEATURE, Role.PARAM, Role.PARAM)

    def arity(self, op: Operator) -> tuple[int, int]:
        return (3, 3)


@define
class StridedSlice(_Slice):
    """STRIDED_SLICE (input, begin, end, strides) with begin, end and shrink-axis masks and `offset`.

    On constants only it is folded at compile time (tinyml.passes.fold), through this reference."""

    op_types = ("STRIDED_SLICE",)
    attrs_type = StridedSliceAttrs
    input_roles = (Role.FEATURE, Role.PARAM, Role.PARAM, Role.PARAM)

    def arity(self, op: Operator) -> tuple[int, int]:
        return (4, 4)


# --- GATHER ---


@dataclass(frozen=True)
class GatherAttrs:
    axis: int = 0
    batch_dims: int = 0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> GatherAttrs:
        return cls(axis=int(options.get("axis", 0)), batch_dims=int(options.get("batch_dims", 0)))


@dataclass(frozen=True)
class GatherGeometry:
    """GATHER as TFLite Micro loops over it: batch x outer x positions copies of `inner` elements each."""

    batch: int
    outer: int
    axis_size: int
    positions: int
    inner: int


def gather_geometry(op: Operator) -> GatherGeometry:
    params, positions = op.input(0).shape, op.input(1).shape
    axis = _axis(op.attrs.axis, len(params))
    batch_dims = op.attrs.batch_dims + len(positions) if op.attrs.batch_dims < 0 else op.attrs.batch_dims
    if not 0 <= batch_dims <= axis or batch_dims > len(positions) or params[:batch_dims] != positions[:batch_dims]:
        raise Unsupported(f"batch_dims {op.attrs.batch_dims} with axis {op.attrs.axis}, params {params}, positions")
    return GatherGeometry(
        batch=int(np.prod(params[:batch_dims], dtype=np.int64)),
        outer=int(np.prod(params[batch_dims:axis], dtype=np.int64)),
        axis_size=params[axis],
        positions=int(np.prod(positions[batch_dims:], dtype=np.int64)),
        inner=int(np.prod(params[axis + 1 :], dtype=np.int64)),
    )


@define
class Gather(OpDef):
    """GATHER (params, int32 positions): TFLite Micro fails the inference on a position outside the axis; so does
    the kernel (and the reference raises). GATHER on constants only is folded at compile time."""

    op_types = ("GATHER",)
    attrs_type = GatherAttrs
    input_roles = (Role.FEATURE, Role.PARAM)

    def validate(self, op: Operator) -> None:
        require_arity(op, 2)
        require_int8(op.input(0), op.outputs[0])
        if op.input(1).type != INT32:
            raise Unsupported(f"positions of type {op.input(1).type} (TFLite Micro takes int32)")
        positions = op.input(1).data
        if positions is not None and ((positions < 0).any() or (positions >= gather_geometry(op).axis_size).any()):
            raise Unsupported(f"positions {positions.reshape(-1).tolist()} outside the axis")
        self.check_shapes(op)

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        params, positions = op.input(0).shape, op.input(1).shape
        axis = _axis(op.attrs.axis, len(params))
        batch_dims = op.attrs.batch_dims + len(positions) if op.attrs.batch_dims < 0 else op.attrs.batch_dims
        gather_geometry(op)
        return [(*params[:axis], *positions[batch_dims:], *params[axis + 1 :])]

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        x, positions = array(inputs, 0), array(inputs, 1)
        g = gather_geometry(op)
        if (positions < 0).any() or (positions >= g.axis_size).any():
            raise ValueError(f"{op.label}: a position outside [0, {g.axis_size}) (TFLite Micro fails the inference)")
        src = x.reshape(g.batch, g.outer, g.axis_size, g.inner)
        idx = positions.reshape(g.batch, g.positions).astype(np.int64)
        out = np.stack([src[b][:, idx[b], :] for b in range(g.batch)])
        return [out.reshape(self.infer_shapes(op)[0]).astype(x.dtype)]


# --- DEPTH_TO_SPACE / SPACE_TO_DEPTH ---


@dataclass(frozen=True)
class BlockAttrs:
    block_size: int = 0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> BlockAttrs:
        return cls(block_size=int(options.get("block_size", 0)))


@define
class DepthToSpace(_Movement):
    """NHWC, TensorFlow's DCR order: output[b, h*bs + dy, w*bs + dx, c] = input[b, h, w, (dy*bs + dx)*C + c]."""

    op_types = ("DEPTH_TO_SPACE",)
    attrs_type = BlockAttrs

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        shape, bs = op.input(0).shape, op.attrs.block_size
        if len(shape) != 4 or bs < 1 or shape[3] % (bs * bs):
            raise Unsupported(f"block size {bs} on an input of shape {shape}")
        n, h, w, c = shape
        return [(n, h * bs, w * bs, c // (bs * bs))]

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        x, bs = array(inputs, 0), op.attrs.block_size
        n, h, w, c = x.shape
        y = x.reshape(n, h, w, bs, bs, c // (bs * bs)).transpose(0, 1, 3, 2, 4, 5)
        return [np.ascontiguousarray(y.reshape(self.infer_shapes(op)[0]))]


@define
class SpaceToDepth(_Movement):
    """The inverse: output[b, h, w, (dy*bs + dx)*C + c] = input[b, h*bs + dy, w*bs + dx, c]."""

    op_types = ("SPACE_TO_DEPTH",)
    attrs_type = BlockAttrs

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        shape, bs = op.input(0).shape, op.attrs.block_size
        if len(shape) != 4 or bs < 1 or shape[1] % bs or shape[2] % bs:
            raise Unsupported(f"block size {bs} on an input of shape {shape}")
        n, h, w, c = shape
        return [(n, h // bs, w // bs, c * bs * bs)]

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        x, bs = array(inputs, 0), op.attrs.block_size
        n, h, w, c = x.shape
        y = x.reshape(n, h // bs, bs, w // bs, bs, c).transpose(0, 1, 3, 2, 4, 5)
        return [np.ascontiguousarray(y.reshape(self.infer_shapes(op)[0]))]
