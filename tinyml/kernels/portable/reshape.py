"""RESHAPE and SQUEEZE/EXPAND_DIMS: views that share their input's memory, so no code."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, register


@register
class Reshape(Kernel):
    op_types = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")

    def alias_input(self, op: Operator) -> int | None:
        return 0

    def emit(self, op: Operator, ctx: EmitContext) -> Call | None:
        return None
