"""TINYML_COPY_REGION: an op of tinyml's own (not TFLite's) that moves a rectangle of pixels between NHWC tensors.

Patch-based inference makes it to gather a patch's input from a larger map
and to scatter a patch's output into the full feature map.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ops.base import Arrays, OpDef, Unsupported, array, define

COPY = "TINYML_COPY_REGION"


@dataclass(frozen=True)
class RegionAttrs:
    """Where the rectangle starts in the source and in the destination, and its size: (row, column) pairs."""

    src: tuple[int, int]
    dst: tuple[int, int]
    size: tuple[int, int]

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> RegionAttrs:
        return cls(tuple(options["src"]), tuple(options["dst"]), tuple(options["size"]))  # type: ignore[arg-type]


@define
class CopyRegion(OpDef):
    op_types = (COPY,)
    attrs_type = RegionAttrs

    def validate(self, op: Operator) -> None:
        src, dst = op.input(0), op.outputs[0]
        (sy, sx), (dy, dx), (rows, cols) = op.attrs.src, op.attrs.dst, op.attrs.size
        if len(src.shape) != 4 or len(dst.shape) != 4 or src.shape[3] != dst.shape[3] or src.type != dst.type:
            raise Unsupported(f"region copy from {src.shape} {src.type} to {dst.shape} {dst.type}")
        if min(sy, sx, dy, dx, rows, cols) < 0 or sy + rows > src.shape[1] or sx + cols > src.shape[2]:
            raise Unsupported(f"region {op.attrs} does not fit the source {src.shape}")
        if dy + rows > dst.shape[1] or dx + cols > dst.shape[2]:
            raise Unsupported(f"region {op.attrs} does not fit the destination {dst.shape}")

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        """The destination is a whole feature map, of which the op writes a part: its shape is its own."""
        return [tuple(op.outputs[0].shape)]

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """The destination with `size` rows and columns from the source at `src` written at `dst`.

        Several of these ops write disjoint parts of one full feature map, so the
        destination's current contents come as an extra input after the source
        (the interpreter passes them; None before the first write, when the rest
        is zeros).
        """
        src = array(inputs, 0)
        dst = op.outputs[0]
        current = inputs[1] if len(inputs) > 1 else None
        result = np.zeros(dst.shape, dst.type.np_dtype) if current is None else current.copy()
        (sy, sx), (dy, dx), (rows, cols) = op.attrs.src, op.attrs.dst, op.attrs.size
        if sy + rows > src.shape[1] or sx + cols > src.shape[2] or dy + rows > dst.shape[1] or dx + cols > dst.shape[2]:
            raise ValueError(f"{op.label}: region {op.attrs} does not fit {src.shape} -> {dst.shape}")
        result[:, dy : dy + rows, dx : dx + cols, :] = src[:, sy : sy + rows, sx : sx + cols, :]
        return [result]
