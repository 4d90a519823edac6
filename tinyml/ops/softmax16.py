"""int16 SOFTMAX (16x8 models: int16 input and output), as TFLite Micro computes it.

TFLM's SoftmaxPrepare builds two 513-entry int16 tables with float arithmetic
(`LUTPopulate`): exp(x) on [-10, 0] and 1/(1 + x) on [0, 1], both in steps of
2/65535 per output unit. Its SoftmaxInt16 takes each input's difference to the
row maximum to [-65535, 0] ~ [-10, 0] by a multiplier derived from
input scale * beta, recentres it to int16 and interpolates in the exp table
(9 bits of index, 7 of fraction); the row's sum of exps, normalised to 16 bits,
goes through the reciprocal table the same way, and each exp times the
reciprocal, shifted back by the normalisation, is the Q0.15 probability.

The tables depend on nothing but those constants, so tinyml computes them once
at compile time, with the same float32 operations in the same order as TFLM's
C++ and the C library's `expf` (the function `std::exp(float)` calls), and puts
them in flash: TFLM's arena holds them instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT16
from tinyml.ops.arith import as_int64, multiply_by_quantized_multiplier
from tinyml.ops.base import Unsupported, quant
from tinyml.ops.fixedpoint import quantize_multiplier, round_half_away

INT16_MIN, INT16_MAX = INT16.range
#: LUTPopulate's intervals: 512 steps and one more entry to interpolate the last
_LUT_STEPS = 512
#: the exp table covers [-10, 0]: an input difference of -65535 is -10.0 after the input multiplier
_EXP_RANGE = 10.0
#: TFLM's output check: scale 1/32768 within 0.1% of it
_OUTPUT_SCALE, _OUTPUT_SCALE_TOLERANCE = 1.0 / 32768, 0.001 / 32768
#: the sum of a row's exps is an int32 of values up to 32767 each
_MAX_DEPTH = (2**31 - 1) // INT16_MAX

F32 = np.float32


@cache
def _expf() -> Callable[[float], float]:
    """The C library's expf: what TFLM's std::exp(float) computes the exp table with."""
    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    libm.expf.restype, libm.expf.argtypes = ctypes.c_float, [ctypes.c_float]
    return libm.expf


def _roundf(x: np.float32) -> np.float32:
    """TfLiteRound on a float: C's roundf, halves away from zero (exact: x is a float32)."""
    return F32(round_half_away(float(x)))


def populate_lut(
    transform: Callable[[np.float32], np.float32],
    input_scale: np.float32,
    input_zero_point: int,
    output_scale: np.float32,
    output_zero_point: int,
) -> np.ndarray:
    """TFLM's LUTPopulate<int16_t> (float variant): transform sampled at 513 points over the int16 input range,
    each of the first 512 entries lowered by half the error linear interpolation makes at the middle of its step.
    Every operation is the C++'s float32 one, in its order."""
    input_min = input_scale * F32(INT16_MIN - input_zero_point)
    input_max = input_scale * F32(INT16_MAX - input_zero_point)
    output_min = output_scale * F32(INT16_MIN - output_zero_point)
    output_max = output_scale * F32(INT16_MAX - output_zero_point)
    step = (input_max - input_min) / F32(_LUT_STEPS)
    half_step = step / F32(2)
    output_scaling_inv = F32(INT16_MAX - INT16_MIN + 1) / (output_max - output_min)
    lut = np.empty(_LUT_STEPS + 1, dtype=np.int16)
    for i in range(_LUT_STEPS):
        val = transform(input_min + F32(i) * step)
        val_midpoint = transform(input_min + F32(i) * step + half_step)
        val_next = transform(input_min + F32(i + 1) * step)
        sample_val = _roundf(val * output_scaling_inv)
        midpoint_interp_val = _roundf((val_next * output_scaling_inv + _roundf(val * output_scaling_inv)) / F32(2))
        midpoint_val = _roundf(val_midpoint * output_scaling_inv)
        bias = _roundf((midpoint_interp_val - midpoint_val) / F32(2))
        lut[i] = int(min(max(sample_val - bias, F32(INT16_MIN)), F32(INT16_MAX)))
    last = _roundf(transform(input_max) * output_scaling_inv)
    lut[_LUT_STEPS] = int(min(max(last, F32(INT16_MIN)), F32(INT16_MAX)))
    return lut


#: both tables' input and output steps: the int16 range spans 10 (exp) or 1 (reciprocal) in, 2 out
_RANGE = INT16_MAX - INT16_MIN


@cache
def exp_lut() -> np.ndarray:
    """exp(x) for x in [-10, 0] (the input zero point at int16 max), outputs in steps of 2/65535."""
    expf = _expf()
    return populate_lut(
        lambda x: F32(expf(float(x))), F32(_EXP_RANGE) / F32(_RANGE), INT16_MAX, F32(2.0) / F32(_RANGE), 0
    )


@cache
def one_over_one_plus_x_lut() -> np.ndarray:
    """1 / (1 + x) for x in [0, 1] (the input zero point at int16 min), outputs in steps of 2/65535."""
    return populate_lut(
        lambda x: F32(1.0) / (F32(1.0) + x), F32(1.0) / F32(_RANGE), INT16_MIN, F32(2.0) / F32(_RANGE), 0
    )


def lut_lookup(x: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """TFLM's LUTLookup for int16: the top 9 bits of x + 32768 index the table, the low 7 interpolate (rounded)."""
    x = as_int64(x)
    index = 256 + (x >> 7)
    table = lut.astype(np.int64)
    base = table[index]
    delta = ((table[index + 1] - base) * (x & 0x7F) + 64) >> 7
    return base + delta


@dataclass(frozen=True)
class SoftmaxS16Params:
    """How an input difference (x - row max) becomes an exp table input: TFLM's MultiplyByQuantizedMultiplier
    by (multiplier, shift), taking input scale * beta to steps of 10/65535."""

    multiplier: int
    shift: int


def softmax_s16_params(op: Operator, beta: float) -> SoftmaxS16Params:
    """TFLM's SoftmaxPrepare for int16; refuses what it refuses (zero points, output scale) and row lengths whose
    sum of exps would overflow its int32."""
    inp, out = quant(op.input(0)), quant(op.outputs[0])
    if inp.zero_point != 0 or out.zero_point != 0:
        raise Unsupported(f"int16 SOFTMAX with zero points {inp.zero_point}, {out.zero_point} (0 expected)")
    if abs(F32(out.scale) - F32(_OUTPUT_SCALE)) > F32(_OUTPUT_SCALE_TOLERANCE):
        raise Unsupported(f"int16 SOFTMAX output scale {out.scale:g}; 1/32768 expected")
    depth = op.input(0).shape[-1]
    if depth > _MAX_DEPTH:
        raise Unsupported(f"int16 SOFTMAX over {depth} values; at most {_MAX_DEPTH} (the int32 sum of exps)")
    multiplier, shift = quantize_multiplier(float(inp.scale) * beta / (_EXP_RANGE / _RANGE))
    if shift > 30:
        raise Unsupported(f"int16 SOFTMAX input scale {inp.scale:g} times beta {beta:g} is too large")
    return SoftmaxS16Params(multiplier, shift)


def softmax_s16(op: Operator, beta: float, x: np.ndarray) -> np.ndarray:
    """TFLM's SoftmaxInt16 over rows of the last axis of x: Q0.15 probabilities, int16."""
    p = softmax_s16_params(op, beta)
    rows = as_int64(x).reshape(-1, x.shape[-1])
    scaled = multiply_by_quantized_multiplier(rows - rows.max(axis=1, keepdims=True), p.multiplier, p.shift)
    exps = lut_lookup(np.clip(scaled + INT16_MAX, INT16_MIN, INT16_MAX), exp_lut())
    total = exps.sum(axis=1, keepdims=True)
    # the sum normalised to 32 bits, rounded to its top 17: 2^16 * (1 + x), x in [0, 1], recentred to int16
    headroom_plus_one = 32 - np.frexp(total.astype(np.float64))[1].astype(np.int64)
    shifted = ((total << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    reciprocal = lut_lookup(np.clip(shifted - (1 << 15) - (1 << 16), INT16_MIN, INT16_MAX), one_over_one_plus_x_lut())
    right_shift = 31 - headroom_plus_one
    y = (exps * reciprocal + (np.int64(1) << (right_shift - 1))) >> right_shift
    return np.clip(y, 0, INT16_MAX).astype(np.int16).reshape(x.shape)
