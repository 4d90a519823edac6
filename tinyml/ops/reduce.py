"""MEAN (int8) over any axes: an int32 sum requantized with the 1/count factor folded in, as TFLM computes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT8, INT16
from tinyml.ops import int16
from tinyml.ops.arith import as_int64, multiply_by_quantized_multiplier, saturate
from tinyml.ops.base import (
    Arrays,
    OpDef,
    Role,
    Unsupported,
    array,
    const_ints,
    define,
    require_arity,
    require_per_tensor,
    require_quantized,
)
from tinyml.ops.requant import mean_params, reduced_count


@dataclass(frozen=True)
class ReduceAttrs:
    """ReducerOptions: whether reduced axes stay as size-1 dims."""

    keep_dims: bool = False

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ReduceAttrs:
        return cls(keep_dims=bool(options.get("keep_dims", False)))


def reduced_axes(op: Operator) -> set[int]:
    """The reduced axes of the input, each in [0, rank): the constant axes operand, negatives from the end."""
    rank = len(op.input(0).shape)
    axes = set()
    for a in const_ints(op.input(1), "axes").reshape(-1).tolist():
        if not -rank <= a < rank:
            raise Unsupported(f"axis {a} of a rank {rank} input")
        axes.add(a % rank)
    return axes


@define
class Mean(OpDef):
    op_types = ("MEAN",)
    #: int8, or int16 in TFLite's 16x8 scheme
    types = (INT8, INT16)
    attrs_type = ReduceAttrs
    input_roles = (Role.FEATURE, Role.PARAM)

    def validate(self, op: Operator) -> None:
        require_arity(op, 2)
        inp, out = op.input(0), op.outputs[0]
        if int16.is_16x8(op):
            int16.require_int16(inp, out, zero_point=False)  # TFLM's int8 MEAN template, at the int16 range
        else:
            require_quantized(inp, out)
        require_per_tensor(inp, out)
        if not inp.shape or not inp.num_elements:
            raise Unsupported(f"MEAN of an empty or scalar tensor {inp.shape}")
        reduced_axes(op)
        expected = self.infer_shapes(op)[0]
        if out.num_elements != int(np.prod(expected, dtype=np.int64)):
            raise Unsupported(f"output shape {out.shape} does not match MEAN of {inp.shape}")

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        shape, axes = op.input(0).shape, reduced_axes(op)
        if op.attrs.keep_dims:
            return [tuple(1 if d in axes else n for d, n in enumerate(shape))]
        return [tuple(n for d, n in enumerate(shape) if d not in axes)]

    def macs(self, op: Operator) -> int:
        return op.input(0).num_elements

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """(sum - input zero point * count) * multiplier(in_scale / out_scale / count) + output zero point."""
        x = array(inputs, 0)
        axes = tuple(sorted(reduced_axes(op)))
        p = mean_params(op, reduced_count(x.shape, set(axes)))
        total = as_int64(x).sum(axis=axes) + p.sum_offset
        y = multiply_by_quantized_multiplier(total, p.multiplier, p.shift) + p.output_offset
        out = op.outputs[0]
        return [saturate(y, out.type).reshape(out.shape)]
