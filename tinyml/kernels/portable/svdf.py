"""SVDF (int8 input, int16 or int8 state): tm_svdf_s16 and tm_svdf_s8, which update the state in its persistent
buffer."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT16
from tinyml.kernels.base import Call, EmitContext, Kernel, register
from tinyml.ops.svdf import svdf_params, svdf_shape


def svdf_values(op: Operator, ctx: EmitContext) -> dict[str, object]:
    """Template values every SVDF kernel family shares: sizes, zero points, the two rescalings and the data."""
    s, p = svdf_shape(op), svdf_params(op)
    inp, wf, wt, bias, state, out = (*op.inputs[:5], op.outputs[0])
    assert inp is not None and wf is not None and wt is not None and bias is not None and state is not None
    return {
        "rank": s.rank,
        "input_offset": p.input_offset,
        "state_offset": p.state_zero_point,
        "output_offset": p.output_offset,
        "feature_quant": p.feature_quant,
        "time_quant": p.time_quant,
        "batches": s.batches,
        "input_size": s.input_size,
        "filters": s.filters,
        "memory": s.memory,
        "units": s.units,
        "state_ctype": state.type.c_type,
        "input": ctx.tensor(inp),
        "weights_feature": ctx.tensor(wf),
        "weights_time": ctx.tensor(wt),
        "bias": ctx.tensor(bias),
        "state": ctx.tensor(state),
        "output": ctx.tensor(out),
        "scratch": ctx.scratch,
    }


@register
class Svdf(Kernel):
    op_types = ("SVDF",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        values = svdf_values(op, ctx)
        values["suffix"] = "s16" if op.input(4).type == INT16 else "s8"
        return Call("ops/svdf.c.j2", values)
