"""ADD and MUL: TFLM's int8 reference arithmetic, with NumPy (= TFLite) broadcasting and fused activations."""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.kernels.portable.elementwise import ADD_LEFT_SHIFT
from tinyml.ops.fixedpoint import add_multipliers, quantize_multiplier
from tinyml.semantics.arith import as_int64, multiply_by_quantized_multiplier
from tinyml.semantics.base import Arrays, array, quant, requantize_output, semantics


def _offset_operands(op: Operator, inputs: Arrays) -> tuple[np.ndarray, np.ndarray]:
    """Both operands minus their zero points, as int64 arrays of their own shapes."""
    a, b = array(inputs, 0), array(inputs, 1)
    return as_int64(a) - quant(op.input(0)).zero_point, as_int64(b) - quant(op.input(1)).zero_point


@semantics("ADD")
def add(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """Each operand is scaled up by 2^20 and rescaled to twice the larger input scale (multipliers < 1),
    the sum is rescaled to the output."""
    a, b = _offset_operands(op, inputs)
    in1, in2, out = (quant(t) for t in (op.input(0), op.input(1), op.outputs[0]))
    (m1, s1), (m2, s2), (mo, so) = add_multipliers(in1, in2, out, ADD_LEFT_SHIFT)
    scaled_a = multiply_by_quantized_multiplier(a << ADD_LEFT_SHIFT, m1, s1)
    scaled_b = multiply_by_quantized_multiplier(b << ADD_LEFT_SHIFT, m2, s2)
    return [requantize_output(scaled_a + scaled_b, mo, so, op)]


@semantics("MUL")
def mul(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """The product of the offset operands, rescaled once by in1_scale * in2_scale / out_scale."""
    a, b = _offset_operands(op, inputs)
    in1, in2, out = (quant(t) for t in (op.input(0), op.input(1), op.outputs[0]))
    multiplier, shift = quantize_multiplier(in1.scale * in2.scale / out.scale)
    return [requantize_output(a * b, multiplier, shift, op)]
