"""RESHAPE and SQUEEZE/EXPAND_DIMS: views that share their input's memory."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported, register


@register
class Reshape(Kernel):
    op_types = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")

    def check(self, op: Operator) -> None:
        inp, out = op.input(0), op.outputs[0]
        if inp.num_elements != out.num_elements or inp.dtype != out.dtype:
            raise Unsupported(f"reshape of {inp.shape} {inp.dtype} to {out.shape} {out.dtype}")
        if inp.quant != out.quant:
            raise Unsupported("reshape that changes quantization")

    def alias_input(self, op: Operator) -> int | None:
        return 0

    def emit(self, op: Operator, ctx: EmitContext) -> Call | None:
        return None
