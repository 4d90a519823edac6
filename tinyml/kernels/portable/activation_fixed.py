"""SOFTMAX and LOGISTIC (int8): exp-based activations in TFLite Micro's fixed-point arithmetic.

Both take an int8 input to a fixed-point format with a multiplier derived from
the input scale (and softmax's beta) at compile time (`tinyml.ops.requant`),
then evaluate exp / the logistic function exactly as TFLM's gemmlowp code does
(`tm_fixedpoint.h`).
"""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT16
from tinyml.kernels.base import Call, EmitContext, Kernel, register
from tinyml.kernels.portable.unary import sigmoid_s16_call
from tinyml.ops.requant import logistic_params, softmax_params


@register
class Softmax(Kernel):
    op_types = ("SOFTMAX",)

    def check(self, op: Operator) -> None:
        self.require_int8(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        p = softmax_params(op)
        depth = inp.shape[-1]
        rows = (inp.num_elements // depth, 1, 1, depth)
        values = {
            "diff_min": p.diff_min,
            "multiplier": p.multiplier,
            "shift": p.shift,
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
        if op.input(0).type != INT16:  # int16 runs tm_sigmoid_s16, as int16 TANH does
            self.require_int8(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        if op.input(0).type == INT16:
            return sigmoid_s16_call(op, ctx)
        inp, out = op.input(0), op.outputs[0]
        p = logistic_params(op)
        flat = (1, 1, 1, inp.num_elements)
        values = {
            "input_offset": p.input_offset,
            "radius": p.radius,
            "multiplier": p.multiplier,
            "shift": p.shift,
            "input_dims": flat,
            "output_dims": flat,
            "input": ctx.tensor(inp),
            "output": ctx.tensor(out),
            "scratch": ctx.scratch,
        }
        return Call("ops/logistic_s8.c.j2", values)
