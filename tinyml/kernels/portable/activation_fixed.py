"""SOFTMAX and LOGISTIC (int8): exp-based activations in TFLite Micro's fixed-point arithmetic.

Both take an int8 input to a fixed-point format with a multiplier derived from
the input scale (and softmax's beta) at compile time, then evaluate exp / the
logistic function exactly as TFLM's gemmlowp code does (`tm_fixedpoint.h`).
TFLM fixes the output at scale 1/256, zero point -128.
"""

from __future__ import annotations

from tinyml.ir.graph import Operator, Tensor
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported, register, require_int8, require_per_tensor
from tinyml.ops.fixedpoint import calculate_input_radius, logistic_input_scaling, preprocess_softmax_scaling

#: the Q-format integer bits TFLM's int8 softmax uses for beta * scale * (x - max)
SOFTMAX_DIFF_INTEGER_BITS = 5


def _require_probability_output(out: Tensor) -> None:
    """TFLM's int8 SOFTMAX/LOGISTIC compute in units of 1/256 from -128, whatever the tensor claims."""
    assert out.quant is not None
    if out.quant.zero_point != -128 or out.quant.scale != 1 / 256:
        raise Unsupported(
            f"output quantization scale {out.quant.scale:g}, zero point {out.quant.zero_point}; "
            "int8 output must have scale 1/256 and zero point -128"
        )


def _softmax_scaling(op: Operator) -> tuple[int, int, int]:
    """(multiplier, left shift, diff_min), as TFLM's SoftmaxPrepare computes them."""
    inp = op.input(0)
    assert inp.quant is not None
    try:
        mult, shift = preprocess_softmax_scaling(
            float(op.attrs.get("beta", 0.0)), inp.quant.scale, SOFTMAX_DIFF_INTEGER_BITS
        )
    except ValueError as e:
        raise Unsupported(str(e)) from None
    return mult, shift, -calculate_input_radius(SOFTMAX_DIFF_INTEGER_BITS, shift)


@register
class Softmax(Kernel):
    op_types = ("SOFTMAX",)

    def check(self, op: Operator) -> None:
        inp, out = op.input(0), op.outputs[0]
        if inp.dtype == "int8" and out.dtype == "int16":
            raise Unsupported("int8 input with int16 output")
        require_int8(op, inp, out)
        require_per_tensor(inp)
        require_per_tensor(out)
        if not inp.shape or inp.num_elements == 0 or inp.shape != out.shape:
            raise Unsupported(f"softmax of shape {inp.shape} to {out.shape}")
        _require_probability_output(out)
        _softmax_scaling(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        mult, shift, diff_min = _softmax_scaling(op)
        depth = inp.shape[-1]
        rows = (inp.num_elements // depth, 1, 1, depth)
        values = {
            "diff_min": diff_min,
            "multiplier": mult,
            "shift": shift,
            "input_dims": rows,
            "output_dims": rows,
            "input": ctx.tensor(inp),
            "output": ctx.tensor(out),
            "scratch": ctx.scratch,
        }
        return Call("ops/softmax_s8.c.j2", values)


@register
class Logistic(Kernel):
    op_types = ("LOGISTIC",)

    def check(self, op: Operator) -> None:
        inp, out = op.input(0), op.outputs[0]
        require_int8(op, inp, out)
        require_per_tensor(inp)
        require_per_tensor(out)
        if inp.num_elements != out.num_elements:
            raise Unsupported(f"logistic of shape {inp.shape} to {out.shape}")
        _require_probability_output(out)
        assert inp.quant is not None
        try:
            logistic_input_scaling(inp.quant.scale)
        except ValueError as e:
            raise Unsupported(str(e)) from None

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        assert inp.quant is not None
        mult, shift, radius = logistic_input_scaling(inp.quant.scale)
        flat = (1, 1, 1, inp.num_elements)
        values = {
            "input_offset": -inp.quant.zero_point,
            "radius": radius,
            "multiplier": mult,
            "shift": shift,
            "input_dims": flat,
            "output_dims": flat,
            "input": ctx.tensor(inp),
            "output": ctx.tensor(out),
            "scratch": ctx.scratch,
        }
        return Call("ops/logistic_s8.c.j2", values)
