"""TANH (int8, int16) and RSQRT (int8), as TFLite Micro computes them.

An int8 input has only 256 values, so each op is a function of the input
byte: `table(op)` gives its 256 outputs, computed with TFLM's integer
arithmetic at compile time, and both the reference and the kernel look the
input up there (TFLM evaluates the same integer formula per element at run
time). TANH follows reference_integer_ops::Tanh: the input to Q4.27 by a
multiplier derived from its scale, gemmlowp's fixed-point tanh, then 1/128
steps. RSQRT follows TFLM's elementwise.cc: an integer inverse square root
(Newton-Raphson in fixed point) rescaled by 1 / (sqrt(input scale) * output
scale).

int16 TANH (and LOGISTIC, whose definition is in `tinyml.ops.activation`) follow
TFLM's int16 kernels: the input rescaled to steps of 1/(3 * 4096) (10.7 / 2^17),
then linear interpolation in a 256-entry table of sigmoid(i / 24) in 0.16
format (`sigmoid_table`), using tanh(x) = 2 sigmoid(2x) - 1.

EXP has no definition: TFLM runs it on float32 only, so an int8 EXP has no TFLM
result to match and is refused like any unsupported operator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT8, INT16
from tinyml.ops.arith import (
    INT32_MAX,
    INT32_MIN,
    Q0_ONE,
    as_int64,
    exp_on_negative_values,
    multiply_by_quantized_multiplier,
    rounding_divide_by_pot,
    rounding_half_sum,
    sat_rounding_doubling_high_mul,
    sat_shift_left,
    saturate,
)
from tinyml.ops.base import Arrays, Unsupported, array, define, quant, require_arity, require_per_tensor
from tinyml.ops.elementwise import ElementwiseOpDef
from tinyml.ops.fixedpoint import logistic_input_scaling, quantize_multiplier, round_half_away
from tinyml.ops.requant import logistic_params

INT8_MIN, INT8_MAX = INT8.range
#: every int8 input value, in table order
INT8_VALUES = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.int64)

#: int8 TANH takes its input to Q4.27 and writes tanh in 7 fraction bits (scale 1/128, zero point 0)
_TANH_INPUT_INTEGER_BITS = 4
_TANH_OUTPUT_BITS = 7
#: 1 in Q2, 48/17 and -32/17 in Q2: the Newton-Raphson start of (1 - x) / (1 + x)
_Q2_ONE, _Q2_48_OVER_17, _Q2_MINUS_32_OVER_17 = 1 << 29, 1515870810, -1010580540
#: RSQRT keeps 2^20 of headroom between its two rescalings, as TFLM's kShift
_RSQRT_SHIFT = 20
#: 3/2 in Q3 and sqrt(2)/2 in Q0: the constants of TFLM's GetInvSqrtQuantizedMultiplierExp
_Q3_THREE_HALVES, _Q0_HALF_SQRT_2 = (1 << 28) + (1 << 27), 1518500250


def _one_minus_x_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """gemmlowp's (1 - a) / (1 + a) for Q0 a in [0, 1]: three Newton-Raphson steps on (1 + a) / 2, in Q2."""
    half_denominator = rounding_half_sum(a, Q0_ONE)
    x = _Q2_48_OVER_17 + sat_rounding_doubling_high_mul(half_denominator, _Q2_MINUS_32_OVER_17)
    for _ in range(3):
        one_minus_half_denominator_times_x = _Q2_ONE - sat_rounding_doubling_high_mul(half_denominator, x)
        x = x + sat_shift_left(sat_rounding_doubling_high_mul(x, one_minus_half_denominator_times_x), 2)
    return sat_shift_left(x - _Q2_ONE, 2)


def fixed_tanh(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp's tanh: tanh(a) in Q0 for a in Q(integer_bits), a never INT32_MIN.

    On -|a| it computes (1 - exp(2a)) / (1 + exp(2a)); doubling a is exact (one more integer bit, same raw).
    """
    a = as_int64(a)
    t = _one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-np.abs(a), integer_bits + 1))
    return np.where(a == 0, 0, np.where(a < 0, -t, t))


def tanh_table(op: Operator) -> np.ndarray:
    """TANH's int8 output for each int8 input, -128 first: reference_integer_ops::Tanh on that byte."""
    p = logistic_params(op)  # TFLM's int8 TANH scales its input exactly as LOGISTIC does (to Q4.27)
    shifted = INT8_VALUES + p.input_offset
    inside = np.where(np.abs(shifted) < p.radius, shifted, 0)
    y = fixed_tanh(multiply_by_quantized_multiplier(inside, p.multiplier, p.shift), _TANH_INPUT_INTEGER_BITS)
    y = np.clip(rounding_divide_by_pot(y, 31 - _TANH_OUTPUT_BITS), INT8_MIN, INT8_MAX)
    y = np.where(shifted <= -p.radius, INT8_MIN, np.where(shifted >= p.radius, INT8_MAX, y))
    return y.astype(np.int8)


def sigmoid_table() -> np.ndarray:
    """TFLM's sigmoid_table_uint16: sigmoid(i / 24) for i in 0..255 in 0.16 format, each entry lowered by half
    the error linear interpolation would make at the middle of its step; the last is the saturated 65535."""
    i = np.arange(256, dtype=np.float64)
    at, after, middle = (1 / (1 + np.exp(-x)) for x in (i / 24, (i + 1) / 24, (i + 0.5) / 24))
    table = np.floor(65536 * (at - ((at + after) / 2 - middle) / 2) + 0.5)
    table[-1] = 65535
    return np.minimum(table, 65535).astype(np.uint16)


#: int16 TANH and LOGISTIC take inputs with 3 integer bits to 1/(3 * 4096) steps and write Q0.15
_S16_INPUT_INTEGER_BITS, _S16_OUTPUT_FRACTION_BITS = 3, 15


def _checked_log2(x: float) -> tuple[bool, int]:
    """TFLM's CheckedLog2, in float: (whether x is within 0.001 octave of a power of two, its rounded log2)."""
    log2 = np.float32(np.log(np.float32(x))) * (np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    rounded = np.float32(round_half_away(float(log2)))
    return bool(abs(np.float32(log2 - rounded)) < np.float32(1e-3)), int(rounded)


@dataclass(frozen=True)
class SigmoidS16Params:
    """How TFLM's int16 TANH / LOGISTIC rescale an input: (x * multiplier + rounding) >> left_shift, with the
    power-of-two case (multiplier 0 in TFLM) already turned into its multiplier 3 << shift here."""

    multiplier: int
    left_shift: int


def sigmoid_s16_params(op: Operator) -> SigmoidS16Params:
    """TFLM's int16 TANH / LOGISTIC Prepare; refuses what it refuses (zero points, output scale not 2^-15)."""
    inp, out = quant(op.input(0)), quant(op.outputs[0])
    if inp.zero_point != 0 or out.zero_point != 0:
        raise Unsupported(f"int16 {op.type} with zero points {inp.zero_point}, {out.zero_point} (0 expected)")
    pot_out, log2_out = _checked_log2(out.scale)
    if not pot_out or log2_out != -_S16_OUTPUT_FRACTION_BITS:
        raise Unsupported(f"int16 {op.type} output scale {out.scale:g}; 2^-15 expected")
    pot, log2 = _checked_log2(inp.scale)
    left_shift = (15 - _S16_INPUT_INTEGER_BITS) + log2
    if pot and left_shift in ((0, 1) if op.type == "TANH" else (0,)):
        return SigmoidS16Params(3 << left_shift, 0)
    multiplier, left_shift = float(inp.scale) * 4096.0 * 3.0, 0
    while multiplier <= 32767.0 / 2.0 and left_shift <= 30:
        left_shift += 1
        multiplier *= 2.0
    if int(multiplier) > 32767:
        raise Unsupported(f"int16 {op.type} input scale {inp.scale:g} is too large")
    return SigmoidS16Params(int(multiplier), left_shift)


def sigmoid_s16(op: Operator, x: np.ndarray) -> np.ndarray:
    """TFLM's int16 TANH or LOGISTIC (by `op.type`) of int16 values: interpolation in `sigmoid_table`."""
    p = sigmoid_s16_params(op)
    rounding = (1 << (p.left_shift - 1)) if p.left_shift > 0 else 0
    scaled = (as_int64(x) * p.multiplier + rounding) >> p.left_shift
    magnitude = np.abs(scaled)
    table = sigmoid_table().astype(np.int64)
    if op.type == "TANH":  # steps of 2^8: tanh's argument is doubled
        step_bits, saturated, half, one = 8, 0xFFFF << 8, 1 << 7, 1 << 23
    else:
        step_bits, saturated, half, one = 9, 0x7FFF << 10, 1 << 9, 1 << 25
    index = np.minimum(magnitude >> step_bits, 254)
    below, above = table[index], table[index + 1]
    fraction = magnitude & ((1 << step_bits) - 1)
    value = np.where(magnitude >> step_bits >= 255, saturated, (below << step_bits) + fraction * (above - below))
    if op.type == "TANH":
        y = np.where(scaled >= 0, value - one + half, -value + one + half - 1) >> 8
    else:
        y = np.where(scaled >= 0, value + half, one - value + half - 1) >> 10
    return y.astype(np.int16)


def inv_sqrt_multiplier(value: int) -> tuple[int, int]:
    """TFLM's GetInvSqrtQuantizedMultiplierExp(value, kReverseShift): 1/sqrt(value) = multiplier * 2^(shift - 31).

    The input is normalised to [2^27, 2^29) by pairs of bits, then five Newton-Raphson steps of
    x <- 3/2 x - value/2 x^3 run in Q3 from x = 1.
    """
    if value <= 1:
        return INT32_MAX, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    left_shift_bit_pairs = (32 - value.bit_length() - 1) // 2 - 1
    shift -= left_shift_bit_pairs
    value <<= 2 * left_shift_bit_pairs
    half_input = int(rounding_divide_by_pot(value >> 1, 1))
    x = 1 << 28  # 1 in Q3
    for _ in range(5):
        x3 = sat_shift_left(sat_rounding_doubling_high_mul(sat_rounding_doubling_high_mul(x, x), x), 6)  # Q9 to Q3
        a = sat_rounding_doubling_high_mul(_Q3_THREE_HALVES, x)
        b = sat_rounding_doubling_high_mul(half_input, x3)
        x = int(sat_shift_left(as_int64(_wrap(int(a) - int(b))), 3))
    x = int(sat_rounding_doubling_high_mul(x, _Q0_HALF_SQRT_2))
    if shift < 0:
        x = _wrap(x << -shift)
        shift = 0
    return x, -shift


def _wrap(x: int) -> int:
    """A Python int wrapped to int32, as C's int32 arithmetic leaves it."""
    return (x - INT32_MIN) % (1 << 32) + INT32_MIN


def rsqrt_requant(op: Operator) -> tuple[int, int]:
    """TFLM's RSQRT output multiplier: QuantizeMultiplier(1 / (sqrt(input scale) * output scale)), where the
    square root and the product are float (C++ std::sqrt of a float) and the division double."""
    s_in, s_out = np.float32(quant(op.input(0)).scale), np.float32(quant(op.outputs[0]).scale)
    return quantize_multiplier(1.0 / float(np.float32(np.sqrt(s_in) * s_out)))


def rsqrt_table(op: Operator) -> np.ndarray:
    """RSQRT's int8 output for each int8 input at or above the input zero point, -128 first (inputs below it,
    which TFLM refuses at run time, get 0): 127 for the zero point itself, as TFLM treats 0."""
    zero_point, out_zero_point = quant(op.input(0)).zero_point, quant(op.outputs[0]).zero_point
    multiplier, shift = rsqrt_requant(op)
    table = np.zeros(256, dtype=np.int8)
    for i, x in enumerate(INT8_VALUES):
        value = int(x) - zero_point
        if value < 0:
            continue
        if value == 0:
            table[i] = INT8_MAX
            continue
        inv_mult, inv_shift = inv_sqrt_multiplier(value)
        data = multiply_by_quantized_multiplier(1, inv_mult, inv_shift + _RSQRT_SHIFT)
        y = multiply_by_quantized_multiplier(data, multiplier, shift - _RSQRT_SHIFT) + out_zero_point
        table[i] = np.clip(y, INT8_MIN, INT8_MAX)
    return table


def lookup(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Each int8 input's entry of a 256-entry table, in the input's shape."""
    return table[as_int64(x) - INT8_MIN]


class TableUnary(ElementwiseOpDef):
    """One int8 per-tensor input to an int8 output of its shape."""

    def validate(self, op: Operator) -> None:
        require_arity(op, 1)
        inp, out = op.input(0), op.outputs[0]
        for t in (inp, out):
            if t.type != INT8 or t.quant is None:
                raise Unsupported(f"{op.type} on {t.type}{'' if t.quant else ' (not quantized)'}; int8 expected")
        require_per_tensor(inp, out)
        self.check_shapes(op)

    def min_input(self, op: Operator) -> int:
        """The lowest int8 input TFLM accepts; below it TFLM's Eval fails (RSQRT of a negative value)."""
        return INT8_MIN

    def table(self, op: Operator) -> np.ndarray:
        """The op's 256 int8 outputs, one per int8 input from -128."""
        raise NotImplementedError

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        x = array(inputs, 0)
        if (x < self.min_input(op)).any():
            raise ValueError(f"{op.label}: input below {self.min_input(op)}, which TFLite Micro refuses")
        return [saturate(lookup(self.table(op), x), INT8).reshape(op.outputs[0].shape)]


@define
class Tanh(TableUnary):
    op_types = ("TANH",)
    types = (INT8, INT16)

    def validate(self, op: Operator) -> None:
        inp, out = op.input(0), op.outputs[0]
        if inp.type == INT16 and out.type == INT16 and inp.quant is not None and out.quant is not None:
            require_arity(op, 1)
            require_per_tensor(inp, out)
            self.check_shapes(op)
            sigmoid_s16_params(op)
            return
        super().validate(op)
        out_q = quant(out)
        if out_q.zero_point != 0 or out_q.scale != 1 / 128:
            raise Unsupported(
                f"TANH output quantization scale {out_q.scale:g}, zero point {out_q.zero_point}; "
                "int8 output must have scale 1/128 and zero point 0"
            )
        try:
            logistic_input_scaling(quant(inp).scale)
        except ValueError as e:
            raise Unsupported(f"TANH {e}") from None

    def table(self, op: Operator) -> np.ndarray:
        return tanh_table(op)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        if op.input(0).type == INT16:
            return [sigmoid_s16(op, array(inputs, 0)).reshape(op.outputs[0].shape)]
        return super().reference(op, inputs)


@define
class Rsqrt(TableUnary):
    op_types = ("RSQRT",)

    def min_input(self, op: Operator) -> int:
        return quant(op.input(0)).zero_point

    def table(self, op: Operator) -> np.ndarray:
        return rsqrt_table(op)
