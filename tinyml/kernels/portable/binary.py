"""MAXIMUM, MINIMUM, SUB and SQUARED_DIFFERENCE (int8, per-tensor), broadcasting either operand: tm_maximum_s8,
tm_minimum_s8, tm_sub_s8, tm_squared_difference_s8."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, InPlace, Kernel, register
from tinyml.kernels.portable.elementwise import broadcast_dims, same_shape_input
from tinyml.ops.binary import DifferenceRequant, squared_difference_requant, sub_requant


def broadcast_values(op: Operator, ctx: EmitContext) -> dict[str, object]:
    """Merged 4-D dims and data pointers of both operands and the output, and the scratch pointer."""
    in1, in2, out = op.input(0), op.input(1), op.outputs[0]
    dims1, dims2, dims_out = broadcast_dims(in1.shape, in2.shape, out.shape)
    return {
        "input1_dims": dims1,
        "input2_dims": dims2,
        "output_dims": dims_out,
        "input1": ctx.tensor(in1),
        "input2": ctx.tensor(in2),
        "output": ctx.tensor(out),
        "scratch": ctx.scratch,
    }


def difference_values(op: Operator, ctx: EmitContext, r: DifferenceRequant) -> dict[str, object]:
    """SUB's and SQUARED_DIFFERENCE's values: offsets, left shift, three (multiplier, shift) pairs, clamp."""
    return {
        **broadcast_values(op, ctx),
        "input1_offset": r.input1_offset,
        "input2_offset": r.input2_offset,
        "output_offset": r.output_offset,
        "left_shift": r.left_shift,
        "quant": list(r.quant),
        "act": r.act,
    }


class _Broadcast(Kernel):
    """A binary kernel on int8 operands whose merged broadcast needs at most four dims."""

    def check(self, op: Operator) -> None:
        self.require_int8(op)
        broadcast_dims(op.input(0).shape, op.input(1).shape, op.outputs[0].shape)

    def in_place(self, op: Operator) -> InPlace | None:
        return same_shape_input(op)


@register
class Maximum(_Broadcast):
    op_types = ("MAXIMUM",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("ops/maximum_s8.c.j2", broadcast_values(op, ctx))


@register
class Minimum(_Broadcast):
    op_types = ("MINIMUM",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("ops/minimum_s8.c.j2", broadcast_values(op, ctx))


@register
class Sub(_Broadcast):
    op_types = ("SUB",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("ops/sub_s8.c.j2", difference_values(op, ctx, sub_requant(op)))


@register
class SquaredDifference(_Broadcast):
    op_types = ("SQUARED_DIFFERENCE",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("ops/squared_difference_s8.c.j2", difference_values(op, ctx, squared_difference_requant(op)))
