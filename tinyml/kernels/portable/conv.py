"""CONV_2D and DEPTHWISE_CONV_2D (int8 activations; int8 or packed int4 weights, per channel or per tensor):
tm_conv2d_s8, tm_depthwise_conv2d_s8 and their in-place variants, and tm_conv2d_s4 and tm_depthwise_conv2d_s4,
which read TFLite's INT4 weights as flash holds them, two to a byte (they have no in-place variants). Packed
activations and 2-bit weights take the sub-byte kernels (tinyml.kernels.portable.subbyte)."""

from __future__ import annotations

from tinyml.ir.graph import Operator, Tensor
from tinyml.ir.types import INT4, INT8
from tinyml.kernels.base import Call, EmitContext, InPlace, Kernel, packed_weights, register
from tinyml.kernels.portable import int16, subbyte
from tinyml.ops.base import Role, window_of
from tinyml.ops.requant import ConvRequant, conv_requant
from tinyml.ops.transpose_conv import TransposeConvRequant
from tinyml.ops.window import Window


def requant_values(
    op: Operator, ctx: EmitContext, inp: Tensor, w: Tensor, r: ConvRequant | TransposeConvRequant
) -> dict[str, object]:
    """What every portable convolution's template takes besides its window and bias: offsets, clamp, per-channel
    multipliers and shifts, dims and tensors."""
    out = op.outputs[0]
    return {
        "input_offset": r.input_offset,
        "output_offset": r.output_offset,
        "act": r.act,
        "multiplier": ctx.const("mult", r.multipliers, "int32_t"),
        "shift": ctx.const("shift", r.shifts, "int32_t"),
        "input_dims": inp.shape,
        "filter_dims": w.shape,
        "bias_dims": (1, 1, 1, out.shape[3]),
        "output_dims": out.shape,
        "input": ctx.tensor(inp),
        "filter": ctx.tensor(w),
        "output": ctx.tensor(out),
        "scratch": ctx.scratch,
    }


def conv_values(op: Operator, ctx: EmitContext, window: Window) -> dict[str, object]:
    """Template values both portable convolutions share: offsets, window, requantization, tensors."""
    r = conv_requant(op)
    pad_h, pad_w = window.pad_hw
    return {
        **requant_values(op, ctx, op.input(0), op.input(1), r),
        "stride": window.stride[::-1],
        "padding": (pad_w, pad_h),
        "dilation": window.dilation[::-1],
        "bias": ctx.const("bias", r.folded_bias, "int32_t", Role.BIAS),
    }


def _conv_in_place(op: Operator, window: Window) -> tuple[str, int] | None:
    """The in-place variant of a CONV_2D, if one applies: (template, scratch bytes).

    A pointwise conv maps each pixel to the same pixel (one pixel of scratch);
    a stride-1 conv that keeps the shape can run row by row (padding.h + 1 rows).
    """
    inp, w, out = op.input(0), op.input(1), op.outputs[0]
    if window.stride != (1, 1) or w.shape[3] != inp.shape[3] or inp.shape[:3] != out.shape[:3]:
        return None
    if w.shape[1:3] == (1, 1):
        return "ops/conv2d_1x1_inplace_s8.c.j2", inp.shape[3]
    pad_h = window.pad_hw[0]
    if window.dilated or inp.shape[0] != 1 or out.shape[3] != inp.shape[3] or pad_h >= w.shape[1]:
        return None
    return "ops/conv2d_rows_inplace_s8.c.j2", (pad_h + 1) * inp.shape[2] * inp.shape[3]


def _padded_plane(op: Operator, window: Window) -> int:
    """Bytes of one input channel plane padded so every window fits (tm_depthwise_conv2d_inplace_s8's scratch)."""
    inp, out = op.input(0), op.outputs[0]
    pad_h, pad_w = window.pad_hw
    span_h, span_w = window.span
    need_h = (out.shape[1] - 1) * window.stride[0] + span_h
    need_w = (out.shape[2] - 1) * window.stride[1] + span_w
    return max(need_h, inp.shape[1] + pad_h) * max(need_w, inp.shape[2] + pad_w)


@register
class Conv2D(Kernel):
    op_types = ("CONV_2D",)

    def check(self, op: Operator) -> None:
        if int16.applies(op):
            int16.check(op, self)
        elif subbyte.applies(op):
            subbyte.check_windowed(op, self)
        else:
            self.require_int8(op, weights=(INT8, INT4))

    def scratch_bytes(self, op: Operator) -> int:
        return subbyte.conv_scratch(op) if subbyte.applies(op) else 0

    def in_place(self, op: Operator) -> InPlace | None:
        if subbyte.applies(op):
            return subbyte.conv_in_place(op)
        if packed_weights(op) or int16.applies(op):
            return None
        variant = _conv_in_place(op, window_of(op))
        return None if variant is None else InPlace(0, variant[1])

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        if int16.applies(op):
            return int16.conv_call(op, ctx)
        window = window_of(op)
        values = conv_values(op, ctx, window)
        if subbyte.applies(op):
            return subbyte.conv_call(op, ctx, values)
        if packed_weights(op):
            return Call("ops/conv2d_s4.c.j2", {**values, "scratch_size": 0})
        variant = _conv_in_place(op, window) if ctx.in_place else None
        values["scratch_size"] = variant[1] if variant else 0
        return Call(variant[0] if variant else "ops/conv2d_s8.c.j2", values)


@register
class DepthwiseConv2D(Kernel):
    op_types = ("DEPTHWISE_CONV_2D",)

    def check(self, op: Operator) -> None:
        if int16.applies(op):
            int16.check(op, self)
        elif subbyte.applies(op):
            subbyte.check_windowed(op, self)
        else:
            self.require_int8(op, weights=(INT8, INT4))

    def scratch_bytes(self, op: Operator) -> int:
        return subbyte.conv_scratch(op) if subbyte.applies(op) else 0

    def in_place(self, op: Operator) -> InPlace | None:
        """Channel by channel through one padded plane of scratch (int8 weights, depth multiplier 1, output no
        larger)."""
        inp, out = op.input(0), op.outputs[0]
        if subbyte.applies(op):
            return subbyte.depthwise_in_place(op, _padded_plane(op, window_of(op)))
        if (
            packed_weights(op)
            or int16.applies(op)
            or inp.shape[0] != 1
            or inp.shape[3] != out.shape[3]
            or out.num_elements > inp.num_elements
        ):
            return None
        return InPlace(0, _padded_plane(op, window_of(op)))

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        if int16.applies(op):
            return int16.depthwise_call(op, ctx)
        inp, out = op.input(0), op.outputs[0]
        window = window_of(op)
        values = {"ch_mult": out.shape[3] // inp.shape[3], **conv_values(op, ctx, window)}
        if subbyte.applies(op):
            return subbyte.depthwise_call(op, ctx, values, _padded_plane(op, window))
        if packed_weights(op):
            return Call("ops/depthwise_conv2d_s4.c.j2", {**values, "scratch_size": 0})
        values["scratch_size"] = _padded_plane(op, window) if ctx.in_place else 0
        return Call("ops/depthwise_conv2d_inplace_s8.c.j2" if ctx.in_place else "ops/depthwise_conv2d_s8.c.j2", values)
