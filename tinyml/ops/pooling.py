"""AVERAGE_POOL_2D and MAX_POOL_2D (int8).

Windows are clipped to the input: a border window averages (or maximizes
over) only the taps that exist. Input and output share their quantization, so
no rescaling happens; only the fused activation clamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT8, INT16
from tinyml.ops import int16
from tinyml.ops.arith import saturate, truncating_divide
from tinyml.ops.base import (
    Arrays,
    Unsupported,
    array,
    define,
    quant,
    require_arity,
    require_per_tensor,
    require_quantized,
)
from tinyml.ops.requant import fused_range
from tinyml.ops.window import HW
from tinyml.ops.windowed import WindowAttrs, WindowedOpDef


@dataclass(frozen=True)
class PoolAttrs(WindowAttrs):
    """Pool2DOptions: the window's size besides its stride and padding, and the fused activation."""

    #: (height, width)
    filter: HW = (1, 1)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> PoolAttrs:
        size = (int(options.get("filter_height", 1)), int(options.get("filter_width", 1)))
        return cls(**WindowAttrs.common(options), filter=size)


class _Pool2D(WindowedOpDef):
    attrs_type = PoolAttrs
    #: int8, or int16 in TFLite's 16x8 scheme
    types = (INT8, INT16)

    def kernel_hw(self, op: Operator) -> HW:
        return op.attrs.filter

    def validate(self, op: Operator) -> None:
        require_arity(op, 1)
        inp, out = op.input(0), op.outputs[0]
        if int16.is_16x8(op):
            int16.require_int16(inp, out, zero_point=False)
        else:
            require_quantized(inp, out)
        require_per_tensor(inp, out)
        self.validate_window(op)
        # TFLM's PoolingPrepare compares float scales (float subtraction, double compare) and zero points.
        if abs(float(np.float32(quant(inp).scale) - np.float32(quant(out).scale))) > 1.0e-6:
            raise Unsupported("input and output scales differ (TFLite Micro requires them equal)")
        if quant(inp).zero_point != quant(out).zero_point:
            raise Unsupported("input and output zero points differ (TFLite Micro requires them equal)")
        expected = self.infer_shapes(op)[0]
        if out.shape != expected:
            raise Unsupported(f"output shape {out.shape} does not follow from input {inp.shape} and the window")
        (rows, cols) = self.window(op).taps(inp.shape[1:3], out.shape[1:3])
        if rows.min(initial=1) <= 0 or cols.min(initial=1) <= 0:
            raise Unsupported("a window lies wholly outside the input")

    def windows(self, op: Operator, x: np.ndarray, fill: int) -> np.ndarray:
        """(n, out_h, out_w, c, kh, kw) windows of the input, out-of-image taps reading `fill`."""
        return self.window(op).views(x, op.outputs[0].shape[1:3], fill)


@define
class AveragePool2D(_Pool2D):
    op_types = ("AVERAGE_POOL_2D",)

    def macs(self, op: Operator) -> int:
        kh, kw = op.attrs.filter
        return op.outputs[0].num_elements * kh * kw

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """The window's sum divided by its in-image tap count, halves rounded away from zero (C division). The
        rounding depends on the sign of the int8 values, so a packed input's codes are first lifted by its level
        (and the result lowered by the output's)."""
        x = array(inputs, 0)
        out = op.outputs[0]
        level = quant(op.input(0)).level
        total = self.windows(op, x.astype(np.int64) + level, 0).sum(axis=(-2, -1))
        rows, cols = self.window(op).taps(x.shape[1:3], out.shape[1:3])
        if rows.min(initial=1) <= 0 or cols.min(initial=1) <= 0:
            raise ValueError(f"{op.label}: a window lies wholly outside the input")
        count = (rows[:, None] * cols[None, :])[None, :, :, None]
        half = count // 2
        mean = np.where(total > 0, truncating_divide(total + half, count), truncating_divide(total - half, count))
        return [saturate(mean - quant(out).level, out.type, fused_range(op)).reshape(out.shape)]


@define
class MaxPool2D(_Pool2D):
    op_types = ("MAX_POOL_2D",)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        x, out = array(inputs, 0), op.outputs[0]
        below = int(op.input(0).type.min) - 1  # below every tap: never the maximum of a real one
        top = self.windows(op, x.astype(np.int32), below).max(axis=(-2, -1))
        if top.min(initial=0) == below:
            raise ValueError(f"{op.label}: a window lies wholly outside the input")
        return [saturate(top, out.type, fused_range(op)).reshape(out.shape)]
