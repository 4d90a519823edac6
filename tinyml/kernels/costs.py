"""Kernel cost model: the cycles each kernel spends on an op, per core, known before anything is built.

The planner picks a kernel per op among several (portable C, tinyml's fast DSP
kernels, CMSIS-NN), and the report and `bench` talk about latency; all of them
need "how long does this kernel take on this op, on this core". This module
answers from the op's shape alone:

- `estimate_cycles(op, kernel, core, in_place)`: one op on one kernel;
- `op_cycles(op, kernel, core, in_place)`: one op's share of an inference,
  the call overhead around it included;
- `plan_cycles(graph, kernels, in_place, core)`: a whole plan, with the call
  overhead around every layer that runs code;
- `core_name(board)`: the core a board's code runs on (`cpu.core`, or "host").

Each kernel, for each code path it can take, has a *cost key*: the kernel's
class, plus the variant where it runs different C (the portable in-place
convolutions, tinyml's fast KxK convolution in place, the function CMSIS-NN's
convolution and depthwise wrappers dispatch to, per-channel or per-tensor
fully connected, float or int8 QUANTIZE). Each key has a few *features*,
counts of what its C loops iterate over (`KEY_FEATURES`): MACs (or, for the
blocked 2x2 products, MACs rounded up to whole blocks), output elements,
pixels, im2col taps and padded taps, window rows and calls, planes copied in
place. Its cost is a non-negative linear combination of them, fitted per core
by `benchmarks/fit_costs.py` from per-layer counts measured on the emulated
cores and stored as data in `costs.json` beside this module.

**Instructions stand in for cycles.** The counts are QEMU's `-icount shift=0`
instruction counts on mps2-an386 (Cortex-M4), mps2-an500 (Cortex-M7) and
mps3-an547 (Cortex-M55). QEMU does not model how many cycles an instruction
takes (pipeline, multiplier, flash wait states, caches), so on hardware the
figures scale by the core's cycles per instruction; the relative costs of
kernels, which is what choosing between them needs, carry over.

Fallbacks: a core without coefficients borrows another's (`FALLBACK_CORES`:
the host takes the Cortex-M7's, as a relative measure only; any other core the
Cortex-M4's). A key missing on a core (a kernel the fit never saw run there) is
looked up on that fallback core, then derived from a fitted key when `DERIVED`
names one (the int4-weight kernels, until a refit measures them), then priced
as the portable kernel of its op type; an op type nothing was measured on gets
`DEFAULT_PER_MAC` and `DEFAULT_PER_ELEMENT`, a rough guess. SOFTMAX depends on
the data (exponentials are only computed near each row's maximum), so its
estimate is an average.

Nothing here builds or runs code: measuring is `benchmarks/fit_costs.py`'s job.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyml.ir.graph import Graph, Operator
from tinyml.ir.types import FLOAT32
from tinyml.kernels import REGISTRY, Kernel
from tinyml.kernels.base import packed_weights
from tinyml.kernels.fast import FastDepthwise3x3
from tinyml.kernels.portable import subbyte
from tinyml.kernels.portable.batch_matmul import batch_matmul_features
from tinyml.kernels.portable.elementwise import broadcast_dims
from tinyml.kernels.portable.layout import copy_features, gather_features
from tinyml.kernels.portable.resize import resize_features
from tinyml.kernels.portable.transpose_conv import transpose_conv_features
from tinyml.ops import definition, window_of
from tinyml.ops.lstm import lstm_shape
from tinyml.ops.svdf import svdf_shape

if TYPE_CHECKING:
    from tinyml.target.boards import Board

SCHEMA = "tinyml.costs/1"
#: the packaged coefficients
COEFFICIENTS = Path(__file__).resolve().with_name("costs.json")
#: whose coefficients a core borrows when it has none, or lacks a key (any other core: DEFAULT_CORE)
FALLBACK_CORES = {"cortex-m55": "cortex-m7", "host": "cortex-m7", "cortex-m7": "cortex-m4"}
DEFAULT_CORE = "cortex-m4"
#: the last resort for an op type nothing was measured on: instructions per MAC and per output element
DEFAULT_PER_MAC = 6.0
DEFAULT_PER_ELEMENT = 20.0


def core_name(board: Board) -> str:
    """The core a board's code runs on, as the coefficients name it: its `cpu.core`, or "host"."""
    if board.kind == "host":
        return "host"
    return str(board.raw.get("cpu", {}).get("core", "host"))


# --- shapes: what the kernels' loops iterate over ---


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _valid_taps(in_size: int, out_size: int, k: int, stride: int, pad: int, dilation: int) -> list[int]:
    """Per output position along one axis, how many of the window's k taps fall inside the input."""
    counts = []
    for o in range(out_size):
        start = o * stride - pad
        counts.append(sum(1 for t in range(k) if 0 <= start + t * dilation < in_size))
    return counts


@dataclass(frozen=True)
class Loops:
    """A windowed op (convolution, depthwise, pooling) as its loops see it: its window (`tinyml.ops.window`)
    laid over its shapes, with the taps that fall inside the input counted."""

    n: int
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    k_h: int
    k_w: int
    #: input channels each output channel reads per tap (conv: the filter's depth; depthwise and pools: 1)
    depth: int
    stride: tuple[int, int]
    pad: tuple[int, int]
    dilation: tuple[int, int]
    #: output pixels whose window lies wholly inside the input
    inside: int
    #: (output pixel, kernel row) pairs whose row lies inside the input
    valid_rows: int
    #: (output pixel, kernel row) pairs inside the input whose row is cut by the left or right border
    edge_rows: int
    #: (output pixel, tap) pairs inside the input
    valid_taps: int

    @property
    def pixels(self) -> int:
        return self.n * self.out_h * self.out_w

    @property
    def taps(self) -> int:
        return self.pixels * self.k_h * self.k_w

    @property
    def pad_taps(self) -> int:
        return self.taps - self.valid_taps


def loops(op: Operator) -> Loops:
    """The loops of a CONV_2D, DEPTHWISE_CONV_2D or pooling op, from its definition's window."""
    inp, out = op.input(0), op.outputs[0]
    n, in_h, in_w, in_c = inp.shape
    _, out_h, out_w, out_c = out.shape
    win = window_of(op)
    (k_h, k_w), (s_h, s_w), (dil_h, dil_w), (pad_h, pad_w) = win.kernel, win.stride, win.dilation, win.pad_hw
    depth = op.input(1).shape[3] if op.type == "CONV_2D" else 1
    ys = _valid_taps(in_h, out_h, k_h, s_h, pad_h, dil_h)
    xs = _valid_taps(in_w, out_w, k_w, s_w, pad_w, dil_w)
    full_x = sum(1 for v in xs if v == k_w)
    return Loops(
        n=n,
        in_h=in_h,
        in_w=in_w,
        in_c=in_c,
        out_h=out_h,
        out_w=out_w,
        out_c=out_c,
        k_h=k_h,
        k_w=k_w,
        depth=depth,
        stride=(s_h, s_w),
        pad=(pad_h, pad_w),
        dilation=(dil_h, dil_w),
        inside=n * sum(1 for v in ys if v == k_h) * full_x,
        valid_rows=n * sum(ys) * out_w,
        edge_rows=n * sum(ys) * (out_w - full_x),
        valid_taps=n * sum(ys) * sum(xs),
    )


# --- features per kernel family: name -> count ---

Features = dict[str, float]


def _conv_features(op: Operator, w: Loops) -> Features:
    """What every convolution kernel's loops count; each key uses some of them."""
    k = w.k_h * w.k_w * w.depth
    groups = _ceil_div(k, 4)
    pixels = w.pixels
    pairs = _ceil_div(w.out_c, 2)
    # the portable kernel takes a window row in one call unless dilated, grouped or cut by a border: then per tap
    split_rows = w.valid_rows if w.dilation[1] != 1 or w.depth != w.in_c else w.edge_rows
    return {
        "calls": 1,
        "macs": pixels * w.out_c * k,
        # the portable kernel: two channels per pass over the window (an odd last channel still takes a pass)
        "pair_macs": pixels * pairs * 2 * k,
        "outputs": pixels * w.out_c,
        "pixels": pixels,
        "rows": w.n * w.out_h,
        # tinyml's fast kernels and CMSIS-NN's DSP ones: 2 pixels x 2 channels x 4 inputs per inner step
        "blocks": _ceil_div(pixels, 2) * pairs * groups * 16,
        # the 2x2 products' odd last pixel, which runs alone
        "odd_macs": (pixels % 2) * w.out_c * k,
        # CMSIS-NN's 2x2 product: the depth beyond whole words, one MAC at a time
        "leftover": _ceil_div(pixels, 2) * pairs * (k % 4),
        # im2col a kernel row (tinyml's fast kernels) or a tap (CMSIS-NN) at a time
        "window_rows": pixels * w.k_h,
        "window_taps": pixels * w.k_h * w.k_w,
        # im2col: every tap of every pixel, gathered (or padded) once
        "im2col": pixels * k,
        "pad_taps": w.pad_taps * w.depth,
        # the portable kernel: one dot product call per channel pair and kernel row, per tap at the borders
        "row_calls": pairs * (w.pixels * w.k_h - split_rows),
        "edge_calls": pairs * split_rows * w.k_w,
        # in place, row by row: each input row is saved in a ring before it is overwritten
        "ring": w.n * w.in_h * w.in_w * w.in_c,
    }


def _fast_depthwise_features(op: Operator, w: Loops) -> Features:
    """tinyml's 3x3 depthwise: per channel, an int16 plane (walked transposed when the image is tall), then two
    outputs of a row per step."""
    rows, width, out_w = FastDepthwise3x3()._plane(op)
    out_rows = w.out_w if w.in_w < w.in_h else w.out_h
    channels = w.n * w.out_c
    return {
        "calls": 1,
        "channels": channels,
        "plane": channels * rows * width,
        "channel_rows": channels * out_rows,
        "steps": channels * out_rows * _ceil_div(out_w, 2),
        "outputs": w.pixels * w.out_c,
    }


def _depthwise_features(op: Operator, w: Loops) -> Features:
    rows = w.n * w.out_h
    channels = w.out_c
    plane = _padded_plane(w)
    return {
        "calls": 1,
        "macs": w.pixels * channels * w.k_h * w.k_w,
        "valid_macs": w.valid_taps * channels,
        # the portable kernels: a loop over kernel rows per output; windows cut by a border take a slower path
        "kernel_rows": w.pixels * channels * w.k_h,
        "border_macs": (w.pixels - w.inside) * channels * w.k_h * w.k_w,
        # CMSIS-NN's optimised kernel copies each window into int16 first, a tap (all channels) at a time
        "window_taps": w.pixels * w.k_h * w.k_w,
        "outputs": w.pixels * channels,
        "pixels": w.pixels,
        "rows": rows,
        "channel_rows": rows * channels,
        "channels": w.n * channels,
        # the in-place and fast kernels copy each channel into a padded plane first
        "plane": w.n * channels * plane,
        "inputs": w.n * w.in_h * w.in_w * w.in_c,
    }


def _padded_plane(w: Loops) -> int:
    """Elements of one channel's input plane, padded so every window fits."""
    need_h = (w.out_h - 1) * w.stride[0] + w.k_h
    need_w = (w.out_w - 1) * w.stride[1] + w.k_w
    return max(need_h, w.in_h + w.pad[0]) * max(need_w, w.in_w + w.pad[1])


def _fc_features(op: Operator) -> Features:
    units, depth = op.input(1).shape
    batches = op.input(0).num_elements // depth
    return {
        "calls": 1,
        "macs": batches * units * depth,
        # the fast kernel: rows in fours, depth in words
        "blocks": batches * _ceil_div(units, 4) * 4 * _ceil_div(depth, 4) * 4,
        "outputs": batches * units,
        "inputs": batches * depth,
        "batches": batches,
    }


def _pool_features(op: Operator) -> Features:
    w = loops(op)
    return {
        "calls": 1,
        "taps": w.valid_taps * w.out_c,
        "outputs": w.pixels * w.out_c,
        "pixels": w.pixels,
        "rows": w.n * w.out_h,
        "inputs": w.n * w.in_h * w.in_w * w.in_c,
    }


def _binary_features(op: Operator) -> Features:
    _, _, dims = broadcast_dims(op.input(0).shape, op.input(1).shape, op.outputs[0].shape)
    return {"calls": 1, "elements": op.outputs[0].num_elements, "runs": dims[0] * dims[1] * dims[2]}


def _unary_features(op: Operator) -> Features:
    return {"calls": 1, "elements": op.outputs[0].num_elements}


def _svdf_features(op: Operator) -> Features:
    """SVDF: a projection of the input per filter, then a pass over each filter's memory."""
    s = svdf_shape(op)
    return {
        "calls": 1,
        "macs": s.batches * s.filters * (s.input_size + s.memory),
        "outputs": s.batches * s.units,
        "state": s.batches * s.filters * s.memory,
    }


def _lstm_features(op: Operator) -> Features:
    """LSTM: per batch row and step, eight fully connected layers into the gates and the elementwise cell update."""
    s = lstm_shape(op)
    rows = s.batches * s.steps
    return {
        "calls": 1,
        "macs": rows * 4 * s.units * (s.input_size + s.units),
        "outputs": rows * s.units,
        "steps": rows,
    }


def _softmax_features(op: Operator) -> Features:
    inp = op.input(0)
    return {"calls": 1, "elements": inp.num_elements, "rows": inp.num_elements // inp.shape[-1]}


def _mean_features(op: Operator) -> Features:
    return {"calls": 1, "inputs": op.input(0).num_elements, "outputs": op.outputs[0].num_elements}


def _pad_features(op: Operator) -> Features:
    inp, out = op.input(0), op.outputs[0]
    shape = (1,) * (4 - len(out.shape)) + tuple(out.shape)
    in_shape = (1,) * (4 - len(inp.shape)) + tuple(inp.shape)
    channel_pad = in_shape[3] != shape[3]
    return {
        "calls": 1,
        "outputs": out.num_elements,
        "inputs": inp.num_elements,
        "rows": shape[0] * shape[1],
        # padding channels: three runs per input pixel instead of one per row
        "pixel_runs": in_shape[0] * in_shape[1] * in_shape[2] if channel_pad else 0,
    }


def _concat_features(op: Operator) -> Features:
    parts = [t for t in op.inputs if t is not None]
    out = op.outputs[0]
    rank = len(out.shape)
    axis = op.attrs.axis % rank
    outer = math.prod(out.shape[:axis])
    return {"calls": len(parts), "elements": out.num_elements, "runs": outer * len(parts)}


def _copy_features(op: Operator) -> Features:
    rows, cols = op.attrs.size
    channels = op.outputs[0].shape[3]
    return {"calls": 1, "bytes": rows * cols * channels, "rows": rows}


# --- cost keys: a kernel class, and the variant of its C it runs ---


def _cmsis_conv_variant(op: Operator, kernel: Kernel) -> str:
    """The function arm_convolve_wrapper_s8 dispatches to."""
    from tinyml.kernels.cmsis_nn import is_conv_1_x_n, is_conv_1x1

    g = kernel.geometry(op)  # type: ignore[attr-defined]
    if is_conv_1x1(g):
        return "1x1_fast" if g.stride == (1, 1) else "1x1"
    if is_conv_1_x_n(g):
        return "1xn"
    return "generic"


def _cmsis_depthwise_variant(op: Operator, kernel: Kernel) -> str:
    """The function arm_depthwise_conv_wrapper_s8 dispatches to (MVE has no 3x3 kernel, and a conv path)."""
    from tinyml.kernels.cmsis_nn import DW_TO_CONV_THRESHOLD

    g = kernel.geometry(op)  # type: ignore[attr-defined]
    mve = kernel.core == "mve"  # type: ignore[attr-defined]
    if mve and g.input[3] == 1 and g.output[3] > DW_TO_CONV_THRESHOLD:
        return "to_conv"
    if g.ch_mult == 1 and g.input[0] == 1 and g.dilation == (1, 1):
        if not mve and g.filter[1] == 3 and g.filter[2] == 3 and g.padding[0] <= 1 and g.padding[1] <= 1:
            return "3x3"
        return "opt"
    return "generic"


def _cmsis_conv_s4_variant(op: Operator, kernel: Kernel) -> str:
    """The function arm_convolve_wrapper_s4 dispatches to (MVE has an even-depth kernel)."""
    from tinyml.kernels.cmsis_nn import is_conv_1_x_n, is_conv_1x1_s4

    g = kernel.geometry(op)  # type: ignore[attr-defined]
    if is_conv_1x1_s4(g):
        return "1x1_fast" if g.stride == (1, 1) else "1x1"
    if is_conv_1_x_n(g):
        return "1xn"
    if kernel.core == "mve" and (g.filter[1] * g.filter[2] * g.input[3]) % 2 == 0:  # type: ignore[attr-defined]
        return "even"
    return "generic"


def _cmsis_depthwise_s4_variant(op: Operator, kernel: Kernel) -> str:
    """The function arm_depthwise_conv_wrapper_s4 dispatches to."""
    g = kernel.geometry(op)  # type: ignore[attr-defined]
    return "opt" if g.ch_mult == 1 and g.input[0] == 1 and g.dilation == (1, 1) else "generic"


def _portable_conv_variant(op: Operator, kernel: Kernel, in_place: bool) -> str:
    """The in-place portable convolutions are separate C functions: one pixel at a time (1x1), or row by row;
    so is the one for int4 weights, and the sub-byte one."""
    if subbyte.applies(op):
        return "sb"
    if packed_weights(op):
        return "s4"
    if not in_place:
        return ""
    return "inplace_1x1" if op.input(1).shape[1:3] == (1, 1) else "inplace_rows"


def _portable_depthwise_variant(op: Operator, kernel: Kernel, in_place: bool) -> str:
    """The portable depthwise convolution: in place (through a padded plane) or not, for int4 weights, and the
    sub-byte one, in place or not."""
    if subbyte.applies(op):
        return "sb_inplace" if in_place else "sb"
    if packed_weights(op):
        return "s4"
    return "inplace" if in_place else ""


def _portable_fc_variant(op: Operator, kernel: Kernel, in_place: bool) -> str:
    if subbyte.applies(op):
        return "sb"
    if packed_weights(op):
        return "s4"
    return "per_channel" if op.input(1).quant.per_channel else ""


def _quantize_variant(op: Operator, kernel: Kernel, in_place: bool) -> str:
    """QUANTIZE's two loops: a float32 division per element (tm_quantize_f32_*), or a fixed-point rescale of
    every element of an integer input (tm_requantize_*: from int8, uint8 or int16)."""
    return "" if op.input(0).type == FLOAT32 else "requantize"


@dataclass(frozen=True)
class _Family:
    """How one kernel class is priced: its features, and the variant its C takes for an op."""

    features: Callable[[Operator], Features]
    variant: Callable[[Operator, Kernel, bool], str] = lambda op, kernel, in_place: ""


def _conv(op: Operator) -> Features:
    return _conv_features(op, loops(op))


def _depthwise(op: Operator) -> Features:
    return _depthwise_features(op, loops(op))


def _fast_depthwise(op: Operator) -> Features:
    return _fast_depthwise_features(op, loops(op))


_FAMILIES: dict[str, _Family] = {
    "Conv2D": _Family(_conv, _portable_conv_variant),
    "DepthwiseConv2D": _Family(_depthwise, _portable_depthwise_variant),
    "FullyConnected": _Family(_fc_features, _portable_fc_variant),
    "AveragePool2D": _Family(_pool_features),
    "MaxPool2D": _Family(_pool_features),
    "Add": _Family(_binary_features),
    "Mul": _Family(_binary_features),
    "Maximum": _Family(_binary_features),
    "Minimum": _Family(_binary_features),
    "Sub": _Family(_binary_features),
    "SquaredDifference": _Family(_binary_features),
    "Prelu": _Family(_binary_features),
    "LeakyRelu": _Family(_unary_features),
    "HardSwish": _Family(_unary_features),
    "Mean": _Family(_mean_features),
    "Relu": _Family(_unary_features),
    "Relu6": _Family(_unary_features),
    "Logistic": _Family(_unary_features),
    "Softmax": _Family(_softmax_features),
    "Lookup": _Family(_unary_features),
    "LogSoftmax": _Family(_softmax_features),
    "L2Normalization": _Family(_unary_features),
    "ArgMinMax": _Family(lambda op: {"calls": 1, "elements": op.input(0).num_elements}),
    "Quantize": _Family(_unary_features, _quantize_variant),
    "Dequantize": _Family(_unary_features),
    "Pad": _Family(_pad_features),
    "Concatenation": _Family(_concat_features),
    "CopyRegion": _Family(_copy_features),
    "StridedCopy": _Family(copy_features),
    "Gather": _Family(gather_features),
    "ResizeNearest": _Family(resize_features),
    "ResizeBilinear": _Family(resize_features),
    "FastConv": _Family(_conv, lambda op, kernel, in_place: "inplace" if in_place else ""),
    "FastConv1x1": _Family(_conv),
    "FastConvPacked": _Family(_conv),
    "FastDepthwise3x3": _Family(_fast_depthwise),
    "FastConvS4": _Family(_conv, lambda op, kernel, in_place: "inplace" if in_place else ""),
    "FastConv1x1S4": _Family(_conv),
    "FastDepthwise3x3S4": _Family(_fast_depthwise),
    "FastFullyConnected": _Family(_fc_features),
    "CmsisConv2D": _Family(_conv, lambda op, kernel, in_place: _cmsis_conv_variant(op, kernel)),
    "CmsisDepthwiseConv2D": _Family(_depthwise, lambda op, kernel, in_place: _cmsis_depthwise_variant(op, kernel)),
    "CmsisFullyConnected": _Family(
        _fc_features, lambda op, kernel, in_place: "per_channel" if op.input(1).quant.per_channel else ""
    ),
    "CmsisConv2DS4": _Family(_conv, lambda op, kernel, in_place: _cmsis_conv_s4_variant(op, kernel)),
    "CmsisDepthwiseConv2DS4": _Family(_depthwise, lambda op, kernel, in_place: _cmsis_depthwise_s4_variant(op, kernel)),
    "CmsisFullyConnectedS4": _Family(_fc_features),
    "CmsisAveragePool2D": _Family(_pool_features),
    "CmsisMaxPool2D": _Family(_pool_features),
    "CmsisAdd": _Family(_binary_features),
    "CmsisMul": _Family(_binary_features),
    "CmsisMaximum": _Family(_binary_features),
    "CmsisMinimum": _Family(_binary_features),
    "CmsisSoftmax": _Family(_softmax_features),
    "CmsisConv2DS16": _Family(_conv),
    "CmsisDepthwiseConv2DS16": _Family(_depthwise),
    "CmsisFullyConnectedS16": _Family(_fc_features),
    "CmsisAveragePool2DS16": _Family(_pool_features),
    "CmsisMaxPool2DS16": _Family(_pool_features),
    "CmsisAddS16": _Family(_binary_features),
    "CmsisMulS16": _Family(_binary_features),
    "CmsisSoftmaxS16": _Family(_softmax_features),
    "TransposeConv": _Family(transpose_conv_features),
    "BatchMatMul": _Family(batch_matmul_features),
    "CmsisBatchMatMul": _Family(batch_matmul_features),
    "Svdf": _Family(_svdf_features),
    "CmsisSvdf": _Family(_svdf_features),
    "UnidirectionalSequenceLstm": _Family(_lstm_features),
}

#: the features each key's cost is a combination of (a key not listed uses every feature of its family)
KEY_FEATURES: dict[str, tuple[str, ...]] = {
    "Conv2D": ("calls", "pair_macs", "outputs", "pixels", "row_calls", "edge_calls", "pad_taps"),
    "Conv2D.inplace_1x1": ("calls", "pair_macs", "outputs", "pixels"),
    "Conv2D.inplace_rows": ("calls", "pair_macs", "outputs", "pixels", "row_calls", "edge_calls", "pad_taps", "ring"),
    "FastConv": ("calls", "blocks", "outputs", "im2col", "pad_taps", "pixels", "rows", "window_rows"),
    "FastConv.inplace": ("calls", "blocks", "outputs", "im2col", "pad_taps", "pixels", "rows", "window_rows", "ring"),
    "FastConv1x1": ("calls", "blocks", "odd_macs", "outputs", "im2col", "pixels"),
    "CmsisConv2D.generic": (
        "calls",
        "blocks",
        "odd_macs",
        "leftover",
        "outputs",
        "im2col",
        "pad_taps",
        "pixels",
        "window_taps",
    ),
    "CmsisConv2D.1x1_fast": ("calls", "blocks", "odd_macs", "outputs", "im2col", "pixels"),
    "CmsisConv2D.1x1": ("calls", "blocks", "odd_macs", "outputs", "im2col", "pixels"),
    "CmsisConv2D.1xn": ("calls", "blocks", "odd_macs", "outputs", "im2col", "pad_taps", "pixels"),
    "DepthwiseConv2D": ("calls", "macs", "kernel_rows", "border_macs", "outputs", "pixels"),
    "DepthwiseConv2D.inplace": (
        "calls",
        "macs",
        "kernel_rows",
        "outputs",
        "plane",
        "inputs",
        "channel_rows",
        "channels",
    ),
    "CmsisDepthwiseConv2D.3x3": ("calls", "valid_macs", "outputs", "pixels", "rows"),
    "CmsisDepthwiseConv2D.opt": ("calls", "macs", "valid_macs", "outputs", "pixels", "window_taps"),
    "CmsisDepthwiseConv2D.generic": ("calls", "macs", "valid_macs", "outputs", "pixels"),
    "FullyConnected": ("calls", "macs", "outputs", "inputs"),
    "FullyConnected.per_channel": ("calls", "macs", "outputs", "inputs"),
    "FastFullyConnected": ("calls", "blocks", "outputs", "inputs", "batches"),
    "CmsisFullyConnected": ("calls", "macs", "outputs", "inputs", "batches"),
    "CmsisFullyConnected.per_channel": ("calls", "macs", "outputs", "inputs", "batches"),
}


#: Keys no fit has measured yet, priced as a fitted key of the same family times a factor per core ("*": any
#: other core): the int4-weight (s4) kernels, from their int8 twins. Each factor is the instructions the s4
#: kernel took under QEMU -icount, divided by the base key's estimate, over the layers of one int4 model
#: (tests/int4_models.py: a 3x3 conv 16 -> 32 and a 1x1 conv 32 -> 32 on 16x16, 3x3 depthwise on 32
#: channels with multiplier 1 and 2, a strided 3x3 conv 7 -> 9, fully connected 512 -> 64 -> 33) on
#: mps2-an386, mps2-an500 and mps3-an547. The portable s4 kernels run the s8 loops and decode nibbles as they
#: go (about 1.2-1.4x the s8 time; their fully connected kernel is a little faster, as it pairs units);
#: CMSIS-NN's s4 kernels unpack nibbles before multiplying (1.4-2.5x its s8 kernels on DSP cores; its
#: generic depthwise kernel, faster in s4, is the exception).
#: Variants the model did not reach borrow the factor of the nearest one. A refit of benchmarks/fit_costs.py
#: on int4 models replaces these by measured coefficients (a fitted key always wins).
DERIVED: dict[str, tuple[str, dict[str, float]]] = {
    "Conv2D.s4": ("Conv2D", {"cortex-m4": 1.34, "cortex-m7": 1.27, "cortex-m55": 1.39, "*": 1.34}),
    "DepthwiseConv2D.s4": ("DepthwiseConv2D", {"cortex-m4": 1.25, "cortex-m7": 1.13, "cortex-m55": 1.19, "*": 1.25}),
    "FullyConnected.s4": ("FullyConnected", {"cortex-m55": 1.01, "*": 0.86}),
    "CmsisConv2DS4.generic": ("CmsisConv2D.generic", {"cortex-m55": 1.31, "*": 1.81}),
    "CmsisConv2DS4.even": ("CmsisConv2D.generic", {"*": 1.46}),  # MVE only
    "CmsisConv2DS4.1x1_fast": ("CmsisConv2D.1x1_fast", {"cortex-m55": 1.59, "*": 1.64}),
    "CmsisConv2DS4.1x1": ("CmsisConv2D.1x1", {"cortex-m55": 1.59, "*": 1.64}),
    "CmsisConv2DS4.1xn": ("CmsisConv2D.1xn", {"cortex-m55": 1.31, "*": 1.81}),
    "CmsisDepthwiseConv2DS4.opt": ("CmsisDepthwiseConv2D.opt", {"*": 1.25}),  # refused on MVE
    "CmsisDepthwiseConv2DS4.generic": ("CmsisDepthwiseConv2D.generic", {"cortex-m55": 0.75, "*": 0.79}),
    "CmsisFullyConnectedS4": ("CmsisFullyConnected", {"cortex-m55": 0.87, "*": 2.47}),
    # The sub-byte kernels (packed activations, 2-bit weights: tinyml.kernels.portable.subbyte), from their int8
    # twins, measured the same way on mps2-an500 only (16x16x16 layers, tinyml/tests/subbyte_models.py): the
    # portable conv 1.02x with packed inputs, 1.21x with int8 inputs, 1.36x with 2-bit weights; the depthwise conv
    # 1.35x, 1.77x with 2-bit weights; the fully connected one 1.3x; tinyml's fast conv with packed activations
    # 1.39-1.76x tm_fast_conv_s8's estimate (3x3 and 1x1).
    "Conv2D.sb": ("Conv2D", {"*": 1.2}),
    "DepthwiseConv2D.sb": ("DepthwiseConv2D", {"*": 1.5}),
    "DepthwiseConv2D.sb_inplace": ("DepthwiseConv2D", {"*": 2.0}),  # through a plane, 1.3x the above
    "FullyConnected.sb": ("FullyConnected", {"*": 1.3}),
    "FastConvPacked": ("FastConv", {"*": 1.5}),
    # tinyml's fast int4-weight kernels (tinyml.kernels.fast, the *S4 classes), from their int8 twins: the instructions
    # each int4 layer took under QEMU -icount on mps2-an500 (`tinyml bench --json`, --patches off, --prefer speed and
    # memory), over those of the same layer of the int8 twin (the same float weights, int4_models with bits=8) on
    # the int8 fast kernel: a ResNet-8-shaped model (3x3 convolutions 3 -> 16 -> 16 on 32x32, 16 -> 32 -> 32 and
    # 32 -> 64 -> 64 at strides 2 and 1, in place at the last, 1x1 strided shortcuts) and MobileNetV2-shaped blocks
    # (1x1 16 -> 48 -> 16 and 24/48 -> 32 on 24x24 and 12x12, 3x3 depthwise at strides 1 and 2). KxK 1.09-1.12 (in
    # place 1.10): two ANDs per group of 4 reduction elements on the int8 loop's 15.5 instructions; 1x1 1.11-1.12;
    # depthwise 1.00-1.01 (a channel's 9 weights are unpacked as it starts). mps2-an386 (Cortex-M4) gave the same
    # ratios within 0.01, so one factor serves every core.
    "FastConvS4": ("FastConv", {"*": 1.12}),
    "FastConvS4.inplace": ("FastConv.inplace", {"*": 1.10}),
    "FastConv1x1S4": ("FastConv1x1", {"*": 1.12}),
    "FastDepthwise3x3S4": ("FastDepthwise3x3", {"*": 1.01}),
    # Issue 12's elementwise kernels, from MUL's per-element coefficients: one model with each op on 16x16x16
    # operands (no broadcast), portable kernels and CMSIS-NN's MAXIMUM/MINIMUM (plain C loops on DSP cores, as many
    # instructions as the portable ones), measured on mps2-an500 and mps2-an386. The unary ones take MUL's
    # per-element coefficient over their own features. A refit replaces these.
    "Maximum": ("Mul", {"cortex-m7": 0.17, "*": 0.18}),
    "Minimum": ("Mul", {"cortex-m7": 0.17, "*": 0.18}),
    "CmsisMaximum": ("Mul", {"cortex-m7": 0.17, "*": 0.18}),
    "CmsisMinimum": ("Mul", {"cortex-m7": 0.17, "*": 0.18}),
    "Sub": ("Mul", {"cortex-m7": 2.47, "*": 2.56}),
    "SquaredDifference": ("Mul", {"cortex-m7": 2.37, "*": 2.47}),
    "Prelu": ("Mul", {"cortex-m7": 1.09, "*": 1.2}),
    "LeakyRelu": ("Mul", {"cortex-m7": 0.92, "*": 0.99}),
    "HardSwish": ("Mul", {"cortex-m7": 1.57, "*": 1.6}),
    # Issue 12's math kernels, from the per-layer instruction counts of one model (tests/kernels/test_math_ops.py:
    # 6x5x12 int8, rows of 12) under `tinyml bench --board mps2-an500 --kernels portable`, over the estimate of a
    # fitted key with the same features: the table lookup (TANH, RSQRT) and ARG_MAX/ARG_MIN 1.1x and 1.45x
    # DEQUANTIZE's per-element loop, L2_NORMALIZATION (a fixed-point inverse square root per row) 8x it, and
    # LOG_SOFTMAX 0.82x SOFTMAX (two exp passes and a log per row, against softmax's exp, reciprocal and multiply).
    "Lookup": ("Dequantize", {"*": 1.1}),
    "ArgMinMax": ("Dequantize", {"*": 1.45}),
    "L2Normalization": ("Dequantize", {"*": 8.0}),
    "LogSoftmax": ("Softmax", {"*": 0.82}),
}


def cost_key(op: Operator, kernel: Kernel, in_place: bool = False) -> str:
    """Which coefficients price `kernel` on `op`: its class, and the variant of its C it runs there."""
    name = type(kernel).__name__
    family = _FAMILIES.get(name)
    if family is None:
        return name
    variant = family.variant(op, kernel, in_place)
    return f"{name}.{variant}" if variant else name


def features(op: Operator, kernel: Kernel, in_place: bool = False, key: str | None = None) -> Features:
    """The loop counts `kernel`'s cost on `op` is a combination of (only the key's own, see KEY_FEATURES; or
    those of `key`, a key of the same family)."""
    family = _FAMILIES.get(type(kernel).__name__)
    if family is None or kernel.alias_input(op) is not None:
        return {}
    every = family.features(op)
    wanted = KEY_FEATURES.get(key or cost_key(op, kernel, in_place))
    return every if wanted is None else {f: every[f] for f in wanted}


def runs_code(op: Operator, kernel: Kernel) -> bool:
    """Whether the op runs any code at all (views such as RESHAPE do not, and cost nothing)."""
    return kernel.alias_input(op) is None


# --- the coefficients ---


@dataclass(frozen=True)
class CoreCosts:
    """One core's coefficients: per cost key, instructions per unit of each feature; and the per-layer cost of
    the profiling hooks and call sequence around every layer that runs code."""

    kernels: dict[str, dict[str, float]]
    layer_overhead: float


class CostModel:
    """Fitted coefficients for some cores, and the estimates made from them."""

    def __init__(self, cores: dict[str, CoreCosts], meta: dict[str, Any] | None = None) -> None:
        self.cores = cores
        self.meta = meta or {}

    @classmethod
    def load(cls, path: Path = COEFFICIENTS) -> CostModel:
        data = json.loads(path.read_text())
        if data.get("schema") != SCHEMA:
            raise ValueError(f"{path} is not a {SCHEMA} coefficient file")
        cores = {
            name: CoreCosts({key: dict(coefs) for key, coefs in core["kernels"].items()}, float(core["layer_overhead"]))
            for name, core in data["cores"].items()
        }
        return cls(cores, {k: v for k, v in data.items() if k not in ("schema", "cores")})

    def to_json(self) -> str:
        cores = {
            name: {
                "layer_overhead": round(c.layer_overhead, 3),
                "kernels": {
                    key: {f: float(f"{v:.6g}") for f, v in coefs.items()} for key, coefs in sorted(c.kernels.items())
                },
            }
            for name, c in sorted(self.cores.items())
        }
        return json.dumps({"schema": SCHEMA, **self.meta, "cores": cores}, indent=1) + "\n"

    def core(self, core: str) -> CoreCosts:
        """`core`'s coefficients, or those of the core it falls back to (see FALLBACK_CORES)."""
        if core in self.cores:
            return self.cores[core]
        fallback = FALLBACK_CORES.get(core, DEFAULT_CORE)
        if fallback in self.cores:
            return self.cores[fallback]
        if not self.cores:
            raise ValueError("the cost model has no coefficients")
        return next(iter(self.cores.values()))

    def estimate(self, op: Operator, kernel: Kernel, core: str, in_place: bool = False) -> float:
        """Instructions `kernel` spends on `op` on `core` (unrounded; 0 for views)."""
        if not runs_code(op, kernel):
            return 0.0
        key = cost_key(op, kernel, in_place)
        for costs in (self.core(core), self.core(FALLBACK_CORES.get(core, DEFAULT_CORE))):
            if key in costs.kernels:
                return _combine(costs.kernels[key], features(op, kernel, in_place))
        if key in DERIVED:
            base, factors = DERIVED[key]
            for name in (core, FALLBACK_CORES.get(core, DEFAULT_CORE)):
                costs = self.core(name)
                if base in costs.kernels:
                    factor = factors.get(name, factors.get(FALLBACK_CORES.get(name, ""), factors["*"]))
                    return factor * _combine(costs.kernels[base], features(op, kernel, in_place, base))
        portable = REGISTRY.get(op.type)
        if portable is not None and portable is not kernel:
            return self.estimate(op, portable, core, False)
        return DEFAULT_PER_MAC * definition(op).macs(op) + DEFAULT_PER_ELEMENT * op.outputs[0].num_elements

    def layer_cycles(self, graph: Graph, kernels: Sequence[Kernel], in_place: Collection[int], core: str) -> list[int]:
        """Each op's estimate, by position (`in_place`: the positions of ops that run in place)."""
        return [
            round(self.estimate(op, k, core, i in in_place))
            for i, (op, k) in enumerate(zip(graph.ops, kernels, strict=True))
        ]

    def op_cycles(self, op: Operator, kernel: Kernel, core: str, in_place: bool = False) -> int:
        """One op's share of an inference: its estimate plus the call and profiling overhead around it (0 for views,
        which run no code)."""
        if not runs_code(op, kernel):
            return 0
        return round(self.estimate(op, kernel, core, in_place) + self.core(core).layer_overhead)

    def plan_cycles(self, graph: Graph, kernels: Sequence[Kernel], in_place: Collection[int], core: str) -> int:
        """The whole inference: every layer, plus the call and profiling overhead around each that runs code."""
        ops = enumerate(zip(graph.ops, kernels, strict=True))
        return sum(self.op_cycles(op, k, core, i in in_place) for i, (op, k) in ops)


def _combine(coefs: dict[str, float], values: Features) -> float:
    return sum(c * values.get(f, 0.0) for f, c in coefs.items())


@cache
def default_model() -> CostModel:
    """The packaged coefficients, read once."""
    return CostModel.load()


def estimate_cycles(op: Operator, kernel: Kernel, core: str, in_place: bool = False) -> int:
    """Cycles (QEMU instructions, see the module docstring) `kernel` takes on `op` on `core`; 0 for views."""
    return round(default_model().estimate(op, kernel, core, in_place))


def op_cycles(op: Operator, kernel: Kernel, core: str, in_place: bool = False) -> int:
    """`op`'s share of one inference on `core`: `kernel`'s cycles plus the call overhead around it (0 for views)."""
    return default_model().op_cycles(op, kernel, core, in_place)


def plan_cycles(graph: Graph, kernels: Sequence[Kernel], in_place: Collection[int], core: str) -> int:
    """Cycles of one inference of `graph` with these kernels (by op position) and in-place ops, on `core`.

    For a plan: `plan_cycles(planned.graph, planned.plan.kernels, planned.plan.in_place, core_name(board))`.
    """
    return default_model().plan_cycles(graph, kernels, in_place, core)
