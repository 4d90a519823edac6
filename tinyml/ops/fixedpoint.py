"""Compile-time fixed-point math, bit-identical to TFLite Micro's prepare steps.

TFLite Micro computes requantization multipliers at run time from float
scales; we compute them once in Python and emit constants. Every function
here reproduces the double/float arithmetic of the C++ original exactly, so
the generated code's integers equal TFLM's.
"""

from __future__ import annotations

import math

import numpy as np

from tinyml.ir.graph import Quantization


def round_half_away(x: float) -> float:
    """C's round(): halves go away from zero (Python's round() goes to even)."""
    f = math.floor(abs(x))
    if abs(x) - f >= 0.5:
        f += 1
    return math.copysign(f, x)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier: real ~= multiplier * 2^(shift - 31), multiplier in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(round_half_away(q * (1 << 31)))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def f32(x: float) -> float:
    """Round a Python float to float32 precision, as a C `float` would hold it."""
    return float(np.float32(x))


def quantize_scalar(value: float, quant: Quantization) -> int:
    """TFLM's kernel_util Quantize(): float division, C rounding, then zero point."""
    tmp = round_half_away(f32(np.float32(value) / np.float32(quant.scale)))
    return quant.zero_point + int(tmp)


def preprocess_softmax_scaling(beta: float, input_scale: float, integer_bits: int) -> tuple[int, int]:
    """TFLM PreprocessSoftmaxScaling: multiplier and left shift taking an input difference to Q(integer_bits).

    The real multiplier beta * scale * 2^(31 - integer_bits) is capped at 2^31 - 1
    (larger ones round every non-maximal input to exp() = 0 anyway); TFLM
    refuses multipliers <= 1, so do we.
    """
    real = min(beta * input_scale * float(1 << (31 - integer_bits)), (1 << 31) - 1.0)
    if not real > 1.0:
        raise ValueError(f"softmax beta * input scale = {beta * input_scale:g} is too small")
    return quantize_multiplier(real)


def calculate_input_radius(integer_bits: int, left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLM CalculateInputRadius: the largest input magnitude whose left-shifted value keeps integer_bits."""
    return math.floor(
        1.0 * ((1 << integer_bits) - 1) * float(1 << (total_signed_bits - integer_bits)) / float(1 << left_shift)
    )


def logistic_input_scaling(input_scale: float) -> tuple[int, int, int]:
    """TFLM's int8 LOGISTIC Prepare: (multiplier, shift, input_range_radius) taking inputs to Q4.27.

    Unlike QuantizeMultiplier there is no 2^31 adjustment: a float32 scale times
    2^27 has a 24-bit mantissa, so q * 2^31 is an exact integer below 2^31.
    """
    q, shift = math.frexp(input_scale * float(1 << 27))
    multiplier = int(round_half_away(q * (1 << 31)))
    if shift < 0:
        raise ValueError(f"logistic input scale {input_scale:g} is below 2^-28")
    return multiplier, shift, calculate_input_radius(4, shift)


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """TFLM's int8 MEAN requantization: QuantizeMultiplier(in / out) with the 1/count factor folded in.

    QuantizedMeanOrSum shifts the multiplier left by floor(log2(count)) (at most
    32, and at most 31 + shift) before an integer division by count, trading
    the shift for precision; the same integers come out here.
    """
    mult, shift = quantize_multiplier(input_scale / output_scale)
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    return (mult << extra) // count, shift - extra
