"""AVERAGE_POOL_2D and MAX_POOL_2D: TFLM's int8 reference pools.

Windows are clipped to the input: a border window averages (or maximizes
over) only the taps that exist. Input and output share their quantization,
so no rescaling happens; only the fused activation clamps.
"""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.kernels.portable.conv import window_padding
from tinyml.semantics.arith import saturate_int8, truncating_divide
from tinyml.semantics.base import Arrays, array, fused_range, semantics
from tinyml.semantics.conv import windows


def _pool_windows(op: Operator, x: np.ndarray, fill: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(n, out_h, out_w, c, kh, kw) windows of the input, out-of-image taps reading `fill`; and the padding."""
    kernel = (op.attrs["filter_height"], op.attrs["filter_width"])
    out_hw = op.outputs[0].shape[1:3]
    padding = window_padding(op, x.shape[1:3], kernel, out_hw)
    stride = (op.attrs["stride_h"], op.attrs["stride_w"])
    return windows(x, kernel, stride, (1, 1), padding, out_hw, fill), padding


def _taps(size: int, out_size: int, k: int, stride: int, pad: int) -> np.ndarray:
    """How many of each output position's k taps along one axis fall inside the input."""
    start = np.arange(out_size) * stride - pad
    return np.minimum(k, size - start) - np.maximum(0, -start)


@semantics("AVERAGE_POOL_2D")
def average_pool_2d(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """The window's sum divided by its in-image tap count, halves rounded away from zero (C division)."""
    x = array(inputs, 0)
    win, (ph, pw) = _pool_windows(op, x.astype(np.int64), 0)
    total = win.sum(axis=(-2, -1))
    _, h, w, _ = x.shape
    _, oh, ow, _ = op.outputs[0].shape
    rows = _taps(h, oh, op.attrs["filter_height"], op.attrs["stride_h"], ph)
    cols = _taps(w, ow, op.attrs["filter_width"], op.attrs["stride_w"], pw)
    if rows.min(initial=1) <= 0 or cols.min(initial=1) <= 0:
        raise ValueError(f"{op.label}: a window lies wholly outside the input")
    count = (rows[:, None] * cols[None, :])[None, :, :, None]
    half = count // 2
    mean = np.where(total > 0, truncating_divide(total + half, count), truncating_divide(total - half, count))
    return [saturate_int8(mean, *fused_range(op)).reshape(op.outputs[0].shape)]


@semantics("MAX_POOL_2D")
def max_pool_2d(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    x = array(inputs, 0)
    win, _ = _pool_windows(op, x.astype(np.int16), -129)  # below every int8: never the maximum of a real tap
    top = win.max(axis=(-2, -1))
    if top.min(initial=0) < -128:
        raise ValueError(f"{op.label}: a window lies wholly outside the input")
    return [saturate_int8(top, *fused_range(op)).reshape(op.outputs[0].shape)]
