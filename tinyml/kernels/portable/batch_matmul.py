"""BATCH_MATMUL (int8, per-tensor): tm_batch_matmul_s8, which reads both operands in place with strides. A constant
operand goes to flash already in the layout whose depth is contiguous (rhs as (cols, depth), lhs as (rows, depth)):
the compile-time twin of TFLite Micro transposing a constant rhs once at its first run."""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator, Tensor
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported, register
from tinyml.kernels.portable.elementwise import broadcast_dims
from tinyml.ops.base import Role
from tinyml.ops.batch_matmul import batch_matmul_requant, matmul_shape

Pair = tuple[int, int]


def batch_groups(op: Operator) -> tuple[Pair, Pair, Pair]:
    """The batch dims of lhs, rhs and output merged into two (adjacent dims that broadcast alike merge), which the
    kernel's n and h carry; `Unsupported` when three remain."""
    s = matmul_shape(op)
    groups = broadcast_dims(s.lhs_batch, s.rhs_batch, s.out_batch)
    if any(g[:2] != (1, 1) for g in groups):
        raise Unsupported(
            f"batch dimensions {s.lhs_batch} and {s.rhs_batch} broadcast in three alternating groups; the "
            "BATCH_MATMUL kernels take two"
        )
    lhs, rhs, out = (g[2:] for g in groups)
    return lhs, rhs, out  # type: ignore[return-value]


def stored_transposed(op: Operator) -> tuple[bool, bool]:
    """(adj_x, adj_y) as the kernel sees them: a constant operand is stored with its depth contiguous."""
    lhs, rhs, a = op.input(0), op.input(1), op.attrs
    return (a.adj_x and not lhs.is_const), (a.adj_y or rhs.is_const)


def _operand(ctx: EmitContext, t: Tensor, hint: str, swap: bool) -> str:
    """The operand's C expression: the tensor itself, or a constant stored with its last two axes swapped."""
    if not swap:
        return ctx.tensor(t)
    assert t.data is not None
    return ctx.const(hint, np.ascontiguousarray(np.swapaxes(t.data, -1, -2)), "int8_t", Role.WEIGHTS)


def batch_matmul_values(op: Operator, ctx: EmitContext) -> dict[str, object]:
    """Template values: offsets, the one rescaling, the merged batch dims with each matrix as stored, and data."""
    lhs, rhs, out = op.input(0), op.input(1), op.outputs[0]
    r, s = batch_matmul_requant(op), matmul_shape(op)
    lhs_batch, rhs_batch, out_batch = batch_groups(op)
    adj_x, adj_y = stored_transposed(op)
    return {
        "lhs_offset": r.lhs_offset,
        "rhs_offset": r.rhs_offset,
        "output_offset": r.output_offset,
        "adj_x": int(adj_x),
        "adj_y": int(adj_y),
        "act": r.act,
        "multiplier": r.multiplier,
        "shift": r.shift,
        "lhs_dims": (*lhs_batch, *((s.depth, s.rows) if adj_x else (s.rows, s.depth))),
        "rhs_dims": (*rhs_batch, *((s.cols, s.depth) if adj_y else (s.depth, s.cols))),
        "output_dims": (*out_batch, s.rows, s.cols),
        "lhs": _operand(ctx, lhs, "lhs", op.attrs.adj_x != adj_x),
        "rhs": _operand(ctx, rhs, "rhs", op.attrs.adj_y != adj_y),
        "output": ctx.tensor(out),
        "scratch": ctx.scratch,
    }


def batch_matmul_features(op: Operator) -> dict[str, int]:
    """What tm_batch_matmul_s8's loops iterate over, for the cost model: products (those read with a stride
    apart), output values."""
    macs = op.outputs[0].num_elements * matmul_shape(op).depth
    adj_x, adj_y = stored_transposed(op)
    return {
        "calls": 1,
        "macs": macs,
        "strided_macs": macs if adj_x or not adj_y else 0,
        "outputs": op.outputs[0].num_elements,
    }


@register
class BatchMatMul(Kernel):
    op_types = ("BATCH_MATMUL",)

    def check(self, op: Operator) -> None:
        self.require_int8(op)
        batch_groups(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("ops/batch_matmul_s8.c.j2", batch_matmul_values(op, ctx))
