"""SOFTMAX and LOGISTIC (int8): exp-based activations in TFLite Micro's fixed-point arithmetic.

Both take an int8 input to a fixed-point format with a multiplier derived from
the input scale (and softmax's beta) at compile time (`tinyml.ops.requant`),
then evaluate exp / the logistic function exactly as TFLM's gemmlowp code does
(`tm_fixedpoint.h`). int16 SOFTMAX (tm_softmax_s16) interpolates in TFLM's exp
and reciprocal tables, computed at compile time (`tinyml.ops.softmax16`) and
placed in flash; it caches exps in its output, so it may run in place.
"""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT16
from tinyml.kernels.base import Call, EmitContext, InPlace, Kernel, register
from tinyml.kernels.portable import int16
from tinyml.kernels.portable.unary import sigmoid_s16_call
from tinyml.ops.requant import logistic_params, softmax_params
from tinyml.ops.softmax16 import exp_lut, one_over_one_plus_x_lut, softmax_s16_params


def softmax_s16_tables(ctx: EmitContext) -> tuple[str, str]:
    """TFLM's two int16 softmax tables as flash constants (shared by every int16 SOFTMAX of the model)."""
    return ctx.const("softmax_exp", exp_lut(), "int16_t"), ctx.const(
        "softmax_recip", one_over_one_plus_x_lut(), "int16_t"
    )


@register
class Softmax(Kernel):
    op_types = ("SOFTMAX",)

    def check(self, op: Operator) -> None:
        if op.input(0).type == INT16:
            int16.check(op, self)
        else:
            self.require_int8(op)

    def in_place(self, op: Operator) -> InPlace | None:
        """int16 only: the int8 kernel reads each row's inputs again after writing outputs."""
        return InPlace(0, 0) if op.input(0).type == INT16 else None

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        depth = inp.shape[-1]
        rows = (inp.num_elements // depth, 1, 1, depth)
        if inp.type == INT16:
            p16 = softmax_s16_params(op, op.attrs.beta)
            exp_table, recip_table = softmax_s16_tables(ctx)
            return Call(
                "ops/softmax_s16.c.j2",
                {
                    "exp_lut": exp_table,
                    "one_over_one_plus_x_lut": recip_table,
                    "multiplier": p16.multiplier,
                    "shift": p16.shift,
                    "input_dims": rows,
                    "output_dims": rows,
                    "input": ctx.tensor(inp),
                    "output": ctx.tensor(out),
                    "scratch": ctx.scratch,
                },
            )
        p = softmax_params(op)
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
