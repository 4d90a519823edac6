"""MAXIMUM, MINIMUM, SUB and SQUARED_DIFFERENCE (int8, per-tensor), broadcasting either operand: tm_maximum_s8,
tm_minimum_s8, tm_sub_s8, tm_squared_difference_s8."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, register
from tinyml.kernels.portable.elementwise import BroadcastKernel, binary_values, broadcast_values
from tinyml.ops.binary import DifferenceRequant, squared_difference_requant, sub_requant


def difference_values(op: Operator, ctx: EmitContext, r: DifferenceRequant) -> dict[str, object]:
    """SUB's and SQUARED_DIFFERENCE's values: ADD's and MUL's, the left shift and three (multiplier, shift)
    pairs."""
    return {**binary_values(op, ctx, r), "left_shift": r.left_shift, "quant": list(r.quant)}


@register
class Maximum(BroadcastKernel):
    op_types = ("MAXIMUM",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("ops/maximum_s8.c.j2", broadcast_values(op, ctx))


@register
class Minimum(BroadcastKernel):
    op_types = ("MINIMUM",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("ops/minimum_s8.c.j2", broadcast_values(op, ctx))


@register
class Sub(BroadcastKernel):
    op_types = ("SUB",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("ops/sub_s8.c.j2", difference_values(op, ctx, sub_requant(op)))


@register
class SquaredDifference(BroadcastKernel):
    op_types = ("SQUARED_DIFFERENCE",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("ops/squared_difference_s8.c.j2", difference_values(op, ctx, squared_difference_requant(op)))
