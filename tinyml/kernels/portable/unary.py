"""TANH and RSQRT (int8) by table lookup: tm_lut_s8 with the op's 256 outputs, computed at compile time, in flash.

The definition (`tinyml.ops.unary`) computes the table with TFLite Micro's
integer arithmetic; the kernel indexes it with the input byte, which is both
exact and faster than TFLM's per-element fixed-point evaluation.
"""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, InPlace, Kernel, flat_values, register
from tinyml.ops.base import definition
from tinyml.ops.unary import TableUnary


@register
class Lookup(Kernel):
    op_types = ("TANH", "RSQRT")

    def check(self, op: Operator) -> None:
        self.require_int8(op)

    def in_place(self, op: Operator) -> InPlace | None:
        return InPlace(0, 0)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        d = definition(op)
        assert isinstance(d, TableUnary)
        values = flat_values(op, ctx)
        values["table"] = ctx.const("table", d.table(op), "int8_t")
        values["min_input"] = d.min_input(op)
        return Call("ops/lut_s8.c.j2", values)
