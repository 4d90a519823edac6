"""ARG_MAX and ARG_MIN (int8 input, int32 index): tm_arg_min_max_s8 over the input seen as [outer][axis][inner]."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, register
from tinyml.ops.argminmax import ArgMinMax as ArgMinMaxDef
from tinyml.ops.base import definition


@register
class ArgMinMax(Kernel):
    op_types = ("ARG_MAX", "ARG_MIN")

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        d = definition(op)
        assert isinstance(d, ArgMinMaxDef)
        outer, axis, inner = d.split(op)
        values = {
            "select_max": int(op.type == "ARG_MAX"),
            "input_dims": (1, outer, axis, inner),
            "output_dims": (1, 1, outer, inner),
            "input": ctx.tensor(op.input(0)),
            "output": ctx.tensor(op.outputs[0]),
            "scratch": ctx.scratch,
        }
        return Call("ops/arg_min_max_s8.c.j2", values)
