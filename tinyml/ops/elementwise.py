"""ADD and MUL (int8, per-tensor), with NumPy (= TFLite) broadcasting of either operand and fused activations."""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT8, INT16
from tinyml.ops import int16
from tinyml.ops.arith import as_int64, multiply_by_quantized_multiplier, requantize_output
from tinyml.ops.base import (
    Arrays,
    FusedActivation,
    OpDef,
    Role,
    Unsupported,
    array,
    define,
    quant,
    require_activation,
    require_arity,
    require_per_tensor,
    require_quantized,
)
from tinyml.ops.requant import add_left_shift, add_requant, mul_requant
from tinyml.ops.window import Region


class ElementwiseOpDef(OpDef):
    """Ops computing each output element from the element at the same position of each input."""

    def patchable(self, op: Operator) -> bool:
        """A 4-D output, feature maps of its shape, and constants that broadcast to it (a patch stage cuts a
        constant that varies over rows or columns to each patch's region)."""
        out = op.outputs[0]
        acts = [t for t in op.inputs if t is not None and not t.is_const]
        consts = [t for t in op.inputs if t is not None and t.is_const]
        fits = all(len(t.shape) <= 4 and _broadcasts(t.shape, out.shape) for t in consts)
        return len(out.shape) == 4 and fits and all(t.shape == out.shape for t in acts)

    def receptive_field(self, op: Operator, out_region: Region, input_index: int) -> Region:
        """The same region of an input of the output's shape; of a broadcast one, its single row or column
        wherever it has one."""
        shape = op.input(input_index).shape
        _, h, w, _ = (1,) * (4 - len(shape)) + tuple(shape)
        rows = (out_region.y0, out_region.y1) if h > 1 else (0, 1)
        cols = (out_region.x0, out_region.x1) if w > 1 else (0, 1)
        return Region(*rows, *cols)


def _broadcasts(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    """Whether an operand of `shape` broadcasts to `to` (NumPy's rule, never widening `to`)."""
    padded = (1,) * (len(to) - len(shape)) + tuple(shape)
    return len(padded) == len(to) and all(a in (1, b) for a, b in zip(padded, to, strict=True))


class BroadcastBinary(ElementwiseOpDef):
    """Two per-tensor feature operands (either may be a constant) broadcast, as NumPy (= TFLite) does, to one
    output: the checks, shape rules and cost every such op shares (ADD, MUL, SUB, MAXIMUM, ...); each op adds its
    own attributes, requantization and reference."""

    input_roles = (Role.FEATURE, Role.FEATURE)

    def validate(self, op: Operator) -> None:
        """Two operands of the op's types, per-tensor, that broadcast to the output; the fused activation where
        the op has one."""
        require_arity(op, 2)
        in1, in2, out = op.input(0), op.input(1), op.outputs[0]
        self.require_types(op)
        require_per_tensor(in1, in2, out)
        self.check_shapes(op)
        if isinstance(op.attrs, FusedActivation):
            require_activation(op.attrs.activation)

    def require_types(self, op: Operator) -> None:
        """Quantized int8 operands and output (an op taking other types widens this)."""
        require_quantized(op.input(0), op.input(1), op.outputs[0])

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        a, b = op.input(0).shape, op.input(1).shape
        try:
            return [tuple(int(d) for d in np.broadcast_shapes(a, b))]
        except ValueError:
            raise Unsupported(f"{op.type}: shapes {a} and {b} do not broadcast") from None

    def check_shapes(self, op: Operator) -> None:
        a, b, out = op.input(0).shape, op.input(1).shape, op.outputs[0].shape
        if self.infer_shapes(op)[0] != tuple(out):
            raise Unsupported(f"{op.type}: shapes {a} and {b} do not broadcast to {out}")

    def macs(self, op: Operator) -> int:
        return op.outputs[0].num_elements

    def operands(self, op: Operator, inputs: Arrays) -> tuple[np.ndarray, np.ndarray]:
        """Both operands as int64 arrays of their own shapes (NumPy broadcasts them as TFLite does)."""
        return as_int64(array(inputs, 0)), as_int64(array(inputs, 1))


class _Binary(BroadcastBinary):
    """ADD and MUL: int8 or 16x8, with a fused activation."""

    attrs_type = FusedActivation

    def require_types(self, op: Operator) -> None:
        in1, in2, out = op.input(0), op.input(1), op.outputs[0]
        if int16.is_16x8(op):
            # TFLM's int16 MUL requires zero points 0; its ADD takes any (the int8 formula)
            int16.require_int16(in1, in2, out, zero_point=op.type == "MUL")
        else:
            super().require_types(op)

    def offset_operands(self, op: Operator, inputs: Arrays) -> tuple[np.ndarray, np.ndarray]:
        """Both operands minus their zero points, as int64 arrays of their own shapes."""
        a, b = self.operands(op, inputs)
        return a - quant(op.input(0)).zero_point, b - quant(op.input(1)).zero_point


@define
class Add(_Binary):
    op_types = ("ADD",)
    #: int8, or int16 in TFLite's 16x8 scheme
    types = (INT8, INT16)

    def validate(self, op: Operator) -> None:
        super().validate(op)
        add_requant(op)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """Each operand is scaled up by 2^20 (int16: 2^15) and rescaled to twice the larger input scale
        (multipliers < 1), the sum is rescaled to the output."""
        a, b = self.offset_operands(op, inputs)
        r = add_requant(op)
        (m1, s1), (m2, s2), (mo, so) = r.quant
        left_shift = add_left_shift(op)
        scaled_a = multiply_by_quantized_multiplier(a << left_shift, m1, s1)
        scaled_b = multiply_by_quantized_multiplier(b << left_shift, m2, s2)
        out = op.outputs[0]
        return [requantize_output(scaled_a + scaled_b, mo, so, r.output_offset, r.act, out.type).reshape(out.shape)]


@define
class Mul(_Binary):
    op_types = ("MUL",)
    #: int8, or int16 in TFLite's 16x8 scheme
    types = (INT8, INT16)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """The product of the offset operands, rescaled once by in1_scale * in2_scale / out_scale."""
        a, b = self.offset_operands(op, inputs)
        r = mul_requant(op)
        ((multiplier, shift),) = r.quant
        out = op.outputs[0]
        return [requantize_output(a * b, multiplier, shift, r.output_offset, r.act, out.type).reshape(out.shape)]
