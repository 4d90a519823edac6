"""MEAN (int8 or int16) over any set of axes that is contiguous once size-1 dims are ignored: tm_mean_s8,
tm_mean_s16."""

from __future__ import annotations

import math

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported, register
from tinyml.kernels.portable import int16
from tinyml.ops.reduce import reduced_axes
from tinyml.ops.requant import mean_params

#: largest reduction whose int32 sum (with the folded zero-point term) cannot overflow
MAX_COUNT = 1 << 23


def _mean_view(op: Operator) -> tuple[int, int, int]:
    """(outer, count, inner): the input seen as [outer, count, inner] with the reduced elements in the middle.

    Size-1 dims can sit anywhere without moving data, so the reduced axes need
    only be adjacent among the others; then the C kernel's h*w reduction of an
    (outer, 1, count, inner) tensor computes any such MEAN.
    """
    inp = op.input(0)
    axes = reduced_axes(op)
    rank = len(inp.shape)
    big = [d for d in range(rank) if inp.shape[d] != 1]
    reduced = [i for i, d in enumerate(big) if d in axes]
    if reduced and reduced != list(range(reduced[0], reduced[-1] + 1)):
        raise Unsupported(f"MEAN over axes {sorted(axes)} of shape {inp.shape}: the reduced dims are not adjacent")
    count = math.prod(inp.shape[d] for d in axes)
    if not reduced:
        return inp.num_elements, count, 1
    outer = math.prod(inp.shape[d] for d in big[: reduced[0]])
    inner = math.prod(inp.shape[d] for d in big[reduced[-1] + 1 :])
    return outer, count, inner


@register
class Mean(Kernel):
    op_types = ("MEAN",)

    def check(self, op: Operator) -> None:
        if int16.applies(op):
            int16.check(op, self)
        else:
            self.require_int8(op)
        _, count, _ = _mean_view(op)
        limit = MAX_COUNT >> 8 if int16.applies(op) else MAX_COUNT  # int16 values take 8 more bits of the sum
        if count > limit:
            raise Unsupported(f"MEAN over {count} elements (at most {limit})")

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        outer, count, inner = _mean_view(op)
        p = mean_params(op, count)
        return Call(
            f"ops/mean_{int16.suffix(op)}.c.j2",
            {
                "sum_offset": p.sum_offset,
                "output_offset": p.output_offset,
                "multiplier": p.multiplier,
                "shift": p.shift,
                "input_dims": (outer, 1, count, inner),
                "output_dims": (outer, 1, 1, inner),
                "input": ctx.tensor(inp),
                "output": ctx.tensor(out),
            },
        )
