"""FULLY_CONNECTED (int8 activations): tm_fully_connected_s8 and its per-channel twin for int8 weights, and
tm_fully_connected_s4 for per-tensor int4 weights, read packed two to a byte as flash holds them. Packed activations
and 2-bit weights take the sub-byte kernel (tinyml.kernels.portable.subbyte)."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT4, INT8
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported, packed_weights, register
from tinyml.kernels.portable import int16, subbyte
from tinyml.ops.base import Role
from tinyml.ops.requant import conv_requant


@register
class FullyConnected(Kernel):
    op_types = ("FULLY_CONNECTED",)

    def check(self, op: Operator) -> None:
        if int16.applies(op):
            int16.check(op, self)
            return
        if subbyte.applies(op):
            subbyte.check(op, self)
            return
        self.require_int8(op, weights=(INT8, INT4))
        require_per_tensor_int4(self, op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        if int16.applies(op):
            return int16.fc_call(op, ctx)
        if subbyte.applies(op):
            return subbyte.fc_call(op, ctx)
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        units, depth = w.shape
        batches = inp.num_elements // depth
        r = conv_requant(op)
        values: dict[str, object] = {
            "input_offset": r.input_offset,
            "filter_offset": r.weights_offset,
            "output_offset": r.output_offset,
            "act": r.act,
            "per_channel": r.per_channel,
            "input_dims": (batches, 1, 1, depth),
            "filter_dims": (units, 1, 1, depth),
            "bias_dims": (1, 1, 1, units),
            "output_dims": (batches, 1, 1, units),
            "input": ctx.tensor(inp),
            "filter": ctx.tensor(w),
            "bias": ctx.const("bias", r.folded_bias, "int32_t", Role.BIAS),
            "output": ctx.tensor(out),
            "scratch": ctx.scratch,
        }
        if r.per_channel:
            values["multiplier"] = ctx.const("mult", r.multipliers, "int32_t")
            values["shift"] = ctx.const("shift", r.shifts, "int32_t")
        else:
            values["multiplier"], values["shift"] = int(r.multipliers[0]), int(r.shifts[0])
        return Call("ops/fully_connected_s4.c.j2" if packed_weights(op) else "ops/fully_connected_s8.c.j2", values)


def require_per_tensor_int4(kernel: Kernel, op: Operator) -> None:
    """Refuse int4 fully connected weights with a scale per unit: TFLite Micro runs per-tensor ones only, so
    neither it nor CMSIS-NN could check or run them."""
    w = op.input(1)
    if packed_weights(op) and w.quant is not None and w.quant.per_channel:
        raise Unsupported(
            f"tensor {w.name!r} is int4 with a scale per unit; the {kernel.label} {op.type} kernel takes "
            "per-tensor int4 weights (the only int4 form TFLite Micro runs)"
        )
