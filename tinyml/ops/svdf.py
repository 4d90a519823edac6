"""SVDF (int8 input and feature weights, int16 or int8 state and time weights), as TFLite Micro's integer kernel.

A singular value decomposition filter: each inference projects its input onto `num_filters` feature filters,
appends the results to a per-filter memory of the last `memory_size` projections (the state, a variable tensor
that persists between inferences), filters that memory with the time weights and sums `rank` filters per unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT8, INT16, INT32
from tinyml.ops.arith import as_int64, multiply_by_quantized_multiplier, saturate, wrap_int32
from tinyml.ops.base import (
    ACTIVATIONS,
    Arrays,
    OpDef,
    Role,
    Unsupported,
    array,
    define,
    quant,
    require_arity,
    require_per_tensor,
    require_quantized,
)
from tinyml.ops.fixedpoint import f32, quantize_multiplier

#: the state (and time weights) types TFLite Micro's int8 SVDF runs
STATE_TYPES = (INT16, INT8)
#: TFLM's tolerance on bias scale == state scale * time weights scale
_BIAS_SCALE_TOLERANCE = 1e-5


@dataclass(frozen=True)
class SvdfAttrs:
    """TFLite's SVDFOptions."""

    rank: int = 1
    #: accepted but not applied: TFLite Micro's integer SVDF applies no fused activation (its float one does)
    activation: str = "NONE"

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> SvdfAttrs:
        return cls(rank=int(options.get("rank", 1)), activation=str(options.get("activation", "NONE")))


@dataclass(frozen=True)
class SvdfParams:
    """What TFLM's SVDF Prepare derives: the two rescalings and the zero points."""

    #: input x feature weights -> state
    feature_quant: tuple[int, int]
    #: state x time weights (+ bias) -> output
    time_quant: tuple[int, int]
    input_offset: int
    state_zero_point: int
    output_offset: int


@dataclass(frozen=True)
class SvdfShape:
    batches: int
    input_size: int
    filters: int
    units: int
    memory: int
    rank: int


def svdf_shape(op: Operator) -> SvdfShape:
    """The SVDF's sizes, from its input and weights."""
    batches, input_size = op.input(0).shape
    filters = op.input(1).shape[0]
    memory = op.input(2).shape[1]
    rank = op.attrs.rank
    return SvdfShape(batches, input_size, filters, filters // rank, memory, rank)


def svdf_params(op: Operator) -> SvdfParams:
    """TFLM's effective scales, computed as its Prepare does: float products and quotient, then QuantizeMultiplier
    of the double."""
    inp, wf, wt, state, out = op.input(0), op.input(1), op.input(2), op.input(4), op.outputs[0]
    s1 = f32(f32(quant(inp).scale * quant(wf).scale) / quant(state).scale)
    s2 = f32(f32(quant(state).scale * quant(wt).scale) / quant(out).scale)
    return SvdfParams(
        quantize_multiplier(s1),
        quantize_multiplier(s2),
        -quant(inp).zero_point,
        quant(state).zero_point,
        quant(out).zero_point,
    )


@define
class Svdf(OpDef):
    op_types = ("SVDF",)
    attrs_type = SvdfAttrs
    input_roles = (Role.FEATURE, Role.WEIGHTS, Role.WEIGHTS, Role.BIAS, Role.STATE)
    #: the feature weights are int8, the time weights int16 or int8 (as the state)
    weight_types = (INT8, INT16)
    weights_channel_axis = 0

    def validate(self, op: Operator) -> None:
        if len(op.inputs) == 5 and op.inputs[3] is None:
            raise Unsupported("SVDF without a bias (TFLite Micro's integer SVDF requires one)")
        require_arity(op, 5)
        inp, wf, wt, bias, state, out = op.input(0), op.input(1), op.input(2), op.input(3), op.input(4), op.outputs[0]
        require_quantized(inp, wf, out)
        require_quantized(wt, state, types=STATE_TYPES)
        require_per_tensor(inp, wf, wt, state, out)
        if wt.type != state.type:
            raise Unsupported(f"SVDF with {wt.type} time weights and {state.type} state (the same type expected)")
        if wf.data is None or wt.data is None or bias.data is None:
            raise Unsupported("SVDF weights or bias computed at run time")
        if not state.variable:
            raise Unsupported(f"SVDF state {state.name!r} is not a variable tensor")
        if bias.type != INT32:
            raise Unsupported(f"bias {bias.name!r} is {bias.type}; int32 expected")
        rank = op.attrs.rank
        if op.attrs.activation not in ACTIVATIONS:
            raise Unsupported(f"fused activation {op.attrs.activation}")
        if len(inp.shape) != 2 or len(wf.shape) != 2 or len(wt.shape) != 2:
            raise Unsupported(
                f"SVDF input {inp.shape}, feature weights {wf.shape}, time weights {wt.shape}: 2-D expected"
            )
        filters = wf.shape[0]
        if rank < 1 or filters % rank:
            raise Unsupported(f"SVDF rank {rank} does not divide {filters} filters")
        batches, input_size = inp.shape
        memory = wt.shape[1]
        if wf.shape[1] != input_size or wt.shape[0] != filters:
            raise Unsupported(
                f"SVDF feature weights {wf.shape} and time weights {wt.shape} do not match input {inp.shape}"
            )
        if tuple(state.shape) != (batches, memory * filters):
            raise Unsupported(f"SVDF state {state.shape}; {(batches, memory * filters)} expected")
        if bias.num_elements != filters // rank:
            raise Unsupported(f"bias {bias.name!r} has {bias.num_elements} values for {filters // rank} units")
        bias_scale = quant(bias).scale if bias.quant is not None else 0.0
        if abs(bias_scale - f32(quant(state).scale * quant(wt).scale)) >= _BIAS_SCALE_TOLERANCE:
            raise Unsupported("SVDF bias scale is not the state scale times the time weights scale")
        self.check_shapes(op)

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        s = svdf_shape(op)
        return [(s.batches, s.units)]

    def macs(self, op: Operator) -> int:
        s = svdf_shape(op)
        return s.batches * s.filters * (s.input_size + s.memory)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """TFLM's EvalIntegerSvdfReference: shift the state one step left, write each filter's rescaled (and
        clamped to the state type) projection into its newest slot, then per unit: bias + the time-weighted sum of
        its `rank` filters' memories, rescaled to the output. Updates the state array in place."""
        x, wf, wt, bias, state = (array(inputs, i) for i in range(5))
        s, p = svdf_shape(op), svdf_params(op)
        etype = op.input(4).type
        mem = state.reshape(s.batches, s.filters, s.memory)
        mem[:, :, :-1] = mem[:, :, 1:].copy()  # TFLM shifts the flat buffer; each newest slot is rewritten below
        acc = (as_int64(x) + p.input_offset) @ as_int64(wf).T
        projected = saturate(multiply_by_quantized_multiplier(wrap_int32(acc), *p.feature_quant), etype)
        mem[:, :, -1] = (as_int64(projected) + p.state_zero_point).astype(etype.np_dtype)  # wraps as C's store
        per_filter = wrap_int32(np.einsum("bfm,fm->bf", as_int64(mem) - p.state_zero_point, as_int64(wt)))
        per_unit = per_filter.reshape(s.batches, s.units, s.rank).sum(axis=2) + as_int64(bias).reshape(1, s.units)
        y = multiply_by_quantized_multiplier(wrap_int32(per_unit), *p.time_quant) + p.output_offset
        return [saturate(y, op.outputs[0].type)]
