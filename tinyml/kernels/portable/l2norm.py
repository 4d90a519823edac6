"""L2_NORMALIZATION (int8): tm_l2_normalization_s8 over rows of the last axis, in place when the input dies."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, InPlace, Kernel, register
from tinyml.ops.base import quant


@register
class L2Normalization(Kernel):
    op_types = ("L2_NORMALIZATION",)

    def in_place(self, op: Operator) -> InPlace | None:
        """A row's values are all read (for the norm) before the first is written, and each output element
        is written only after its own input was read again."""
        return InPlace(0, 0)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        depth = inp.shape[-1]
        rows = (inp.num_elements // depth, 1, 1, depth)
        values = {
            "input_offset": -quant(inp).zero_point,
            "input_dims": rows,
            "output_dims": rows,
            "input": ctx.tensor(inp),
            "output": ctx.tensor(out),
            "scratch": ctx.scratch,
        }
        return Call("ops/l2_normalization_s8.c.j2", values)
