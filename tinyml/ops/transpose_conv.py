"""TRANSPOSE_CONV: an int8 transposed convolution with per-channel (or per-tensor) symmetric weights.

TFLite's inputs are, in order, the output shape (int32[4]), the filter
(output channels, kh, kw, input channels), the input and an optional int32
bias. TFLite Micro scatters every input pixel through the filter into an int32
accumulator of the output's size: input pixel (y, x) adds
(input - input zero point) * filter[oc, ky, kx, :] at output pixel
(y * stride - pad + ky, x * stride - pad + kx) when that lies in the output.
Then each output gets its channel's bias and is requantized per channel and
clamped to the fused activation. Padding is worked out as for the forward
convolution that maps the output back onto the input (only top and left are
used; the scatter drops whatever falls outside).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT8
from tinyml.ops.arith import integer_matmul, requantize_output
from tinyml.ops.base import (
    Arrays,
    OpDef,
    Role,
    Unsupported,
    array,
    const_ints,
    define,
    quant,
    require_activation,
    require_arity,
    require_per_tensor,
    require_quantized,
)
from tinyml.ops.conv import require_channels, require_filter
from tinyml.ops.fixedpoint import quantize_multiplier
from tinyml.ops.requant import fused_range
from tinyml.ops.window import HW, SAME, VALID, out_size

#: TFLite's input positions
OUTPUT_SHAPE, FILTER, INPUT, BIAS = 0, 1, 2, 3


@dataclass(frozen=True)
class TransposeConvAttrs:
    """TFLite's TransposeConvOptions: stride, SAME or VALID padding, and (since TFLite 2.16) a fused activation."""

    #: (height, width)
    stride: HW = (1, 1)
    padding: str = SAME
    activation: str = "NONE"

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> TransposeConvAttrs:
        return cls(
            stride=(int(options.get("stride_h", 1)), int(options.get("stride_w", 1))),
            padding=str(options.get("padding", SAME)),
            activation=str(options.get("activation", "NONE")),
        )


@dataclass(frozen=True, eq=False)
class TransposeConvRequant:
    """What every TRANSPOSE_CONV kernel needs besides the tensors: offsets, per-channel rescaling, clamp, bias.

    The bias cannot be folded with input_offset * sum(filter) as a convolution's is: how many taps reach an
    output pixel depends on where it lies, so the kernels add the input offset to every input value."""

    input_offset: int
    output_offset: int
    #: int32 per output channel: in_scale * weights_scale / out_scale (TFLM's PopulateConvolutionQuantizationParams)
    multipliers: np.ndarray
    shifts: np.ndarray
    act: tuple[int, int]
    #: int32 per output channel, None without a bias input
    bias: np.ndarray | None


def transpose_conv_requant(op: Operator) -> TransposeConvRequant:
    """TFLM's TRANSPOSE_CONV Prepare, at compile time: a convolution's per-channel multipliers (one repeated for
    per-tensor weights), its fused clamp, and the bias as stored."""
    inp, w, out = op.input(INPUT), op.input(FILTER), op.outputs[0]
    wq, channels = quant(w), w.shape[0]
    in_scale, out_scale = quant(inp).scale, quant(out).scale
    pairs = [quantize_multiplier(in_scale * s / out_scale) for s in (wq.scales if wq.per_channel else wq.scales[:1])]
    if not wq.per_channel:
        pairs *= channels
    bias = op.opt_input(BIAS)
    return TransposeConvRequant(
        input_offset=-quant(inp).zero_point,
        output_offset=quant(out).zero_point,
        multipliers=np.array([m for m, _ in pairs], dtype=np.int32),
        shifts=np.array([s for _, s in pairs], dtype=np.int32),
        act=fused_range(op),
        bias=None if bias is None or bias.data is None else bias.data.astype(np.int32).reshape(-1),
    )


def transpose_padding(op: Operator) -> HW:
    """(top, left): TFLM's ComputePaddingHeightWidth with the output as the image the filter slides over."""
    out, (_, kh, kw, _) = op.outputs[0], op.input(FILTER).shape
    pads = []
    for size, k, stride in ((out.shape[1], kh, op.attrs.stride[0]), (out.shape[2], kw, op.attrs.stride[1])):
        steps = out_size(op.attrs.padding, size, k, stride)
        pads.append(max(0, (steps - 1) * stride + k - size) // 2)
    return pads[0], pads[1]


@define
class TransposeConv(OpDef):
    """Every input pixel spreads through the filter over a stride-spaced patch of the output."""

    op_types = ("TRANSPOSE_CONV",)
    attrs_type = TransposeConvAttrs
    input_roles = (Role.PARAM, Role.WEIGHTS, Role.FEATURE, Role.BIAS)
    #: TFLite Micro takes int8 filters only (the type check holds constant operands to it)
    weight_types = (INT8,)
    weights_channel_axis = 0

    def validate(self, op: Operator) -> None:
        require_arity(op, 3, 4)
        inp, w, out = op.input(INPUT), op.input(FILTER), op.outputs[0]
        require_quantized(inp, out, w)  # TFLM refuses filters of another type than the input (int4 among them)
        require_per_tensor(inp, out)
        require_filter(inp, w, out)
        if w.shape[3] != inp.shape[3]:
            raise Unsupported(f"filter {w.shape} for an input of {inp.shape[3]} channels")
        require_channels(w, op.opt_input(BIAS), w.shape[0])
        a = op.attrs
        require_activation(a.activation)
        if a.padding not in (SAME, VALID):
            raise Unsupported(f"padding {a.padding}")
        if min(a.stride) < 1:
            raise Unsupported(f"stride {a.stride[0]}x{a.stride[1]}")
        self.check_shapes(op)

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        """The output shape input, which must agree with the input's batch and the filter's channels."""
        shape = tuple(int(d) for d in const_ints(op.input(OUTPUT_SHAPE), "output shape").reshape(-1))
        n, channels = op.input(INPUT).shape[0], op.input(FILTER).shape[0]
        if len(shape) != 4 or shape[0] != n or shape[3] != channels or min(shape) < 1:
            raise Unsupported(f"output shape {list(shape)} for a batch of {n} and {channels} filters")
        return [shape]

    def macs(self, op: Operator) -> int:
        """Every input value times every filter tap it meets, as the scatter computes (taps falling outside the
        output included: they are few)."""
        oc, kh, kw, _ = op.input(FILTER).shape
        return op.input(INPUT).num_elements * kh * kw * oc

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """The scatter, one filter tap at a time: tap (ky, kx) of every input pixel lands on a stride-spaced grid
        of a canvas that starts `pad` before the output; the canvas is then cropped to the output."""
        x, w = array(inputs, INPUT), array(inputs, FILTER)
        n, ih, iw, ic = x.shape
        oc, kh, kw, _ = w.shape
        _, oh, ow, _ = op.outputs[0].shape
        (sh, sw), (top, left) = op.attrs.stride, transpose_padding(op)
        rows = (x.astype(np.int64) - quant(op.input(INPUT)).zero_point).reshape(-1, ic)
        canvas_h = max((ih - 1) * sh + kh, top + oh)
        canvas_w = max((iw - 1) * sw + kw, left + ow)
        canvas = np.zeros((n, canvas_h, canvas_w, oc), np.int64)
        for ky in range(kh):
            for kx in range(kw):
                tap = integer_matmul(rows, w[:, ky, kx, :].astype(np.int64).T).reshape(n, ih, iw, oc)
                canvas[:, ky : ky + (ih - 1) * sh + 1 : sh, kx : kx + (iw - 1) * sw + 1 : sw] += tap
        acc = canvas[:, top : top + oh, left : left + ow]
        r = transpose_conv_requant(op)
        if r.bias is not None:
            acc = acc + r.bias.astype(np.int64)
        out = op.outputs[0]
        return [requantize_output(acc, r.multipliers, r.shifts, r.output_offset, r.act, out.type).reshape(out.shape)]
