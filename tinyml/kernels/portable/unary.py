"""Elementwise functions by table: int8 TANH and RSQRT (tm_lut_s8) and int16 TANH (tm_sigmoid_s16).

For int8 the definition (`tinyml.ops.unary`) computes all 256 outputs with
TFLite Micro's integer arithmetic at compile time; the kernel indexes them
with the input byte, exact and faster than TFLM's per-element fixed point.
int16 inputs interpolate in TFLM's sigmoid table, placed in flash.
"""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT16
from tinyml.kernels.base import Call, EmitContext, InPlace, Kernel, flat_values, register
from tinyml.ops.base import definition
from tinyml.ops.unary import TableUnary, sigmoid_s16_params, sigmoid_table


def sigmoid_s16_call(op: Operator, ctx: EmitContext) -> Call:
    """The tm_sigmoid_s16 call of an int16 TANH or LOGISTIC."""
    p = sigmoid_s16_params(op)
    values = flat_values(op, ctx)
    values["table"] = ctx.const("sigmoid", sigmoid_table(), "uint16_t")
    values["multiplier"], values["left_shift"] = p.multiplier, p.left_shift
    values["is_tanh"] = int(op.type == "TANH")
    return Call("ops/sigmoid_s16.c.j2", values)


@register
class Lookup(Kernel):
    op_types = ("TANH", "RSQRT")

    def check(self, op: Operator) -> None:
        if op.input(0).type != INT16:
            self.require_int8(op)

    def in_place(self, op: Operator) -> InPlace | None:
        return InPlace(0, 0)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        if op.input(0).type == INT16:
            return sigmoid_s16_call(op, ctx)
        d = definition(op)
        assert isinstance(d, TableUnary)
        values = flat_values(op, ctx)
        values["table"] = ctx.const("table", d.table(op), "int8_t")
        values["min_input"] = d.min_input(op)
        return Call("ops/lut_s8.c.j2", values)
