"""RELU and RELU6 as standalone ops (int8), for activations the converter could not fuse."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, flat_values, register, require_int8, require_per_tensor
from tinyml.ops.fixedpoint import INT8_MAX, INT8_MIN, f32, quantize_multiplier, quantize_scalar


def _check_unary(op: Operator) -> None:
    inp, out = op.input(0), op.outputs[0]
    require_int8(op, inp, out)
    require_per_tensor(inp)
    require_per_tensor(out)


@register
class Relu(Kernel):
    """TFLM requantizes to the output scale (the converter often halves it) and clamps at the output's zero."""

    op_types = ("RELU",)

    def check(self, op: Operator) -> None:
        _check_unary(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        assert inp.quant and out.quant
        values = flat_values(op, ctx)
        values["input_offset"] = -inp.quant.zero_point
        values["output_offset"] = out.quant.zero_point
        # CalculateReluOpData divides the scales in float32 before widening to double
        values["quant"] = quantize_multiplier(f32(f32(inp.quant.scale) / f32(out.quant.scale)))
        values["act"] = (max(INT8_MIN, out.quant.zero_point), INT8_MAX)
        return Call("ops/relu_s8.c.j2", values)


@register
class Relu6(Kernel):
    """TFLM clamps to [0, 6] in the input's quantization and ignores the output's, even when it differs."""

    op_types = ("RELU6",)

    def check(self, op: Operator) -> None:
        _check_unary(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp = op.input(0)
        assert inp.quant
        values = flat_values(op, ctx)
        values["zero"] = inp.quant.zero_point
        values["six"] = min(INT8_MAX, max(INT8_MIN, quantize_scalar(6.0, inp.quant)))
        return Call("ops/relu6_s8.c.j2", values)
