"""The portable 16x8 kernels (int16 activations, int8 weights): what the int8 kernels of each family hand an op to
when it computes on int16 (`applies`), so one kernel object per op type still answers for both.

CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED accumulate in int64 with the raw int64 bias (tm_*_s16); the others
reuse their int8 arithmetic on int16 values. None runs in place or needs scratch.
"""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT8, INT16
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported
from tinyml.ops.base import Role, definition, window_of
from tinyml.ops.int16 import is_16x8
from tinyml.ops.requant import add_left_shift, conv_requant, fused_range
from tinyml.ops.window import Window

__all__ = ["add_call", "applies", "check", "conv_call", "depthwise_call", "fc_call", "mul_call", "pool_call", "suffix"]


def applies(op: Operator) -> bool:
    """Whether `op` computes on int16 activations and so takes this module's kernels."""
    return is_16x8(op)


def suffix(op: Operator) -> str:
    """The C kernels' type suffix for a data-movement op: s16 on int16 activations, else s8."""
    return "s16" if applies(op) else "s8"


def check(op: Operator, kernel: Kernel) -> None:
    """Refuse, naming the kernel, any feature or output tensor that is not int16 (weights must be int8)."""
    roles = definition(op).roles(op)
    for t, role in [*zip(op.inputs, roles, strict=True), *((t, None) for t in op.outputs)]:
        if t is None or role in (Role.BIAS, Role.PARAM):
            continue
        want = INT8 if role is Role.WEIGHTS else INT16
        if t.type != want:
            raise Unsupported(f"tensor {t.name!r} is {t.type}; the {kernel.label} int16 {op.type} kernel takes {want}")


def _weighted_values(op: Operator, ctx: EmitContext) -> dict[str, object]:
    """Values the three weighted kernels share: offsets, clamp, per-channel requantization, bias (or NULL)."""
    r = conv_requant(op)
    bias = op.opt_input(2)
    return {
        "input_offset": r.input_offset,
        "output_offset": r.output_offset,
        "act": r.act,
        "multiplier": ctx.const("mult", r.multipliers, "int32_t"),
        "shift": ctx.const("shift", r.shifts, "int32_t"),
        "bias": "NULL" if bias is None else ctx.tensor(bias),
        "bias_dims": (1, 1, 1, op.outputs[0].shape[-1]),
        "input": ctx.tensor(op.input(0)),
        "filter": ctx.tensor(op.input(1)),
        "output": ctx.tensor(op.outputs[0]),
        "scratch": ctx.scratch,
    }


def _window_values(window: Window) -> dict[str, object]:
    pad_h, pad_w = window.pad_hw
    return {"stride": window.stride[::-1], "padding": (pad_w, pad_h), "dilation": window.dilation[::-1]}


def conv_call(op: Operator, ctx: EmitContext) -> Call:
    """tm_conv2d_s16."""
    values = {**_weighted_values(op, ctx), **_window_values(window_of(op))}
    dims = {"input_dims": op.input(0).shape, "filter_dims": op.input(1).shape, "output_dims": op.outputs[0].shape}
    return Call("ops/conv2d_s16.c.j2", {**values, **dims})


def depthwise_call(op: Operator, ctx: EmitContext) -> Call:
    """tm_depthwise_conv2d_s16."""
    inp, out = op.input(0), op.outputs[0]
    values = {**_weighted_values(op, ctx), **_window_values(window_of(op)), "ch_mult": out.shape[3] // inp.shape[3]}
    dims = {"input_dims": inp.shape, "filter_dims": op.input(1).shape, "output_dims": out.shape}
    return Call("ops/depthwise_conv2d_s16.c.j2", {**values, **dims})


def fc_call(op: Operator, ctx: EmitContext) -> Call:
    """tm_fully_connected_s16, a multiplier per unit (repeated for per-tensor weights)."""
    inp, w = op.input(0), op.input(1)
    units, depth = w.shape
    batches = inp.num_elements // depth
    r = conv_requant(op)
    values = {
        **_weighted_values(op, ctx),
        "filter_offset": r.weights_offset,
        "input_dims": (batches, 1, 1, depth),
        "filter_dims": (units, 1, 1, depth),
        "output_dims": (batches, 1, 1, units),
    }
    return Call("ops/fully_connected_s16.c.j2", values)


def add_call(op: Operator, ctx: EmitContext) -> Call:
    """tm_add_s16: the int8 ADD's values with TFLM's int16 left shift."""
    from tinyml.kernels.portable.elementwise import add_values  # the int8 family's values; it imports this module

    return Call("ops/add_s16.c.j2", {**add_values(op, ctx), "left_shift": add_left_shift(op)})


def mul_call(op: Operator, ctx: EmitContext) -> Call:
    """tm_mul_s16."""
    from tinyml.kernels.portable.elementwise import mul_values

    return Call("ops/mul_s16.c.j2", mul_values(op, ctx))


def pool_call(op: Operator, ctx: EmitContext, function: str) -> Call:
    """tm_avgpool2d_s16 or tm_maxpool2d_s16 (`function` names the int8 one), through the pools' shared template."""
    window = window_of(op)
    pad_h, pad_w = window.pad_hw
    values = {
        "function": function.replace("_s8", "_s16"),
        "stride": window.stride[::-1],
        "padding": (pad_w, pad_h),
        "act": fused_range(op),
        "input_dims": op.input(0).shape,
        "filter_dims": (1, *window.kernel, 1),
        "output_dims": op.outputs[0].shape,
        "input": ctx.tensor(op.input(0)),
        "output": ctx.tensor(op.outputs[0]),
    }
    return Call("ops/pool2d_s8.c.j2", values)
