"""PAD, PADV2 and CONCATENATION (int8 or int16, rank <= 4): tm_pad_s8/_s16 and tm_concat_s8/_s16 keep every value
as it is."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, dims4, register
from tinyml.kernels.portable import int16
from tinyml.ops.shape import concat_axis, concat_inputs, pad_value, paddings


@register
class Pad(Kernel):
    op_types = ("PAD", "PADV2")

    def check(self, op: Operator) -> None:
        if int16.applies(op):
            int16.check(op, self)
        else:
            self.require_int8(op)
        dims4(op.input(0).shape)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        before = tuple(int(b) for b in paddings(op)[:, 0])
        return Call(
            f"ops/pad_{int16.suffix(op)}.c.j2",
            {
                "before": (0,) * (4 - len(before)) + before,
                "value": pad_value(op),
                "input_dims": dims4(inp.shape),
                "output_dims": dims4(out.shape),
                "input": ctx.tensor(inp),
                "output": ctx.tensor(out),
            },
        )


@register
class Concatenation(Kernel):
    op_types = ("CONCATENATION",)

    def check(self, op: Operator) -> None:
        if int16.applies(op):
            int16.check(op, self)
        else:
            self.require_int8(op)
        dims4(op.outputs[0].shape)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        out = op.outputs[0]
        axis = 4 - len(out.shape) + concat_axis(op)  # as an index into the right-aligned (n, h, w, c) dims
        parts, offset = [], 0
        for t in concat_inputs(op):
            dims = dims4(t.shape)
            parts.append({"dims": dims, "offset": offset, "input": ctx.tensor(t)})
            offset += dims[axis]
        return Call(
            f"ops/concat_{int16.suffix(op)}.c.j2",
            {"axis": axis, "parts": parts, "output_dims": dims4(out.shape), "output": ctx.tensor(out)},
        )
