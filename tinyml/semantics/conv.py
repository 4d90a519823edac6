"""CONV_2D and DEPTHWISE_CONV_2D: TFLM's int8 reference convolutions (per-channel or per-tensor weights).

Each output is bias + sum over the window of (input - input zero point) *
weight, accumulated in int32 (wrapping like C), taps outside the image
contributing nothing, then requantized per output channel. Padding the input
with its zero point makes out-of-image taps contribute exactly zero, so the
whole op is one im2col matrix product per group.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinyml.ir.graph import Operator
from tinyml.kernels.portable.conv import window_padding
from tinyml.ops.fixedpoint import conv_multipliers
from tinyml.semantics.arith import integer_matmul
from tinyml.semantics.base import Arrays, array, quant, requantize_output, semantics


def windows(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    padding: tuple[int, int],
    out_hw: tuple[int, int],
    fill: int,
) -> np.ndarray:
    """A (n, out_h, out_w, c, kh, kw) view of an NHWC array's windows; taps outside it read `fill`.

    `padding` is the leading (top, left) padding; whatever trailing padding the
    output size needs is added too.
    """
    if min(padding) < 0:
        raise ValueError(f"negative padding {padding}")
    (kh, kw), (sh, sw), (dh, dw), (ph, pw), (oh, ow) = kernel, stride, dilation, padding, out_hw
    _, h, w, _ = x.shape
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    bottom = max(0, (oh - 1) * sh + span_h - ph - h)
    right = max(0, (ow - 1) * sw + span_w - pw - w)
    padded = np.pad(x, ((0, 0), (ph, bottom), (pw, right), (0, 0)), constant_values=fill)
    view = sliding_window_view(padded, (span_h, span_w), axis=(1, 2))
    return view[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, :, ::dh, ::dw]


def _geometry(op: Operator, x: np.ndarray, kernel: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """Keyword arguments of `windows` from the op's attributes and tensor shapes."""
    out_hw = op.outputs[0].shape[1:3]
    return {
        "kernel": kernel,
        "stride": (op.attrs["stride_h"], op.attrs["stride_w"]),
        "dilation": (op.attrs.get("dilation_h_factor", 1), op.attrs.get("dilation_w_factor", 1)),
        "padding": window_padding(op, x.shape[1:3], kernel, out_hw),
        "out_hw": out_hw,
    }


def _bias(inputs: Arrays, channels: int) -> np.ndarray:
    bias = inputs[2] if len(inputs) > 2 else None
    return np.zeros(channels, np.int64) if bias is None else bias.astype(np.int64).reshape(channels)


@semantics("CONV_2D")
def conv_2d(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """Grouped when the input has a multiple of the filter's channels: group g reads input channels
    [g*kc, (g+1)*kc) and writes output channels [g*per_group, (g+1)*per_group)."""
    x, w = array(inputs, 0), array(inputs, 1)
    inp, out = op.input(0), op.outputs[0]
    n, _, _, in_c = x.shape
    out_c, kh, kw, kc = w.shape
    groups = in_c // kc
    if in_c % kc or out_c % groups:
        raise ValueError(f"{op.label}: input channels {in_c} and filter {w.shape} do not form groups")
    per_group = out_c // groups
    _, oh, ow, _ = out.shape
    # (x - zero point) as float64 (exact): padding with 0 then adds nothing, as TFLM skips those taps
    shifted = x.astype(np.float64) - quant(inp).zero_point
    win = windows(shifted, fill=0, **_geometry(op, x, (kh, kw)))
    acc = np.empty((n * oh * ow, out_c), np.int64)
    for g in range(groups):
        cols = win[..., g * kc : (g + 1) * kc, :, :].reshape(n * oh * ow, kc * kh * kw)
        filters = w[g * per_group : (g + 1) * per_group].transpose(0, 3, 1, 2).reshape(per_group, kc * kh * kw)
        acc[:, g * per_group : (g + 1) * per_group] = integer_matmul(cols, filters.T)
    mults, shifts = conv_multipliers(inp, op.input(1), out, out_c)
    return [requantize_output(acc + _bias(inputs, out_c), np.array(mults), np.array(shifts), op)]


@semantics("DEPTHWISE_CONV_2D")
def depthwise_conv_2d(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """Output channel c * multiplier + m convolves input channel c with filter channel c * multiplier + m."""
    x, w = array(inputs, 0), array(inputs, 1)
    inp, out = op.input(0), op.outputs[0]
    n, _, _, in_c = x.shape
    _, kh, kw, out_c = w.shape
    multiplier = out_c // in_c
    if in_c * multiplier != out_c:
        raise ValueError(f"{op.label}: {out_c} output channels from {in_c} input channels")
    _, oh, ow, _ = out.shape
    shifted = x.astype(np.int64) - quant(inp).zero_point
    win = windows(shifted, fill=0, **_geometry(op, x, (kh, kw)))
    filters = w.astype(np.int64).reshape(kh, kw, in_c, multiplier)
    acc = np.zeros((n, oh, ow, in_c, multiplier), np.int64)
    for ky in range(kh):
        for kx in range(kw):
            acc += win[..., ky, kx][..., None] * filters[ky, kx]
    mults, shifts = conv_multipliers(inp, op.input(1), out, out_c)
    acc = acc.reshape(n, oh, ow, out_c) + _bias(inputs, out_c)
    return [requantize_output(acc, np.array(mults), np.array(shifts), op)]
