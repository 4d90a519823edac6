"""Compile-time fixed-point math, bit-identical to TFLite Micro's prepare steps.

TFLite Micro computes requantization multipliers at run time from float
scales; we compute them once in Python and emit constants. Every function
here reproduces the double/float arithmetic of the C++ original exactly, so
the generated code's integers equal TFLM's.
"""

from __future__ import annotations

import math

import numpy as np

from tinyml.ir import Quantization, Tensor

INT8_MIN, INT8_MAX = -128, 127


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


def activation_range(activation: str, out: Tensor) -> tuple[int, int]:
    """Clamp bounds for a fused activation on an int8 output (CalculateActivationRangeQuantized)."""
    qmin, qmax = INT8_MIN, INT8_MAX
    if out.dtype == "int16":
        qmin, qmax = -32768, 32767
    if activation == "NONE" or out.quant is None:
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize_scalar(0.0, out.quant)), qmax
    if activation == "RELU6":
        return max(qmin, quantize_scalar(0.0, out.quant)), min(qmax, quantize_scalar(6.0, out.quant))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize_scalar(-1.0, out.quant)), min(qmax, quantize_scalar(1.0, out.quant))
    raise ValueError(f"unsupported fused activation {activation}")


def conv_multipliers(inp: Tensor, weights: Tensor, out: Tensor, channels: int) -> tuple[list[int], list[int]]:
    """Per-output-channel multiplier and shift (PopulateConvolutionQuantizationParams)."""
    assert inp.quant and weights.quant and out.quant
    in_scale, out_scale = inp.quant.scale, out.quant.scale
    mults, shifts = [], []
    for c in range(channels):
        w_scale = weights.quant.scales[c] if weights.quant.per_channel else weights.quant.scales[0]
        m, s = quantize_multiplier(in_scale * w_scale / out_scale)
        mults.append(m)
        shifts.append(s)
    return mults, shifts
