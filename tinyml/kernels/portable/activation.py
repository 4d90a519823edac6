"""RELU and RELU6 as standalone ops (int8 or int16), for activations the converter could not fuse: tm_relu_s8,
tm_relu6_s8 and their _s16 twins."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, flat_values, register
from tinyml.kernels.portable import int16
from tinyml.ops.requant import relu6_bounds, relu_requant


@register
class Relu(Kernel):
    op_types = ("RELU",)

    def check(self, op: Operator) -> None:
        if int16.applies(op):
            int16.check(op, self)
        else:
            self.require_int8(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        r = relu_requant(op)
        values = flat_values(op, ctx)
        values["input_offset"] = r.input_offset
        values["output_offset"] = r.output_offset
        values["quant"] = (r.multiplier, r.shift)
        values["act"] = r.act
        return Call(f"ops/relu_{int16.suffix(op)}.c.j2", values)


@register
class Relu6(Kernel):
    op_types = ("RELU6",)

    def check(self, op: Operator) -> None:
        if int16.applies(op):
            int16.check(op, self)
        else:
            self.require_int8(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        values = flat_values(op, ctx)
        values["zero"], values["six"] = relu6_bounds(op)
        return Call(f"ops/relu6_{int16.suffix(op)}.c.j2", values)
