"""FULLY_CONNECTED: int8 with per-tensor weights (any zero point) or per-channel weights (zero point 0)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT8, INT16, INT32
from tinyml.ops import int16
from tinyml.ops.arith import integer_matmul, requantize_output
from tinyml.ops.base import (
    WEIGHT_TYPES,
    Arrays,
    OpDef,
    Role,
    Unsupported,
    array,
    define,
    quant,
    require_activation,
    require_arity,
    require_constant,
    require_quantized,
)
from tinyml.ops.requant import conv_requant


@dataclass(frozen=True)
class FullyConnectedAttrs:
    """TFLite's FullyConnectedOptions that matter to an int8 layer."""

    activation: str = "NONE"
    #: 0: the default layout (units, depth); TFLite's shuffled formats are refused
    weights_format: int = 0
    #: keep the input's leading dims in the output (else the output is (rows, units))
    keep_num_dims: bool = False

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> FullyConnectedAttrs:
        return cls(
            activation=str(options.get("activation", "NONE")),
            weights_format=int(options.get("weights_format", 0)),
            keep_num_dims=bool(options.get("keep_num_dims", False)),
        )


@define
class FullyConnected(OpDef):
    """Each row of `depth` inputs (the input flattened) against each unit's weights."""

    op_types = ("FULLY_CONNECTED",)
    attrs_type = FullyConnectedAttrs
    input_roles = (Role.FEATURE, Role.WEIGHTS, Role.BIAS)
    weight_types = WEIGHT_TYPES
    #: int8, or int16 in TFLite's 16x8 scheme
    types = (INT8, INT16)
    weights_channel_axis = 0

    def validate(self, op: Operator) -> None:
        require_arity(op, 2, 3)
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        if int16.is_16x8(op):
            int16.require_16x8_weights(op)
        else:
            require_quantized(inp, out)
            require_quantized(w, types=WEIGHT_TYPES)
        if w.data is None:
            raise Unsupported("weights computed at run time (non-constant filter)")
        if op.attrs.weights_format != 0:
            raise Unsupported("shuffled weights format")
        if len(w.shape) != 2 or not w.shape[1] or inp.num_elements % w.shape[1]:
            raise Unsupported(f"input {inp.shape} does not match weights {w.shape}")
        wq = quant(w)
        if wq.per_channel and any(wq.zero_points):
            raise Unsupported("per-channel weights with non-zero zero points")
        if wq.per_channel and len(wq.scales) != w.shape[0]:
            raise Unsupported(f"{len(wq.scales)} weight scales for {w.shape[0]} units")
        bias = op.opt_input(2)
        require_constant(bias, "bias")
        if bias is not None:
            if bias.type != INT32 and not int16.is_16x8(op):
                raise Unsupported(f"bias {bias.name!r} is {bias.type}; int32 expected")
            if bias.num_elements != w.shape[0]:
                raise Unsupported(f"bias {bias.name!r} has {bias.num_elements} values for {w.shape[0]} units")
        require_activation(op.attrs.activation)
        self.check_shapes(op)

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        inp, (units, depth) = op.input(0), op.input(1).shape
        if op.attrs.keep_num_dims:
            return [(*inp.shape[:-1], units)]
        if not depth or inp.num_elements % depth:
            raise Unsupported(f"input {inp.shape} does not match weights {op.input(1).shape}")
        return [(inp.num_elements // depth, units)]

    def macs(self, op: Operator) -> int:
        return op.input(0).num_elements * op.input(1).shape[0]

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """bias + sum((x - input zero point) * (w - weight zero point)), requantized per unit or once."""
        x, w = array(inputs, 0), array(inputs, 1)
        units, depth = w.shape
        wq = quant(op.input(1))
        rows = x.reshape(-1, depth).astype(np.int64) - quant(op.input(0)).zero_point
        acc = integer_matmul(rows, (w.astype(np.int64) - np.array(wq.zero_points).reshape(-1, 1)).T)
        bias = inputs[2] if len(inputs) > 2 else None
        if bias is not None:
            acc += bias.astype(np.int64).reshape(units)
        r = conv_requant(op)
        out = op.outputs[0]
        if int16.is_16x8(op):
            return [
                int16.requantize_output_int64(acc, r.multipliers, r.shifts, r.output_offset, r.act).reshape(out.shape)
            ]
        return [requantize_output(acc, r.multipliers, r.shifts, r.output_offset, r.act, out.type).reshape(out.shape)]
