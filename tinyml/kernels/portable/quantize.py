"""QUANTIZE (float32 -> int8 or int16, and between uint8, int8 and int16) and DEQUANTIZE (to float32), per tensor."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.ir.types import FLOAT32, INT8, INT16, UINT8, ElementType
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported, flat_values, register
from tinyml.ops.base import quant
from tinyml.ops.quantize import DEQUANTIZED, FLOAT_QUANTIZED, REQUANTIZE_PAIRS
from tinyml.ops.requant import requantize

#: the C kernels' name for each integer type
_SUFFIX = {INT8: "s8", UINT8: "u8", INT16: "s16"}


def _suffix(etype: ElementType) -> str:
    return _SUFFIX[etype]


@register
class Quantize(Kernel):
    """Float model inputs into int8 or int16 (tm_quantize_f32_s8/_s16), int8 into another scale
    (tm_requantize_s8), and the other integer pairs TFLite Micro converts (tm_requantize_<in>_<out>)."""

    op_types = ("QUANTIZE",)

    def check(self, op: Operator) -> None:
        inp, out = op.input(0), op.outputs[0]
        if inp.type == FLOAT32 and out.type in FLOAT_QUANTIZED:
            return
        if out.type not in REQUANTIZE_PAIRS.get(inp.type, ()):
            raise Unsupported(f"the {self.label} QUANTIZE kernel does not take {inp.type} to {out.type}")

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        values = flat_values(op, ctx)
        values["output_offset"] = quant(out).zero_point
        if inp.type == FLOAT32:
            values["scale"] = quant(out).scale
            return Call(f"ops/quantize_f32_{_suffix(out.type)}.c.j2", values)
        r = requantize(op)
        values["input_offset"] = r.input_offset
        values["quant"] = (r.multiplier, r.shift)
        if inp.type == INT8 and out.type == INT8:
            return Call("ops/requantize_s8.c.j2", values)
        values["function"] = f"tm_requantize_{_suffix(inp.type)}_{_suffix(out.type)}"
        return Call("ops/requantize_int.c.j2", values)


@register
class Dequantize(Kernel):
    """int8, uint8 or int16 model outputs back to float32: tm_dequantize_<type>_f32."""

    op_types = ("DEQUANTIZE",)

    def check(self, op: Operator) -> None:
        if op.input(0).type not in DEQUANTIZED or op.outputs[0].type != FLOAT32:
            raise Unsupported(f"the {self.label} DEQUANTIZE kernel takes int8, uint8 or int16 to float32")

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        q = quant(op.input(0))
        values = flat_values(op, ctx)
        values["scale"] = q.scale
        values["zero_point"] = q.zero_point
        if op.input(0).type == INT8:
            return Call("ops/dequantize_s8_f32.c.j2", values)
        values["function"] = f"tm_dequantize_{_suffix(op.input(0).type)}_f32"
        return Call("ops/dequantize_int_f32.c.j2", values)
