"""MEAN (int8) over any set of axes that is contiguous once size-1 dims are ignored."""

from __future__ import annotations

import math

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported, register, require_int8, require_per_tensor
from tinyml.ops.fixedpoint import mean_multiplier

#: largest reduction whose int32 sum (with the folded zero-point term) cannot overflow
MAX_COUNT = 1 << 23


def _mean_view(op: Operator) -> tuple[int, int, int]:
    """(outer, count, inner): the input seen as [outer, count, inner] with the reduced elements in the middle.

    Size-1 dims can sit anywhere without moving data, so the reduced axes need
    only be adjacent among the others; then the C kernel's h*w reduction of an
    (outer, 1, count, inner) tensor computes any such MEAN.
    """
    inp, axes_t = op.input(0), op.input(1)
    if axes_t.data is None:
        raise Unsupported("axes computed at run time")
    if axes_t.dtype != "int32":
        raise Unsupported(f"axes of type {axes_t.dtype}; int32 expected")
    rank = len(inp.shape)
    axes = set()
    for a in axes_t.data.reshape(-1).tolist():
        if not -rank <= a < rank:
            raise Unsupported(f"axis {a} of a rank {rank} input")
        axes.add(a % rank)
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
        inp, out = op.input(0), op.outputs[0]
        require_int8(op, inp, out)
        require_per_tensor(inp)
        require_per_tensor(out)
        if not inp.shape or not inp.num_elements:
            raise Unsupported(f"MEAN of an empty or scalar tensor {inp.shape}")
        outer, count, inner = _mean_view(op)
        if count > MAX_COUNT:
            raise Unsupported(f"MEAN over {count} elements (at most {MAX_COUNT})")
        if out.num_elements != outer * inner:
            raise Unsupported(f"output shape {out.shape} does not match MEAN of {inp.shape}")

    def macs(self, op: Operator) -> int:
        return op.input(0).num_elements

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        assert inp.quant and out.quant
        outer, count, inner = _mean_view(op)
        multiplier, shift = mean_multiplier(inp.quant.scale, out.quant.scale, count)
        return Call(
            "ops/mean_s8.c.j2",
            {
                "sum_offset": -inp.quant.zero_point * count,
                "output_offset": out.quant.zero_point,
                "multiplier": multiplier,
                "shift": shift,
                "input_dims": (outer, 1, count, inner),
                "output_dims": (outer, 1, 1, inner),
                "input": ctx.tensor(inp),
                "output": ctx.tensor(out),
            },
        )
