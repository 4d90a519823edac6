"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR (int8, NHWC, a constant output size), as TFLite Micro computes them.

Both map each output row and column to input rows and columns independently, so
the whole of an op's arithmetic on coordinates is done here, once, at compile
time: per output row (and per column) the input row(s) it reads and, for
bilinear, the 10-bit fixed-point weight of the second one. Kernels only look
the tables up.

- Nearest neighbour: TFLite's GetNearestNeighbor in float32 (scale, +0.5 with
  half-pixel centres, floor, or round half away from zero with aligned corners;
  clamped), which NumPy's float32 reproduces operation for operation.
- Bilinear: TFLite Micro's int8 path is ResizeBilinearInteger, all integer: a
  10-bit scale rounded to nearest, C's truncating division, and four int64
  products rounded half away from zero and divided by 2^20 (not the float one).

Patch-based inference runs a resize on tiles: a patch's copy computes its
output tile from just the input rows and columns the whole image's tables read
there (its receptive field), with the whole image's tables cut to the tile and
shifted to the patch's origin (`ResizeTile`), so every output byte is the
whole-image op's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT8, INT32
from tinyml.ops.base import Arrays, OpDef, Role, Unsupported, array, const_ints, define, require_arity
from tinyml.ops.window import Region

#: bilinear weights are fractions of 2^10
ONE = 1 << 10


@dataclass(frozen=True)
class ResizeTile:
    """A patch's share of a whole-image resize: output rows and columns `output` of the whole output, computed
    from the patch input, whose first row and column are `origin` of the whole input of size `image`.

    The tables are the whole image's (TFLite's coordinates depend on the whole sizes), cut to the tile and
    shifted by the origin; the size operand keeps naming the whole output."""

    image: tuple[int, int]
    output: Region
    origin: tuple[int, int]


@dataclass(frozen=True)
class ResizeAttrs:
    align_corners: bool = False
    half_pixel_centers: bool = False
    #: set on a patch's copy of the op only (tinyml's own: TFLite has no such option)
    tile: ResizeTile | None = None

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ResizeAttrs:
        return cls(bool(options.get("align_corners", False)), bool(options.get("half_pixel_centers", False)))


def output_size(op: Operator) -> tuple[int, int]:
    """(height, width) from the constant size operand (TFLite Micro requires it constant)."""
    size = const_ints(op.input(1), "output size").reshape(-1)
    if size.size != 2 or (size <= 0).any():
        raise Unsupported(f"output size {size.tolist()} (two positive values expected)")
    return int(size[0]), int(size[1])


@cache
def nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """The input index each output index reads: TFLite's GetNearestNeighbor, in float32 as it computes.

    Remembered (patch planning asks per patch and grid), hence read-only."""
    f32 = np.float32
    aligned = align_corners and out_size > 1
    scale = f32(in_size - 1) / f32(out_size - 1) if aligned else f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    pos = (np.arange(out_size).astype(f32) + offset) * scale  # float32 throughout, as in C++
    # std::round (half away from zero; pos >= 0, and float64 holds pos + 0.5 exactly), or std::floor
    picked = np.floor(pos.astype(np.float64) + 0.5) if align_corners else np.floor(pos)
    index = np.minimum(picked.astype(np.int64), in_size - 1)
    if half_pixel_centers:
        index = np.maximum(index, 0)
    return _frozen(index.astype(np.int32))


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _scale_10(in_size: int, out_size: int, align_corners: bool) -> int:
    if align_corners and out_size > 1:
        return (ONE * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    return (ONE * in_size + out_size // 2) // out_size


def _c_div(a: int, b: int) -> int:
    """C's integer division (truncation toward zero), for b > 0."""
    return -((-a) // b) if a < 0 else a // b


@dataclass(frozen=True)
class BilinearAxis:
    """Per output index along one axis: the two input indices and the weight (of 2^10) of the second.

    With half-pixel centres the first weight, 2^10 - weight, can exceed 2^10 and the second be negative near
    the borders, exactly as TFLite Micro computes."""

    lower: np.ndarray
    upper: np.ndarray
    weight: np.ndarray

    def part(self, start: int, stop: int, origin: int) -> BilinearAxis:
        """Output indices [start, stop), reading an input whose first index is `origin` of this axis's input."""
        return BilinearAxis(self.lower[start:stop] - origin, self.upper[start:stop] - origin, self.weight[start:stop])


@cache
def bilinear_axis(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> BilinearAxis:
    """TFLite's ComputeInterpolationValuesInteger for every output index (remembered, hence read-only)."""
    scale = _scale_10(in_size, out_size, align_corners)
    lower, upper, weight = [], [], []
    for v in range(out_size):
        scaled = v * scale + _c_div(scale, 2) - (1 << 9) if half_pixel_centers else v * scale
        lo = max(_c_div(scaled, ONE), 0)
        hi = min(_c_div(scaled + ONE - 1, ONE), in_size - 1)
        lower.append(lo)
        upper.append(hi)
        weight.append(scaled - ONE * lo)
    return BilinearAxis(*(_frozen(np.array(a, dtype=np.int32)) for a in (lower, upper, weight)))


class _Resize(OpDef):
    attrs_type = ResizeAttrs
    input_roles = (Role.FEATURE, Role.PARAM)

    def validate(self, op: Operator) -> None:
        require_arity(op, 2)
        inp, out = op.input(0), op.outputs[0]
        for t in (inp, out):
            if t.type != INT8:
                raise Unsupported(f"tensor {t.name!r} is {t.type}; int8 expected")
        if len(inp.shape) != 4:
            raise Unsupported(f"rank {len(inp.shape)} input (NHWC expected)")
        if op.input(1).type != INT32:
            raise Unsupported(f"output size of type {op.input(1).type}; int32 expected")
        if op.attrs.align_corners and op.attrs.half_pixel_centers:
            raise Unsupported("align_corners together with half_pixel_centers (TFLite Micro refuses it)")
        self.check_shapes(op)
        if op.attrs.tile is not None:
            for (lower, upper), size in zip(self.reads(op), inp.shape[1:3], strict=True):
                if lower.min() < 0 or upper.max() >= size:
                    raise Unsupported("a patch of a resize that reads outside its input patch")

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        n, _, _, c = op.input(0).shape
        tile = op.attrs.tile
        return [(n, *output_size(op), c) if tile is None else (n, tile.output.rows, tile.output.cols, c)]

    def sizes(self, op: Operator) -> tuple[tuple[int, int], tuple[int, int]]:
        """(height, width) of the whole input and of the whole output, which TFLite's coordinates follow (a
        patch's copy of the op reads a part of the input and writes a part of the output)."""
        tile = op.attrs.tile
        return (tuple(op.input(0).shape[1:3]) if tile is None else tile.image), output_size(op)

    def reads(self, op: Operator) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Per axis (rows, then columns), the lowest and highest input index each output index reads."""
        raise NotImplementedError

    def patchable(self, op: Operator) -> bool:
        """One NHWC image: a patch's copy computes its tile from the input rows and columns the whole image's
        tables read there (`receptive_field`), through those tables cut and shifted (`patch_attrs`)."""
        inp = op.input(0)
        return len(inp.shape) == 4 and inp.shape[0] == 1 and op.attrs.tile is None

    def receptive_field(self, op: Operator, out_region: Region, input_index: int) -> Region:
        """The input rows from the least to the greatest the tile's output rows read (the tables are monotone,
        but min and max do not rely on it), and so the columns."""
        if input_index != 0:
            raise ValueError(f"{op.label}: input {input_index} is not a feature map")
        (row_lo, row_hi), (col_lo, col_hi) = self.reads(op)
        rows, cols = slice(out_region.y0, out_region.y1), slice(out_region.x0, out_region.x1)
        return Region(
            int(row_lo[rows].min()), int(row_hi[rows].max()) + 1, int(col_lo[cols].min()), int(col_hi[cols].max()) + 1
        )

    def patch_attrs(self, op: Operator, out_region: Region, in_region: Region) -> ResizeAttrs:
        """The patch's copy: the tile's part of the whole image's tables, shifted to the patch input's origin."""
        _, h, w, _ = op.input(0).shape
        return replace(op.attrs, tile=ResizeTile((h, w), out_region, (in_region.y0, in_region.x0)))


@define
class ResizeNearestNeighbor(_Resize):
    op_types = ("RESIZE_NEAREST_NEIGHBOR",)

    def tables(self, op: Operator) -> tuple[np.ndarray, np.ndarray]:
        """The input row of each output row, the input column of each output column (of a patch's copy: of its
        tile's, counted from its input patch)."""
        (h, w), (out_h, out_w) = self.sizes(op)
        a = op.attrs
        rows = nearest_indices(h, out_h, a.align_corners, a.half_pixel_centers)
        cols = nearest_indices(w, out_w, a.align_corners, a.half_pixel_centers)
        if a.tile is None:
            return rows, cols
        out, (y0, x0) = a.tile.output, a.tile.origin
        return rows[out.y0 : out.y1] - y0, cols[out.x0 : out.x1] - x0

    def reads(self, op: Operator) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        rows, cols = self.tables(op)
        return (rows, rows), (cols, cols)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        rows, cols = self.tables(op)
        return [np.ascontiguousarray(array(inputs, 0)[:, rows][:, :, cols])]


@define
class ResizeBilinear(_Resize):
    op_types = ("RESIZE_BILINEAR",)

    def tables(self, op: Operator) -> tuple[BilinearAxis, BilinearAxis]:
        """Rows, then columns (of a patch's copy: its tile's, counted from its input patch)."""
        (h, w), (out_h, out_w) = self.sizes(op)
        a = op.attrs
        rows = bilinear_axis(h, out_h, a.align_corners, a.half_pixel_centers)
        cols = bilinear_axis(w, out_w, a.align_corners, a.half_pixel_centers)
        if a.tile is None:
            return rows, cols
        out, (y0, x0) = a.tile.output, a.tile.origin
        return rows.part(out.y0, out.y1, y0), cols.part(out.x0, out.x1, x0)

    def reads(self, op: Operator) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        rows, cols = self.tables(op)
        return (rows.lower, rows.upper), (cols.lower, cols.upper)

    def validate(self, op: Operator) -> None:
        super().validate(op)
        _, h, w, _ = op.input(0).shape
        for axis, size in zip(self.tables(op), (h, w), strict=True):
            if axis.lower.max() >= size:  # TFLite Micro would read outside the input
                raise Unsupported(f"a resize whose 10-bit scale reads past input size {size}")

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        x = array(inputs, 0).astype(np.int64)
        ry, rx = self.tables(op)
        wy = ry.weight.astype(np.int64)[None, :, None, None]
        wx = rx.weight.astype(np.int64)[None, None, :, None]
        top, bottom = x[:, ry.lower], x[:, ry.upper]
        total = (
            top[:, :, rx.lower] * (ONE - wy) * (ONE - wx)
            + bottom[:, :, rx.lower] * wy * (ONE - wx)
            + top[:, :, rx.upper] * (ONE - wy) * wx
            + bottom[:, :, rx.upper] * wy * wx
        )
        rounded = total + np.where(total > 0, 1 << 19, -(1 << 19))
        quotient = np.sign(rounded) * (np.abs(rounded) >> 20)  # C's division by 2^20, toward zero
        return [quotient.astype(np.int8)]  # static_cast<int8_t>: wraps, as in TFLite Micro
