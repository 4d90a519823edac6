"""UNIDIRECTIONAL_SEQUENCE_LSTM (int8, int16 cell state): tm_lstm_s8, which updates the hidden and cell states in
their persistent buffer."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, register
from tinyml.ops.lstm import (
    BIASES,
    CELL_STATE,
    HIDDEN_STATE,
    INPUT_WEIGHTS,
    RECURRENT_WEIGHTS,
    lstm_params,
    lstm_shape,
    sigmoid_table,
)


@register
class UnidirectionalSequenceLstm(Kernel):
    op_types = ("UNIDIRECTIONAL_SEQUENCE_LSTM",)

    def scratch_bytes(self, op: Operator) -> int:
        """Three int16 gate vectors (forget, input then output, cell), as tm_lstm_s8_get_buffer_size."""
        return 3 * lstm_shape(op).units * 2

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        s, p = lstm_shape(op), lstm_params(op)
        values = {
            "batches": s.batches,
            "steps": s.steps,
            "input_size": s.input_size,
            "units": s.units,
            "time_major": int(op.attrs.time_major),
            "p": p,
            "input_weights": [ctx.tensor(op.input(i)) for i in INPUT_WEIGHTS],
            "recurrent_weights": [ctx.tensor(op.input(i)) for i in RECURRENT_WEIGHTS],
            "biases": [ctx.tensor(op.input(i)) for i in BIASES],
            "table": ctx.const("sigmoid_table", sigmoid_table(), "uint16_t"),
            "input": ctx.tensor(op.input(0)),
            "hidden": ctx.tensor(op.input(HIDDEN_STATE)),
            "cell": ctx.tensor(op.input(CELL_STATE)),
            "output": ctx.tensor(op.outputs[0]),
            "scratch": ctx.scratch,
            "scratch_bytes": self.scratch_bytes(op),
        }
        return Call("ops/lstm_s8.c.j2", values)
