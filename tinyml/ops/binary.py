"""MAXIMUM, MINIMUM, SUB and SQUARED_DIFFERENCE (int8, per-tensor), with NumPy (= TFLite) broadcasting.

TFLite Micro computes MAXIMUM and MINIMUM on the raw int8 values (the
converter gives both inputs and the output one quantization); SUB is ADD's
scheme with the second operand subtracted, its multipliers computed in float32
where ADD's are in double; SQUARED_DIFFERENCE takes both operands to a common
scale after a left shift of 7 and rescales the square. The multipliers are
worked out here, once, for the reference and every kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ops.arith import as_int64, multiply_by_quantized_multiplier, requantize_output, saturate
from tinyml.ops.base import (
    Arrays,
    FusedActivation,
    NoAttrs,
    Unsupported,
    array,
    define,
    quant,
)
from tinyml.ops.elementwise import BroadcastBinary
from tinyml.ops.fixedpoint import f32, quantize_multiplier
from tinyml.ops.requant import ADD_LEFT_SHIFT, fused_range

#: TFLM's int8 SQUARED_DIFFERENCE shifts both offset inputs left by 7 (255^2 * 2^14 still fits in int32)
SQUARED_DIFFERENCE_LEFT_SHIFT = 7


@define
class Maximum(BroadcastBinary):
    op_types = ("MAXIMUM",)
    attrs_type = NoAttrs

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """The larger raw int8 value: TFLM ignores the quantization (the converter makes it the same)."""
        a, b = self.operands(op, inputs)
        out = op.outputs[0]
        return [saturate(np.maximum(a, b), out.type).reshape(out.shape)]


@define
class Minimum(BroadcastBinary):
    op_types = ("MINIMUM",)
    attrs_type = NoAttrs

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """The smaller raw int8 value, as MAXIMUM."""
        a, b = self.operands(op, inputs)
        out = op.outputs[0]
        return [saturate(np.minimum(a, b), out.type).reshape(out.shape)]


@dataclass(frozen=True)
class DifferenceRequant:
    """SUB and SQUARED_DIFFERENCE: offsets, the left shift both operands get, (multiplier, shift) for input 1,
    input 2 and the output, and the output clamp."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    left_shift: int
    quant: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    act: tuple[int, int]


def _below_one(op: Operator, reals: tuple[float, ...]) -> None:
    """TFLM's QuantizeMultiplierSmallerThanOneExp aborts on factors outside (0, 1)."""
    if not all(0.0 < r < 1.0 for r in reals):
        raise Unsupported(f"{op.type} rescaling factors {reals} are not all in (0, 1)")


def sub_requant(op: Operator) -> DifferenceRequant:
    """TFLM's int8 SUB Prepare: ADD's scheme (both inputs scaled up by 2^20 and down to twice the larger input
    scale, the difference rescaled to the output), but every factor divided in float32, not double."""
    in1, in2, out = (quant(t) for t in (op.input(0), op.input(1), op.outputs[0]))
    twice_max = f32(2 * max(f32(in1.scale), f32(in2.scale)))
    reals = (
        f32(f32(in1.scale) / twice_max),
        f32(f32(in2.scale) / twice_max),
        f32(twice_max / f32((1 << ADD_LEFT_SHIFT) * f32(out.scale))),
    )
    _below_one(op, reals)
    m1, m2, mo = (quantize_multiplier(r) for r in reals)
    return DifferenceRequant(
        -in1.zero_point, -in2.zero_point, out.zero_point, ADD_LEFT_SHIFT, (m1, m2, mo), fused_range(op)
    )


def squared_difference_requant(op: Operator) -> DifferenceRequant:
    """TFLM's int8 SQUARED_DIFFERENCE Prepare (in double): inputs to twice the larger scale after a left shift
    of 7; the square rescaled by (twice the larger scale)^2 / (2^14 * output scale), a factor that may exceed 1."""
    in1, in2, out = (quant(t) for t in (op.input(0), op.input(1), op.outputs[0]))
    twice_max = 2.0 * max(in1.scale, in2.scale)
    reals = (in1.scale / twice_max, in2.scale / twice_max)
    _below_one(op, reals)
    output_real = twice_max * twice_max / f32((1 << (2 * SQUARED_DIFFERENCE_LEFT_SHIFT)) * f32(out.scale))
    m1, m2 = (quantize_multiplier(r) for r in reals)
    return DifferenceRequant(
        -in1.zero_point,
        -in2.zero_point,
        out.zero_point,
        SQUARED_DIFFERENCE_LEFT_SHIFT,
        (m1, m2, quantize_multiplier(output_real)),
        op.outputs[0].type.range,
    )


def _scaled_operands(op: Operator, inputs: Arrays, r: DifferenceRequant) -> tuple[np.ndarray, np.ndarray]:
    """Both operands offset, shifted left and rescaled to the common scale, as the C computes them in int32."""
    (m1, s1), (m2, s2), _ = r.quant
    a = (as_int64(array(inputs, 0)) + r.input1_offset) << r.left_shift
    b = (as_int64(array(inputs, 1)) + r.input2_offset) << r.left_shift
    return multiply_by_quantized_multiplier(a, m1, s1), multiply_by_quantized_multiplier(b, m2, s2)


@define
class Sub(BroadcastBinary):
    op_types = ("SUB",)
    attrs_type = FusedActivation

    def validate(self, op: Operator) -> None:
        super().validate(op)
        sub_requant(op)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """The difference of the rescaled operands, rescaled to the output and clamped to the fused activation."""
        r = sub_requant(op)
        a, b = _scaled_operands(op, inputs, r)
        mo, so = r.quant[2]
        out = op.outputs[0]
        return [requantize_output(a - b, mo, so, r.output_offset, r.act, out.type).reshape(out.shape)]


@define
class SquaredDifference(BroadcastBinary):
    op_types = ("SQUARED_DIFFERENCE",)
    attrs_type = NoAttrs

    def validate(self, op: Operator) -> None:
        super().validate(op)
        squared_difference_requant(op)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """The square of the rescaled difference (below 2^31 by the left shift's choice), rescaled to the output."""
        r = squared_difference_requant(op)
        a, b = _scaled_operands(op, inputs, r)
        mo, so = r.quant[2]
        out = op.outputs[0]
        return [requantize_output((a - b) ** 2, mo, so, r.output_offset, r.act, out.type).reshape(out.shape)]
