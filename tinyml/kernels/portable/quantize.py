"""QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE (int8 -> float32), per-tensor."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import (
    Call,
    EmitContext,
    Kernel,
    Unsupported,
    flat_values,
    register,
    require_int8,
    require_per_tensor,
)
from tinyml.ops.fixedpoint import quantize_multiplier


@register
class Quantize(Kernel):
    """Float model inputs into int8, or int8 into another scale where the converter needs one."""

    op_types = ("QUANTIZE",)

    def check(self, op: Operator) -> None:
        inp, out = op.input(0), op.outputs[0]
        require_int8(op, out)
        require_per_tensor(out)
        if inp.dtype not in ("float32", "int8"):
            raise Unsupported(f"QUANTIZE from {inp.dtype}; float32 or int8 input expected")
        if inp.dtype == "int8":
            require_int8(op, inp)
            require_per_tensor(inp)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        assert out.quant
        values = flat_values(op, ctx)
        values["output_offset"] = out.quant.zero_point
        if inp.dtype == "float32":
            values["scale"] = out.quant.scale
            return Call("ops/quantize_f32_s8.c.j2", values)
        assert inp.quant
        values["input_offset"] = -inp.quant.zero_point
        values["quant"] = quantize_multiplier(inp.quant.scale / out.quant.scale)
        return Call("ops/requantize_s8.c.j2", values)


@register
class Dequantize(Kernel):
    """int8 model outputs back to float32."""

    op_types = ("DEQUANTIZE",)

    def check(self, op: Operator) -> None:
        inp, out = op.input(0), op.outputs[0]
        require_int8(op, inp)
        require_per_tensor(inp)
        if out.dtype != "float32":
            raise Unsupported(f"DEQUANTIZE to {out.dtype}; float32 output expected")

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp = op.input(0)
        assert inp.quant
        values = flat_values(op, ctx)
        values["scale"] = inp.quant.scale
        values["zero_point"] = inp.quant.zero_point
        return Call("ops/dequantize_s8_f32.c.j2", values)
