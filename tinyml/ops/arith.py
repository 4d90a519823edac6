"""TFLite Micro's integer arithmetic on NumPy arrays: requantization and gemmlowp's fixed-point functions.

Every value is carried as int64 holding the int32 the C code would hold, so
products of two int32s are exact; each function rounds exactly where TFLM's
(and `firmware/include/tinyml/tm_math.h`, `tm_fixedpoint.h`) do. Shifts and
multipliers may be arrays that broadcast against the values (per-channel
requantization along the last axis).
"""

from __future__ import annotations

import numpy as np

from tinyml.ir.types import ElementType

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1

#: 1.0 in Q0: the largest raw value, since 1 itself is not representable
Q0_ONE = INT32_MAX
#: exp(-1/8), 1/3 in Q0: the constants of the Taylor polynomial of exp on [-1/4, 0)
_EXP_MINUS_ONE_EIGHTH, _ONE_THIRD = 1895147668, 715827883
#: exp(-2^j) in Q0 for j = -2 .. 4
_EXP_MINUS_POT = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)
#: 1 in Q2, 48/17 and -32/17 in Q2: the Newton-Raphson start of 1/(1 + x)
_Q2_ONE, _Q2_48_OVER_17, _Q2_MINUS_32_OVER_17 = 1 << 29, 1515870810, -1010580540


def as_int64(x: np.ndarray | int) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def wrap_int32(x: np.ndarray | int) -> np.ndarray:
    """Wrap to the int32 range, as C's int32 accumulators (and casts from uint32) do."""
    return ((as_int64(x) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def sat_rounding_doubling_high_mul(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul: (a * b + nudge) / 2^31, the division truncating like C's."""
    a, b = as_int64(a), as_int64(b)
    ab = a * b
    nudged = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    quotient = (nudged >> 31) + ((nudged < 0) & ((nudged & INT32_MAX) != 0))
    return np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, quotient)


def rounding_divide_by_pot(x: np.ndarray | int, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: x / 2^exponent, halves rounded away from zero."""
    x, exponent = as_int64(x), as_int64(exponent)
    mask = (np.int64(1) << exponent) - 1
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def multiply_by_quantized_multiplier(
    x: np.ndarray | int, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """TFLM's MultiplyByQuantizedMultiplier: x * multiplier * 2^(shift - 31), rounded twice as TFLM rounds.

    A positive shift is applied first as a left shift that wraps in int32 (as
    the C does), a negative one last as a rounding right shift.
    """
    shift = as_int64(shift)
    shifted = wrap_int32(as_int64(x) << np.maximum(shift, 0))
    return rounding_divide_by_pot(sat_rounding_doubling_high_mul(shifted, multiplier), np.maximum(-shift, 0))


def saturate(x: np.ndarray, etype: ElementType, act: tuple[int, int] | None = None) -> np.ndarray:
    """Clamp to `act` (an activation range within the type's), else to the type's range, and store in the
    type's container dtype (int8 for sub-byte types: the values stay unpacked)."""
    lo, hi = etype.range if act is None else act
    return np.clip(x, lo, hi).astype(etype.np_dtype)


def truncating_divide(x: np.ndarray, d: np.ndarray | int) -> np.ndarray:
    """C's integer division (toward zero) of int64 arrays by a positive divisor."""
    x = as_int64(x)
    return np.where(x >= 0, x // d, -((-x) // d))


def sat_shift_left(x: np.ndarray, exponent: int) -> np.ndarray:
    """x * 2^exponent saturated to int32 (gemmlowp's SaturatingRoundingMultiplyByPOT for exponent > 0)."""
    limit = (1 << (31 - exponent)) - 1
    return np.where(x > limit, INT32_MAX, np.where(x < -limit, INT32_MIN, x << exponent))


def rounding_half_sum(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """(a + b) / 2 with halves rounded away from zero."""
    total = as_int64(a) + as_int64(b)
    return truncating_divide(total + np.where(total >= 0, 1, -1), 2)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """exp(a) for Q0 values a in [-1/4, 0): gemmlowp's 4th-order Taylor expansion around -1/8."""
    x = a + (1 << 28)
    x2 = sat_rounding_doubling_high_mul(x, x)
    x3 = sat_rounding_doubling_high_mul(x2, x)
    x4 = sat_rounding_doubling_high_mul(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    higher = rounding_divide_by_pot(sat_rounding_doubling_high_mul(x4_over_4 + x3, _ONE_THIRD) + x2, 1)
    return _EXP_MINUS_ONE_EIGHTH + sat_rounding_doubling_high_mul(_EXP_MINUS_ONE_EIGHTH, x + higher)


def exp_on_negative_values(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp's exp_on_negative_values: exp(a) in Q0 for a <= 0 in Q(integer_bits), integer_bits in [0, 5].

    a splits into (a mod 1/4) - 1/4, which goes through the polynomial, and a
    multiple of 1/4 whose set bits each multiply by a constant exp(-2^j).
    """
    a = as_int64(a)
    fraction_bits = 31 - integer_bits
    quarter = 1 << (fraction_bits - 2)
    a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter
    in_q0 = (
        sat_shift_left(a_mod_quarter_minus_quarter, integer_bits) if integer_bits > 0 else a_mod_quarter_minus_quarter
    )
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(in_q0)
    remainder = a_mod_quarter_minus_quarter - a
    for j in range(-2, min(4, integer_bits - 1) + 1):
        bit = (remainder & (1 << (fraction_bits + j))) != 0
        result = np.where(bit, sat_rounding_doubling_high_mul(result, _EXP_MINUS_POT[j + 2]), result)
    return np.where(a == 0, Q0_ONE, result)


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """gemmlowp's 1 / (1 + a) for Q0 a in [0, 1): three Newton-Raphson steps on (1 + a) / 2, in Q2."""
    half_denominator = rounding_half_sum(a, Q0_ONE)
    x = _Q2_48_OVER_17 + sat_rounding_doubling_high_mul(half_denominator, _Q2_MINUS_32_OVER_17)
    for _ in range(3):
        one_minus_half_denominator_times_x = _Q2_ONE - sat_rounding_doubling_high_mul(half_denominator, x)
        x = x + sat_shift_left(sat_rounding_doubling_high_mul(x, one_minus_half_denominator_times_x), 2)
    return sat_shift_left(x, 1)


def logistic(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp's logistic: 1 / (1 + exp(-a)) in Q0 for a in Q(integer_bits), a never INT32_MIN."""
    a = as_int64(a)
    for_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-np.abs(a), integer_bits))
    return np.where(a == 0, 1 << 30, np.where(a > 0, for_positive, Q0_ONE - for_positive))


def integer_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The exact int64 product of two integer matrices.

    NumPy's integer matmul does not use BLAS and is slow; float64 is exact as
    long as every partial sum stays below 2^53, which a bound on the operands
    guarantees for any int8-sized model, so that path is taken whenever it is
    provably exact.
    """
    bound = float(np.abs(a).max(initial=0)) * float(np.abs(b).max(initial=0)) * a.shape[-1]
    if bound < 2.0**53:
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return as_int64(a) @ as_int64(b)


def requantize_output(
    acc: np.ndarray,
    multiplier: np.ndarray | int,
    shift: np.ndarray | int,
    output_offset: int,
    act: tuple[int, int],
    etype: ElementType,
) -> np.ndarray:
    """An int32 accumulator (wrapped like C's) rescaled to the output, offset, clamped to the fused range."""
    y = multiply_by_quantized_multiplier(wrap_int32(acc), multiplier, shift) + output_offset
    return saturate(y, etype, act)
