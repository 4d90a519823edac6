"""CONV_2D and DEPTHWISE_CONV_2D (int8, per-channel weights)."""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator, Tensor
from tinyml.kernels.base import Call, EmitContext, InPlace, Kernel, Unsupported, activation_of, register, require_int8
from tinyml.ops.fixedpoint import activation_range, conv_multipliers


def same_padding(in_size: int, k: int, stride: int, dilation: int, out_size: int) -> int:
    """Leading padding as TFLite computes it (the odd extra pixel goes after)."""
    eff = (k - 1) * dilation + 1
    return max(0, (out_size - 1) * stride + eff - in_size) // 2


def window_padding(
    op: Operator, in_hw: tuple[int, int], k_hw: tuple[int, int], out_hw: tuple[int, int]
) -> tuple[int, int]:
    """(pad_h, pad_w) for a windowed op from its padding mode and strides."""
    if op.attrs.get("padding") == "VALID":
        return 0, 0
    if op.attrs.get("padding") == "EXPLICIT":  # set by the optimiser when it fuses dilated convs
        return op.attrs["explicit_padding"]
    if op.attrs.get("padding") != "SAME":
        raise Unsupported(f"padding {op.attrs.get('padding')}")
    dh, dw = op.attrs.get("dilation_h_factor", 1), op.attrs.get("dilation_w_factor", 1)
    return (
        same_padding(in_hw[0], k_hw[0], op.attrs["stride_h"], dh, out_hw[0]),
        same_padding(in_hw[1], k_hw[1], op.attrs["stride_w"], dw, out_hw[1]),
    )


def folded_bias(op: Operator, weights: Tensor, channels: int, channel_axis: int) -> np.ndarray:
    """bias + input_offset * sum(weights of each output channel), wrapped to int32 like C."""
    inp = op.input(0)
    assert inp.quant is not None and weights.data is not None
    input_offset = -inp.quant.zero_point
    bias_t = op.opt_input(2)
    if bias_t is not None and bias_t.data is not None:
        if bias_t.dtype != "int32":
            raise Unsupported(f"bias {bias_t.name!r} is {bias_t.dtype}; int32 expected")
        bias = bias_t.data.astype(np.int64).reshape(-1)
    else:
        bias = np.zeros(channels, dtype=np.int64)
    w = np.moveaxis(weights.data.astype(np.int64), channel_axis, 0).reshape(channels, -1)
    total = bias + input_offset * w.sum(axis=1)
    return ((total + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def _conv_in_place(op: Operator) -> tuple[str, int] | None:
    """The in-place variant of a CONV_2D, if one applies: (template, scratch bytes).

    A pointwise conv maps each pixel to the same pixel (one pixel of scratch);
    a stride-1 conv that keeps the shape can run row by row (padding.h + 1 rows).
    """
    inp, w, out = op.input(0), op.input(1), op.outputs[0]
    unit_stride = op.attrs.get("stride_h") == 1 and op.attrs.get("stride_w") == 1
    if not unit_stride or w.shape[3] != inp.shape[3] or inp.shape[:3] != out.shape[:3]:
        return None
    if w.shape[1:3] == (1, 1):
        return "ops/conv2d_1x1_inplace_s8.c.j2", inp.shape[3]
    dilated = op.attrs.get("dilation_h_factor", 1) != 1 or op.attrs.get("dilation_w_factor", 1) != 1
    pad_h, _ = window_padding(op, inp.shape[1:3], w.shape[1:3], out.shape[1:3])
    if dilated or inp.shape[0] != 1 or out.shape[3] != inp.shape[3] or pad_h >= w.shape[1]:
        return None
    return "ops/conv2d_rows_inplace_s8.c.j2", (pad_h + 1) * inp.shape[2] * inp.shape[3]


def _padded_plane(op: Operator) -> int:
    """Bytes of one input channel plane padded so every window fits (tm_depthwise_conv2d_inplace_s8's scratch)."""
    inp, w, out = op.input(0), op.input(1), op.outputs[0]
    pad_h, pad_w = window_padding(op, inp.shape[1:3], w.shape[1:3], out.shape[1:3])
    dil_h, dil_w = op.attrs.get("dilation_h_factor", 1), op.attrs.get("dilation_w_factor", 1)
    need_h = (out.shape[1] - 1) * op.attrs["stride_h"] + (w.shape[1] - 1) * dil_h + 1
    need_w = (out.shape[2] - 1) * op.attrs["stride_w"] + (w.shape[2] - 1) * dil_w + 1
    return max(need_h, inp.shape[1] + pad_h) * max(need_w, inp.shape[2] + pad_w)


def _check_common(op: Operator) -> None:
    inp, w, out = op.input(0), op.input(1), op.outputs[0]
    require_int8(op, inp, w, out)
    if w.data is None:
        raise Unsupported("weights computed at run time (non-constant filter)")
    if len(inp.shape) != 4 or len(out.shape) != 4 or len(w.shape) != 4:
        raise Unsupported("only 4-D NHWC tensors are supported")
    if any(z != 0 for z in w.quant.zero_points):  # type: ignore[union-attr]
        raise Unsupported("weights with a non-zero zero point")
    bias = op.opt_input(2)
    if bias is not None and bias.data is None:
        raise Unsupported("bias computed at run time")
    activation_of(op)


@register
class Conv2D(Kernel):
    op_types = ("CONV_2D",)

    def check(self, op: Operator) -> None:
        _check_common(op)
        if op.input(0).shape[3] % op.input(1).shape[3]:
            raise Unsupported("input channels are not a multiple of the filter's")

    def macs(self, op: Operator) -> int:
        _, oh, ow, oc = op.outputs[0].shape
        _, kh, kw, kc = op.input(1).shape
        return op.outputs[0].shape[0] * oh * ow * oc * kh * kw * kc

    def in_place(self, op: Operator) -> InPlace | None:
        variant = _conv_in_place(op)
        return None if variant is None else InPlace(0, variant[1])

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        assert inp.quant and out.quant
        channels = out.shape[3]
        mults, shifts = conv_multipliers(inp, w, out, channels)
        act_min, act_max = activation_range(activation_of(op), out)
        pad_h, pad_w = window_padding(op, inp.shape[1:3], w.shape[1:3], out.shape[1:3])
        variant = _conv_in_place(op) if ctx.in_place else None
        return Call(
            variant[0] if variant else "ops/conv2d_s8.c.j2",
            {
                "input_offset": -inp.quant.zero_point,
                "output_offset": out.quant.zero_point,
                "stride": (op.attrs["stride_w"], op.attrs["stride_h"]),
                "padding": (pad_w, pad_h),
                "dilation": (op.attrs.get("dilation_w_factor", 1), op.attrs.get("dilation_h_factor", 1)),
                "act": (act_min, act_max),
                "multiplier": ctx.const("mult", np.array(mults, dtype=np.int32), "int32_t"),
                "shift": ctx.const("shift", np.array(shifts, dtype=np.int32), "int32_t"),
                "input_dims": inp.shape,
                "filter_dims": w.shape,
                "bias_dims": (1, 1, 1, channels),
                "output_dims": out.shape,
                "input": ctx.tensor(inp),
                "filter": ctx.tensor(w),
                "bias": ctx.const("bias", folded_bias(op, w, channels, 0), "int32_t"),
                "output": ctx.tensor(out),
                "scratch": ctx.scratch,
                "scratch_size": variant[1] if variant else 0,
            },
        )


@register
class DepthwiseConv2D(Kernel):
    op_types = ("DEPTHWISE_CONV_2D",)

    def check(self, op: Operator) -> None:
        _check_common(op)
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        if w.shape[0] != 1 or w.shape[3] != out.shape[3]:
            raise Unsupported(f"filter shape {w.shape} for output {out.shape}")
        mult = op.attrs.get("depth_multiplier") or out.shape[3] // inp.shape[3]
        if inp.shape[3] * mult != out.shape[3]:
            raise Unsupported("output channels differ from input channels x depth multiplier")

    def macs(self, op: Operator) -> int:
        n, oh, ow, oc = op.outputs[0].shape
        _, kh, kw, _ = op.input(1).shape
        return n * oh * ow * oc * kh * kw

    def in_place(self, op: Operator) -> InPlace | None:
        """Channel by channel through one padded plane of scratch (depth multiplier 1, output no larger)."""
        inp, out = op.input(0), op.outputs[0]
        if inp.shape[0] != 1 or inp.shape[3] != out.shape[3] or out.num_elements > inp.num_elements:
            return None
        return InPlace(0, _padded_plane(op))

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        assert inp.quant and out.quant
        channels = out.shape[3]
        mults, shifts = conv_multipliers(inp, w, out, channels)
        act_min, act_max = activation_range(activation_of(op), out)
        pad_h, pad_w = window_padding(op, inp.shape[1:3], w.shape[1:3], out.shape[1:3])
        return Call(
            "ops/depthwise_conv2d_inplace_s8.c.j2" if ctx.in_place else "ops/depthwise_conv2d_s8.c.j2",
            {
                "ch_mult": out.shape[3] // inp.shape[3],
                "input_offset": -inp.quant.zero_point,
                "output_offset": out.quant.zero_point,
                "stride": (op.attrs["stride_w"], op.attrs["stride_h"]),
                "padding": (pad_w, pad_h),
                "dilation": (op.attrs.get("dilation_w_factor", 1), op.attrs.get("dilation_h_factor", 1)),
                "act": (act_min, act_max),
                "multiplier": ctx.const("mult", np.array(mults, dtype=np.int32), "int32_t"),
                "shift": ctx.const("shift", np.array(shifts, dtype=np.int32), "int32_t"),
                "input_dims": inp.shape,
                "filter_dims": w.shape,
                "bias_dims": (1, 1, 1, channels),
                "output_dims": out.shape,
                "input": ctx.tensor(inp),
                "filter": ctx.tensor(w),
                "bias": ctx.const("bias", folded_bias(op, w, channels, 3), "int32_t"),
                "output": ctx.tensor(out),
                "scratch": ctx.scratch,
                "scratch_size": _padded_plane(op) if ctx.in_place else 0,
            },
        )
