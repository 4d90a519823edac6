"""LOG_SOFTMAX (int8): tm_log_softmax_s8 with the multipliers TFLite Micro's prepare computes, found at compile time."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, register
from tinyml.ops.logsoftmax import log_softmax_params


@register
class LogSoftmax(Kernel):
    op_types = ("LOG_SOFTMAX",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        p = log_softmax_params(op)
        depth = inp.shape[-1]
        rows = (inp.num_elements // depth, 1, 1, depth)
        values = {
            "diff_min": p.diff_min,
            "reverse_multiplier": p.reverse_multiplier,
            "reverse_shift": p.reverse_shift,
            "multiplier": p.multiplier,
            "shift": p.shift,
            "input_dims": rows,
            "output_dims": rows,
            "input": ctx.tensor(inp),
            "output": ctx.tensor(out),
            "scratch": ctx.scratch,
        }
        return Call("ops/log_softmax_s8.c.j2", values)
