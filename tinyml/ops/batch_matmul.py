"""BATCH_MATMUL: int8 (per-tensor) matrix products over broadcast batch dimensions, either operand transposed.

out[..., a, c] = sum_b (lhs[..., a, b] - lhs zero point) * (rhs[..., b, c] - rhs zero point), with lhs read as
its last two axes swapped when adj_x is set and rhs when adj_y is; the batch dimensions (all but the last two,
ranks 2 to 5) broadcast as NumPy's do. The int32 sum is requantized once by lhs_scale * rhs_scale / out_scale
and clamped to the int8 range: TFLite has no fused activation for this op. Either operand may be a constant (a
learned matrix), which then plays the weights' role.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT8
from tinyml.ops.arith import as_int64, integer_matmul, requantize_output
from tinyml.ops.base import (
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

#: the operand ranks TFLite Micro's BATCH_MATMUL takes
MIN_RANK, MAX_RANK = 2, 5


@dataclass(frozen=True)
class BatchMatMulAttrs:
    """TFLite's BatchMatMulOptions: whether each operand's last two axes are swapped (asymmetric_quantize_inputs
    only concerns hybrid float models)."""

    adj_x: bool = False
    adj_y: bool = False

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> BatchMatMulAttrs:
        return cls(adj_x=bool(options.get("adj_x", False)), adj_y=bool(options.get("adj_y", False)))


@dataclass(frozen=True)
class BatchMatMulRequant:
    """Offsets and the one rescaling of TFLM's int8 BATCH_MATMUL."""

    lhs_offset: int
    rhs_offset: int
    output_offset: int
    multiplier: int
    shift: int
    #: the int8 range: BATCH_MATMUL has no fused activation
    act: tuple[int, int]


def batch_matmul_requant(op: Operator) -> BatchMatMulRequant:
    """TFLM's GetQuantizedConvolutionMultipler without a bias: the two scales multiply as C floats, and the float
    product is divided by the output scale in double."""
    lhs, rhs, out = (quant(t) for t in (op.input(0), op.input(1), op.outputs[0]))
    multiplier, shift = quantize_multiplier(f32(f32(lhs.scale) * f32(rhs.scale)) / out.scale)
    return BatchMatMulRequant(
        -lhs.zero_point, -rhs.zero_point, out.zero_point, multiplier, shift, op.outputs[0].type.range
    )


@dataclass(frozen=True)
class MatMulShape:
    """An op's product, adj_x and adj_y resolved: the batch shapes, rows, depth and columns."""

    lhs_batch: tuple[int, ...]
    rhs_batch: tuple[int, ...]
    out_batch: tuple[int, ...]
    rows: int
    depth: int
    cols: int


def matmul_shape(op: Operator) -> MatMulShape:
    """The product's dimensions; `Unsupported` when the operands do not multiply."""
    a, b = op.input(0).shape, op.input(1).shape
    for name, shape in (("lhs", a), ("rhs", b)):
        if not MIN_RANK <= len(shape) <= MAX_RANK:
            raise Unsupported(f"{name} of rank {len(shape)} (ranks {MIN_RANK} to {MAX_RANK} are supported)")
    rows, depth = (a[-1], a[-2]) if op.attrs.adj_x else (a[-2], a[-1])
    rhs_depth, cols = (b[-1], b[-2]) if op.attrs.adj_y else (b[-2], b[-1])
    if depth != rhs_depth:
        raise Unsupported(f"lhs {a} and rhs {b} do not multiply (depth {depth} against {rhs_depth})")
    try:
        out_batch = tuple(int(d) for d in np.broadcast_shapes(a[:-2], b[:-2]))
    except ValueError:
        raise Unsupported(f"batch dimensions of {a} and {b} do not broadcast") from None
    return MatMulShape(tuple(a[:-2]), tuple(b[:-2]), out_batch, rows, depth, cols)


@define
class BatchMatMul(OpDef):
    op_types = ("BATCH_MATMUL",)
    #: a constant operand is its weights, int8 like the data
    weight_types = (INT8,)
    attrs_type = BatchMatMulAttrs
    input_roles = (Role.FEATURE, Role.FEATURE)

    def roles(self, op: Operator) -> tuple[Role, ...]:
        """A constant operand is a learned matrix: the weights (which the report counts as such)."""
        roles = zip(op.inputs, super().roles(op), strict=True)
        return tuple(Role.WEIGHTS if t is not None and t.is_const else role for t, role in roles)

    def validate(self, op: Operator) -> None:
        require_arity(op, 2)
        lhs, rhs, out = op.input(0), op.input(1), op.outputs[0]
        require_quantized(lhs, rhs, out)
        require_per_tensor(lhs, rhs, out)
        self.check_shapes(op)

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        s = matmul_shape(op)
        return [(*s.out_batch, s.rows, s.cols)]

    def macs(self, op: Operator) -> int:
        return op.outputs[0].num_elements * matmul_shape(op).depth

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """The offset operands' product in int64 (NumPy broadcasts batch dims as TFLite does), requantized."""
        r = batch_matmul_requant(op)
        lhs = as_int64(array(inputs, 0)) + r.lhs_offset
        rhs = as_int64(array(inputs, 1)) + r.rhs_offset
        if op.attrs.adj_x:
            lhs = lhs.swapaxes(-1, -2)
        if op.attrs.adj_y:
            rhs = rhs.swapaxes(-1, -2)
        s = matmul_shape(op)
        lhs = np.broadcast_to(lhs, (*s.out_batch, s.rows, s.depth)).reshape(-1, s.rows, s.depth)
        rhs = np.broadcast_to(rhs, (*s.out_batch, s.depth, s.cols)).reshape(-1, s.depth, s.cols)
        acc = np.stack([integer_matmul(a, b) for a, b in zip(lhs, rhs, strict=True)])
        out = op.outputs[0]
        return [requantize_output(acc, r.multiplier, r.shift, r.output_offset, r.act, out.type).reshape(out.shape)]
