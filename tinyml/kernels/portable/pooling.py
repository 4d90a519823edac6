"""AVERAGE_POOL_2D and MAX_POOL_2D (int8): tm_avgpool2d_s8, tm_maxpool2d_s8."""

from __future__ import annotations

from typing import ClassVar

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported, register
from tinyml.kernels.portable import int16, subbyte
from tinyml.ops.base import window_of
from tinyml.ops.requant import fused_range


class _Pool2D(Kernel):
    """Shared template values; subclasses name the C function."""

    function: ClassVar[str]

    def check(self, op: Operator) -> None:
        if int16.applies(op):
            int16.check(op, self)
            return
        if not subbyte.applies(op):
            self.require_int8(op)
            return
        subbyte.check(op, self)
        inp, out = op.input(0), op.outputs[0]
        if inp.type != out.type or inp.quant.level != out.quant.level:  # type: ignore[union-attr]
            raise Unsupported(
                f"tensors {inp.name!r} and {out.name!r} are packed differently; the {self.label} {op.type} kernel "
                "keeps its input's packing"
            )

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        if int16.applies(op):
            return int16.pool_call(op, ctx, self.function)
        if subbyte.applies(op):
            return subbyte.pool_call(op, ctx, self.function.replace("_s8", "_sb"))
        inp, out = op.input(0), op.outputs[0]
        window = window_of(op)
        pad_h, pad_w = window.pad_hw
        return Call(
            "ops/pool2d_s8.c.j2",
            {
                "function": self.function,
                "stride": window.stride[::-1],
                "padding": (pad_w, pad_h),
                "act": fused_range(op),
                "input_dims": inp.shape,
                "filter_dims": (1, *window.kernel, 1),
                "output_dims": out.shape,
                "input": ctx.tensor(inp),
                "output": ctx.tensor(out),
            },
        )


@register
class AveragePool2D(_Pool2D):
    op_types = ("AVERAGE_POOL_2D",)
    function = "tm_avgpool2d_s8"


@register
class MaxPool2D(_Pool2D):
    op_types = ("MAX_POOL_2D",)
    function = "tm_maxpool2d_s8"
