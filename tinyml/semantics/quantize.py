"""QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE (int8 -> float32), per tensor, as TFLM computes them."""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ops.fixedpoint import quantize_multiplier
from tinyml.semantics.arith import as_int64, multiply_by_quantized_multiplier, saturate_int8
from tinyml.semantics.base import Arrays, array, quant, semantics

#: float32 quotients beyond this saturate whatever the zero point (the C kernel clamps here before converting)
_QUOTIENT_LIMIT = np.float32(512.0)


@semantics("QUANTIZE")
def quantize(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """float32: AffineQuantize's float32 division by the scale (not a multiplication by its reciprocal, which
    rounds differently), C round() with halves away from zero, plus the zero point, saturated; NaN gives -128.
    int8: Requantize, (x - in zero point) * in_scale / out_scale + out zero point, saturated."""
    x = array(inputs, 0)
    out = quant(op.outputs[0])
    if x.dtype == np.float32:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            q = x / np.float32(out.scale)
        q = np.where(q > -_QUOTIENT_LIMIT, np.minimum(q, _QUOTIENT_LIMIT), -_QUOTIENT_LIMIT)
        truncated = np.trunc(q)
        rounded = truncated + (q - truncated >= 0.5) - (q - truncated <= -0.5)
        return [saturate_int8(rounded.astype(np.int64) + out.zero_point)]
    if x.dtype == np.int8:
        multiplier, shift = quantize_multiplier(quant(op.input(0)).scale / out.scale)
        shifted = as_int64(x) - quant(op.input(0)).zero_point
        return [saturate_int8(multiply_by_quantized_multiplier(shifted, multiplier, shift) + out.zero_point)]
    raise ValueError(f"{op.label}: QUANTIZE from {x.dtype}")


@semantics("DEQUANTIZE")
def dequantize(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """(float)(scale * (q - zero point)): the double product of a float and a 9-bit integer is exact, so one
    float32 multiply, rounding that exact product once, gives TFLM's bits."""
    x = array(inputs, 0)
    q = quant(op.input(0))
    return [np.float32(q.scale) * (x.astype(np.int32) - q.zero_point).astype(np.float32)]
