"""FULLY_CONNECTED (int8; per-tensor or per-channel weights)."""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported, activation_of, register, require_int8
from tinyml.kernels.portable.conv import folded_bias
from tinyml.ops.fixedpoint import activation_range, conv_multipliers


@register
class FullyConnected(Kernel):
    op_types = ("FULLY_CONNECTED",)

    def check(self, op: Operator) -> None:
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        require_int8(op, inp, w, out)
        if w.data is None:
            raise Unsupported("weights computed at run time (non-constant filter)")
        if op.attrs.get("weights_format", 0) != 0:
            raise Unsupported("shuffled weights format")
        if len(w.shape) != 2 or inp.num_elements % w.shape[1]:
            raise Unsupported(f"input {inp.shape} does not match weights {w.shape}")
        bias = op.opt_input(2)
        if bias is not None and bias.data is None:
            raise Unsupported("bias computed at run time")
        if w.quant and w.quant.per_channel and any(w.quant.zero_points):
            raise Unsupported("per-channel weights with non-zero zero points")
        activation_of(op)

    def macs(self, op: Operator) -> int:
        return op.input(0).num_elements * op.input(1).shape[0]

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        assert inp.quant and w.quant and out.quant
        units, depth = w.shape
        batches = inp.num_elements // depth
        act_min, act_max = activation_range(activation_of(op), out)
        mults, shifts = conv_multipliers(inp, w, out, units if w.quant.per_channel else 1)
        values = {
            "input_offset": -inp.quant.zero_point,
            "filter_offset": -w.quant.zero_point,
            "output_offset": out.quant.zero_point,
            "act": (act_min, act_max),
            "per_channel": w.quant.per_channel,
            "input_dims": (batches, 1, 1, depth),
            "filter_dims": (units, 1, 1, depth),
            "bias_dims": (1, 1, 1, units),
            "output_dims": (batches, 1, 1, units),
            "input": ctx.tensor(inp),
            "filter": ctx.tensor(w),
            "bias": ctx.const("bias", folded_bias(op, w, units, 0), "int32_t"),
            "output": ctx.tensor(out),
            "scratch": ctx.scratch,
        }
        if w.quant.per_channel:
            values["multiplier"] = ctx.const("mult", np.array(mults, dtype=np.int32), "int32_t")
            values["shift"] = ctx.const("shift", np.array(shifts, dtype=np.int32), "int32_t")
        else:
            values["multiplier"], values["shift"] = mults[0], shifts[0]
        return Call("ops/fully_connected_s8.c.j2", values)
