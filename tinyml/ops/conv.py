"""CONV_2D and DEPTHWISE_CONV_2D: int8 convolutions with per-channel (or per-tensor) symmetric weights.

Each output is bias + sum over the window of (input - input zero point) *
weight, accumulated in int32 (wrapping like C), taps outside the image
contributing nothing, then requantized per output channel (`requant.ConvRequant`).
The references pad the offset input with zeros, so out-of-image taps add
exactly nothing, and compute the whole op as one im2col matrix product per group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator, Tensor
from tinyml.ir.types import INT8, INT16, INT32
from tinyml.ops import int16
from tinyml.ops.arith import integer_matmul, requantize_output
from tinyml.ops.base import (
    WEIGHT_TYPES,
    Arrays,
    Role,
    Unsupported,
    array,
    define,
    quant,
    require_arity,
    require_constant,
    require_quantized,
)
from tinyml.ops.requant import conv_requant
from tinyml.ops.window import HW
from tinyml.ops.windowed import WindowAttrs, WindowedOpDef


def require_filter(inp: Tensor, w: Tensor, out: Tensor) -> None:
    """A convolution's filter (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV): constant, 4-D as input and output,
    zero points 0."""
    if w.data is None:
        raise Unsupported("weights computed at run time (non-constant filter)")
    if len(inp.shape) != 4 or len(out.shape) != 4 or len(w.shape) != 4:
        raise Unsupported("only 4-D NHWC tensors are supported")
    if any(z != 0 for z in quant(w).zero_points):
        raise Unsupported("weights with a non-zero zero point")


def require_channels(w: Tensor, bias: Tensor | None, channels: int, *, int32: bool = True) -> None:
    """A convolution's per-output-channel operands: a weight scale per channel or one for all, and an optional
    constant bias of a value per channel, int32 (int32=False: the caller checks its type, as 16x8's int64)."""
    if quant(w).per_channel and len(quant(w).scales) != channels:
        raise Unsupported(f"{len(quant(w).scales)} weight scales for {channels} output channels")
    require_constant(bias, "bias")
    if bias is None:
        return
    if int32 and bias.type != INT32:
        raise Unsupported(f"bias {bias.name!r} is {bias.type}; int32 expected")
    if bias.num_elements != channels:
        raise Unsupported(f"bias {bias.name!r} has {bias.num_elements} values for {channels} output channels")


@dataclass(frozen=True)
class ConvAttrs(WindowAttrs):
    """CONV_2D's options: the window's stride, padding and dilation, and the fused activation."""

    #: (height, width)
    dilation: HW = (1, 1)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ConvAttrs:
        dilation = (int(options.get("dilation_h_factor", 1)), int(options.get("dilation_w_factor", 1)))
        return cls(**WindowAttrs.common(options), dilation=dilation)


@dataclass(frozen=True)
class DepthwiseConvAttrs(ConvAttrs):
    """DEPTHWISE_CONV_2D's options: a convolution's, and how many output channels each input channel makes."""

    #: as stored; 0 when the converter left it out (then output channels / input channels)
    depth_multiplier: int = 0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> DepthwiseConvAttrs:
        conv = ConvAttrs.from_options(options)
        return cls(**vars(conv), depth_multiplier=int(options.get("depth_multiplier", 0)))


class _ConvDef(WindowedOpDef):
    """What both convolutions share: roles, types, constant weights and bias, requantization."""

    input_roles = (Role.FEATURE, Role.WEIGHTS, Role.BIAS)
    weight_types = WEIGHT_TYPES
    #: int8, or int16 in TFLite's 16x8 scheme
    types = (INT8, INT16)

    def kernel_hw(self, op: Operator) -> HW:
        return op.input(1).shape[1], op.input(1).shape[2]

    def dilation(self, op: Operator) -> HW:
        return op.attrs.dilation

    def validate(self, op: Operator) -> None:
        require_arity(op, 2, 3)
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        if int16.is_16x8(op):
            int16.require_16x8_weights(op)
        else:
            require_quantized(inp, out)
            require_quantized(w, types=WEIGHT_TYPES)
        require_filter(inp, w, out)
        require_channels(w, op.opt_input(2), out.shape[3], int32=not int16.is_16x8(op))
        self.validate_window(op)
        self.validate_channels(op)
        self.check_shapes(op)

    def validate_channels(self, op: Operator) -> None:
        """How input, filter and output channels must relate."""

    def requantized(self, op: Operator, acc: np.ndarray, inputs: Arrays) -> np.ndarray:
        """The accumulator plus bias, requantized per output channel (the last axis) and clamped (16x8: the int64
        accumulator's requantization)."""
        r = conv_requant(op)
        bias = inputs[2] if len(inputs) > 2 else None
        if bias is not None:
            acc = acc + bias.astype(np.int64).reshape(-1)
        out = op.outputs[0]
        if int16.is_16x8(op):
            y = int16.requantize_output_int64(acc, r.multipliers, r.shifts, r.output_offset, r.act)
            return y.reshape(out.shape)
        return requantize_output(acc, r.multipliers, r.shifts, r.output_offset, r.act, out.type).reshape(out.shape)


@define
class Conv2D(_ConvDef):
    """A convolution; grouped when the input has a multiple of the filter's channels."""

    op_types = ("CONV_2D",)
    attrs_type = ConvAttrs
    weights_channel_axis = 0

    def out_channels(self, op: Operator) -> int:
        return op.input(1).shape[0]

    def validate_channels(self, op: Operator) -> None:
        in_c, (out_c, _, _, kc) = op.input(0).shape[3], op.input(1).shape
        if kc < 1 or in_c % kc:
            raise Unsupported("input channels are not a multiple of the filter's")
        if out_c % (in_c // kc):
            raise Unsupported(f"{out_c} output channels do not split into {in_c // kc} groups")

    def macs(self, op: Operator) -> int:
        n, oh, ow, oc = op.outputs[0].shape
        _, kh, kw, kc = op.input(1).shape
        return n * oh * ow * oc * kh * kw * kc

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """Group g reads input channels [g*kc, (g+1)*kc) and writes output channels [g*per_group, (g+1)*per_group)."""
        x, w = array(inputs, 0), array(inputs, 1)
        n, _, _, in_c = x.shape
        out_c, kh, kw, kc = w.shape
        groups = in_c // kc
        per_group = out_c // groups
        _, oh, ow, _ = op.outputs[0].shape
        # (x - zero point) as float64 (exact): padding with 0 then adds nothing, as TFLM skips those taps
        shifted = x.astype(np.float64) - quant(op.input(0)).zero_point
        win = self.window(op).views(shifted, (oh, ow), fill=0)
        acc = np.empty((n * oh * ow, out_c), np.int64)
        for g in range(groups):
            cols = win[..., g * kc : (g + 1) * kc, :, :].reshape(n * oh * ow, kc * kh * kw)
            filters = w[g * per_group : (g + 1) * per_group].transpose(0, 3, 1, 2).reshape(per_group, kc * kh * kw)
            acc[:, g * per_group : (g + 1) * per_group] = integer_matmul(cols, filters.T)
        return [self.requantized(op, acc, inputs)]


@define
class DepthwiseConv2D(_ConvDef):
    """Output channel c * multiplier + m convolves input channel c with filter channel c * multiplier + m."""

    op_types = ("DEPTHWISE_CONV_2D",)
    attrs_type = DepthwiseConvAttrs
    weights_channel_axis = 3

    def out_channels(self, op: Operator) -> int:
        return op.input(1).shape[3]

    def validate_channels(self, op: Operator) -> None:
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        if w.shape[0] != 1 or w.shape[3] != out.shape[3]:
            raise Unsupported(f"filter shape {w.shape} for output {out.shape}")
        mult = op.attrs.depth_multiplier or out.shape[3] // inp.shape[3]
        if inp.shape[3] * mult != out.shape[3]:
            raise Unsupported("output channels differ from input channels x depth multiplier")

    def macs(self, op: Operator) -> int:
        n, oh, ow, oc = op.outputs[0].shape
        _, kh, kw, _ = op.input(1).shape
        return n * oh * ow * oc * kh * kw

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        x, w = array(inputs, 0), array(inputs, 1)
        n, _, _, in_c = x.shape
        _, kh, kw, out_c = w.shape
        multiplier = out_c // in_c
        _, oh, ow, _ = op.outputs[0].shape
        shifted = x.astype(np.int64) - quant(op.input(0)).zero_point
        win = self.window(op).views(shifted, (oh, ow), fill=0)
        filters = w.astype(np.int64).reshape(kh, kw, in_c, multiplier)
        acc = np.zeros((n, oh, ow, in_c, multiplier), np.int64)
        for ky in range(kh):
            for kx in range(kw):
                acc += win[..., ky, kx][..., None] * filters[ky, kx]
        return [self.requantized(op, acc.reshape(n, oh, ow, out_c), inputs)]
