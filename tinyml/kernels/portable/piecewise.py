"""PRELU, LEAKY_RELU and HARD_SWISH (int8, per-tensor): tm_prelu_s8 (alpha broadcast), tm_leaky_relu_s8,
tm_hard_swish_s8. Each reads element i before writing it, so each may run in place."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, InPlace, Kernel, flat_values, register
from tinyml.kernels.portable.binary import broadcast_values
from tinyml.kernels.portable.elementwise import broadcast_dims
from tinyml.ops.piecewise import hard_swish_params, leaky_relu_requant, prelu_requant


@register
class Prelu(Kernel):
    op_types = ("PRELU",)

    def check(self, op: Operator) -> None:
        self.require_int8(op)
        broadcast_dims(op.input(0).shape, op.input(1).shape, op.outputs[0].shape)

    def in_place(self, op: Operator) -> InPlace | None:
        """Over the input, when alpha does not widen it (alpha is usually a constant)."""
        inp, out = op.input(0), op.outputs[0]
        return InPlace(0, 0) if inp.num_elements == out.num_elements and inp.type == out.type else None

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        r = prelu_requant(op)
        values = {
            **broadcast_values(op, ctx),
            "input_offset": r.input_offset,
            "alpha_offset": r.alpha_offset,
            "output_offset": r.output_offset,
            "positive": r.positive,
            "negative": r.negative,
        }
        return Call("ops/prelu_s8.c.j2", values)


class _Unary(Kernel):
    def check(self, op: Operator) -> None:
        self.require_int8(op)

    def in_place(self, op: Operator) -> InPlace | None:
        return InPlace(0, 0) if op.input(0).type == op.outputs[0].type else None


@register
class LeakyRelu(_Unary):
    op_types = ("LEAKY_RELU",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        r = leaky_relu_requant(op)
        values = {
            **flat_values(op, ctx),
            "input_zero_point": r.input_zero_point,
            "output_zero_point": r.output_zero_point,
            "alpha_negative": int(r.alpha_negative),
            "identity": r.identity,
            "alpha": r.alpha,
        }
        return Call("ops/leaky_relu_s8.c.j2", values)


@register
class HardSwish(_Unary):
    op_types = ("HARD_SWISH",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        p = hard_swish_params(op)
        values = {
            **flat_values(op, ctx),
            "input_zero_point": p.input_zero_point,
            "output_zero_point": p.output_zero_point,
            "output_multiplier": p.output_multiplier,
            "output_exponent": p.output_exponent,
            "reluish_multiplier": p.reluish_multiplier,
            "reluish_exponent": p.reluish_exponent,
        }
        return Call("ops/hard_swish_s8.c.j2", values)
