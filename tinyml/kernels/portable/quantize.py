"""QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE (int8 -> float32), per tensor."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.ir.types import FLOAT32, INT8
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported, flat_values, register
from tinyml.ops.base import quant
from tinyml.ops.requant import requantize


@register
class Quantize(Kernel):
    """Float model inputs into int8 (tm_quantize_f32_s8), or int8 into another scale (tm_requantize_s8)."""

    op_types = ("QUANTIZE",)

    def check(self, op: Operator) -> None:
        inp, out = op.input(0), op.outputs[0]
        if out.type != INT8 or inp.type not in (FLOAT32, INT8):
            raise Unsupported(f"the {self.label} QUANTIZE kernel takes float32 or int8 to int8")

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        values = flat_values(op, ctx)
        values["output_offset"] = quant(out).zero_point
        if inp.type == FLOAT32:
            values["scale"] = quant(out).scale
            return Call("ops/quantize_f32_s8.c.j2", values)
        r = requantize(op)
        values["input_offset"] = r.input_offset
        values["quant"] = (r.multiplier, r.shift)
        return Call("ops/requantize_s8.c.j2", values)


@register
class Dequantize(Kernel):
    """int8 model outputs back to float32: tm_dequantize_s8_f32."""

    op_types = ("DEQUANTIZE",)

    def check(self, op: Operator) -> None:
        if op.input(0).type != INT8 or op.outputs[0].type != FLOAT32:
            raise Unsupported(f"the {self.label} DEQUANTIZE kernel takes int8 to float32")

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        q = quant(op.input(0))
        values = flat_values(op, ctx)
        values["scale"] = q.scale
        values["zero_point"] = q.zero_point
        return Call("ops/dequantize_s8_f32.c.j2", values)
