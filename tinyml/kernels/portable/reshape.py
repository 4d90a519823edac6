"""RESHAPE and SQUEEZE/EXPAND_DIMS: views that share their input's memory, so no code."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported, register


@register
class Reshape(Kernel):
    op_types = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")

    def check(self, op: Operator) -> None:
        """A view of packed data must keep its packing: the same element type and level."""
        inp, out = op.input(0), op.outputs[0]
        level = (inp.quant.level if inp.quant else 0, out.quant.level if out.quant else 0)
        if (inp.type.sub_byte or out.type.sub_byte) and (inp.type != out.type or level[0] != level[1]):
            raise Unsupported(
                f"tensors {inp.name!r} ({inp.type}) and {out.name!r} ({out.type}) are packed differently; "
                f"a {op.type} view keeps its input's packing"
            )

    def alias_input(self, op: Operator) -> int | None:
        return 0

    def emit(self, op: Operator, ctx: EmitContext) -> Call | None:
        return None
