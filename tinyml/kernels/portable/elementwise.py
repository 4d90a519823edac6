"""ADD and MUL (int8, per-tensor), with broadcasting of either operand and fused activations: tm_add_s8, tm_mul_s8."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, InPlace, Kernel, Unsupported, register
from tinyml.kernels.portable import int16, subbyte
from tinyml.ops.binary import DifferenceRequant
from tinyml.ops.requant import ADD_LEFT_SHIFT, BinaryRequant, add_requant, mul_requant

Dims4 = tuple[int, int, int, int]


def broadcast_dims(a: tuple[int, ...], b: tuple[int, ...], out: tuple[int, ...]) -> tuple[Dims4, Dims4, Dims4]:
    """4-D dims for both operands and the output, with adjacent dims that broadcast alike merged.

    Merging keeps the element order, so the kernel sees the same data; it turns
    equal shapes into one flat run and makes the innermost (contiguous) loop of
    a broadcast as long as possible. Shapes of any rank are fine as long as at
    most four groups remain.
    """
    rank = max(len(a), len(b), len(out))
    pa, pb, po = ((1,) * (rank - len(s)) + tuple(s) for s in (a, b, out))
    groups: list[list[int]] = []  # [extent a, extent b, extent out] per merged dim
    patterns: list[tuple[bool, bool]] = []
    for da, db, do in zip(pa, pb, po, strict=True):
        if da not in (1, do) or db not in (1, do) or do != max(da, db):
            raise Unsupported(f"shapes {a} and {b} do not broadcast to {out}")
        if do == 1:
            continue
        pattern = (da == 1, db == 1)
        if patterns and patterns[-1] == pattern:
            groups[-1] = [groups[-1][0] * da, groups[-1][1] * db, groups[-1][2] * do]
        else:
            groups.append([da, db, do])
            patterns.append(pattern)
    if len(groups) > 4:
        raise Unsupported(f"broadcasting {a} with {b} needs {len(groups)} dims (at most 4)")
    groups = [[1, 1, 1]] * (4 - len(groups)) + groups
    da4, db4, do4 = (tuple(g[i] for g in groups) for i in range(3))
    return da4, db4, do4  # type: ignore[return-value]


def broadcast_values(op: Operator, ctx: EmitContext) -> dict[str, object]:
    """Merged 4-D dims and data pointers of both operands and the output, and the scratch pointer: what every
    broadcasting binary kernel's template takes."""
    in1, in2, out = op.input(0), op.input(1), op.outputs[0]
    dims1, dims2, dims_out = broadcast_dims(in1.shape, in2.shape, out.shape)
    return {
        "input1_dims": dims1,
        "input2_dims": dims2,
        "output_dims": dims_out,
        "input1": ctx.tensor(in1),
        "input2": ctx.tensor(in2),
        "output": ctx.tensor(out),
        "scratch": ctx.scratch,
    }


def binary_values(op: Operator, ctx: EmitContext, r: BinaryRequant | DifferenceRequant) -> dict[str, object]:
    """Template values ADD, MUL, SUB and SQUARED_DIFFERENCE share, in every kernel family: offsets, clamp,
    merged dims and data."""
    return {
        **broadcast_values(op, ctx),
        "input1_offset": r.input1_offset,
        "input2_offset": r.input2_offset,
        "output_offset": r.output_offset,
        "act": r.act,
    }


def add_values(op: Operator, ctx: EmitContext) -> dict[str, object]:
    """ADD's template values: TFLM's scheme of per-input multipliers on a 2^20-shifted common scale."""
    r = add_requant(op)
    return {**binary_values(op, ctx, r), "left_shift": ADD_LEFT_SHIFT, "quant": list(r.quant)}


def mul_values(op: Operator, ctx: EmitContext) -> dict[str, object]:
    """MUL's template values: one multiplier, in1_scale * in2_scale / out_scale."""
    r = mul_requant(op)
    return {**binary_values(op, ctx, r), "quant": r.quant[0]}


def same_shape_input(op: Operator) -> InPlace | None:
    """Elementwise kernels read element i of each input before writing element i of the output, in
    increasing order, so the output may overwrite an input of its own shape (not a broadcast one)."""
    for k in (0, 1):
        if op.input(k).num_elements == op.outputs[0].num_elements and op.input(k).type == op.outputs[0].type:
            return InPlace(k, 0)
    return None


class BroadcastKernel(Kernel):
    """A binary kernel whose operands broadcast to the output in at most four merged dims, running in place over
    an operand of the output's shape."""

    def check(self, op: Operator) -> None:
        self.check_types(op)
        broadcast_dims(op.input(0).shape, op.input(1).shape, op.outputs[0].shape)

    def check_types(self, op: Operator) -> None:
        """int8 operands and output (a kernel taking other types widens this)."""
        self.require_int8(op)

    def in_place(self, op: Operator) -> InPlace | None:
        return same_shape_input(op)


class _Binary(BroadcastKernel):
    def check_types(self, op: Operator) -> None:
        if int16.applies(op):
            int16.check(op, self)
        elif op.type == "ADD" and subbyte.applies(op):
            subbyte.check(op, self)
        else:
            super().check_types(op)


@register
class Add(_Binary):
    op_types = ("ADD",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        if int16.applies(op):
            return int16.add_call(op, ctx)
        if subbyte.applies(op):
            return subbyte.add_call(op, ctx, add_values(op, ctx))
        return Call("ops/add_s8.c.j2", add_values(op, ctx))


@register
class Mul(_Binary):
    op_types = ("MUL",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        if int16.applies(op):
            return int16.mul_call(op, ctx)
        return Call("ops/mul_s8.c.j2", mul_values(op, ctx))
