"""LOG_SOFTMAX (int8), as TFLite Micro's reference_ops::LogSoftmax computes it.

Per row of the last axis: the differences x - max go to Q5.26 (beta * input
scale, beta fixed at 1), their exps are summed in Q12, the log of the sum is
taken in Q5.26 (gemmlowp-style, `log_x_for_x_greater_than_or_equal_to_1`), and
each output is (diff - log sum) in 1/16 steps from 127. Differences too
negative to survive the subtraction write -128. TFLM requires the output scale
16/256 and zero point 127.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT8
from tinyml.ops.arith import (
    INT32_MAX,
    INT32_MIN,
    as_int64,
    exp_on_negative_values,
    multiply_by_quantized_multiplier,
    one_over_one_plus_x_for_x_in_0_1,
    rounding_divide_by_pot,
    rounding_half_sum,
    sat_rounding_doubling_high_mul,
    wrap_int32,
)
from tinyml.ops.base import Arrays, OpDef, Unsupported, array, define, quant, require_arity, require_per_tensor
from tinyml.ops.fixedpoint import calculate_input_radius, preprocess_softmax_scaling, quantize_multiplier

#: the scaled differences are Q5.26, the exp sum Q12.19, the output 4 integer bits (1/16 steps)
INPUT_INTEGER_BITS, ACCUM_INTEGER_BITS, OUTPUT_INTEGER_BITS = 5, 12, 4
#: TFLM's fixed int8 output quantization
OUTPUT_SCALE, OUTPUT_ZERO_POINT = 16 / 256, 127
#: each exp adds at most 1.0 = 2^19 to the Q12 sum, which must stay below 2^31
MAX_DEPTH = (1 << (31 - 19)) - 1
#: log(2), 2^-1/4, 2^-1/2 and 1/4 in Q0, and the rational approximation's constants (TFLM's common.h)
_LOG_2, _SQRT_SQRT_HALF, _SQRT_HALF, _ONE_QUARTER = 1488522236, 1805811301, 1518500250, 536870912
_ALPHA_N, _ALPHA_D, _ALPHA_I, _ALPHA_F = 117049297, 127690142, 1057819769, 638450708


@dataclass(frozen=True)
class LogSoftmaxParams:
    """TFLM's int8 LOG_SOFTMAX prepare: the diff multiplier (a left shift, then a Q0 multiplier), the reverse
    scaling that maps a Q5.26 value back to input steps, and the smallest difference whose exp counts."""

    multiplier: int
    shift: int
    reverse_multiplier: int
    reverse_shift: int
    diff_min: int


def log_softmax_params(op: Operator) -> LogSoftmaxParams:
    scale = quant(op.input(0)).scale
    try:
        multiplier, shift = preprocess_softmax_scaling(1.0, scale, INPUT_INTEGER_BITS)
    except ValueError as e:
        raise Unsupported(f"LOG_SOFTMAX: {e}") from None
    reverse_multiplier, reverse_shift = quantize_multiplier(float(1 << (31 - shift)) / multiplier)
    return LogSoftmaxParams(
        multiplier, shift, reverse_multiplier, reverse_shift, -calculate_input_radius(INPUT_INTEGER_BITS, shift)
    )


def _clz(x: np.ndarray) -> np.ndarray:
    """Leading zeros of positive int32 values (exact: they are far below 2^53)."""
    return 32 - np.frexp(as_int64(x).astype(np.float64))[1].astype(np.int64)


def _sat_shift_left(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """TFLM's SaturatingRoundingMultiplyByPOTParam for exponents >= 0 (per element)."""
    x, exponent = as_int64(x), as_int64(exponent)
    limit = (np.int64(1) << (31 - exponent)) - 1
    return np.where(x > limit, INT32_MAX, np.where(x < -limit, INT32_MIN, x << exponent))


def _sat_add(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    return np.clip(as_int64(a) + b, INT32_MIN, INT32_MAX)


def log_x_for_x_ge_1(z: np.ndarray, input_bits: int, output_bits: int) -> np.ndarray:
    """TFLM's log_x_for_x_greater_than_or_equal_to_1: log(z) in Q(output_bits) for z >= 1 in Q(input_bits).

    z is normalised to r in [2^-1/4, 2^1/4) times a power of two (two candidates, a and b, whichever is
    closer); log(r) comes from a rational approximation around 2^-1/4, accumulated with one more integer bit.
    """
    accum_bits = output_bits + 1
    mul = sat_rounding_doubling_high_mul
    shifted_quarter = rounding_divide_by_pot(_ONE_QUARTER, accum_bits)
    z_a_headroom_plus_1 = _clz(z)
    r_a_raw = _sat_shift_left(mul(_sat_shift_left(z, z_a_headroom_plus_1 - 1), _SQRT_HALF), 1)
    z_a_pow_2_adj = _sat_add(_sat_shift_left(input_bits - z_a_headroom_plus_1, 31 - accum_bits), shifted_quarter)
    z_b_headroom = _clz(mul(z, _SQRT_HALF)) - 1
    r_b_raw = _sat_shift_left(z, z_b_headroom)
    z_b_pow_2_adj = _sat_add(_sat_shift_left(input_bits - z_b_headroom, 31 - accum_bits), -shifted_quarter)
    r = np.minimum(r_a_raw, r_b_raw)
    z_pow_2_adj = np.maximum(z_a_pow_2_adj, z_b_pow_2_adj)
    p = rounding_half_sum(r, _SQRT_SQRT_HALF)
    q = wrap_int32(2 * wrap_int32(r - _SQRT_SQRT_HALF))
    common_sq = mul(q, q)
    num = wrap_int32(mul(q, r) + mul(mul(q, common_sq), _ALPHA_N))
    denom_minus_one = wrap_int32(mul(p, wrap_int32(_ALPHA_I + q + mul(_ALPHA_D, common_sq))) + mul(_ALPHA_F, q))
    recip_denom = one_over_one_plus_x_for_x_in_0_1(denom_minus_one)
    num_scaled = rounding_divide_by_pot(num, accum_bits)
    total = wrap_int32(mul(z_pow_2_adj, _LOG_2) + mul(num_scaled, recip_denom))
    return _sat_shift_left(total, accum_bits - output_bits)


@define
class LogSoftmax(OpDef):
    op_types = ("LOG_SOFTMAX",)

    def validate(self, op: Operator) -> None:
        require_arity(op, 1)
        inp, out = op.input(0), op.outputs[0]
        for t in (inp, out):
            if t.type != INT8 or t.quant is None:
                raise Unsupported(f"LOG_SOFTMAX on {t.type}{'' if t.quant else ' (not quantized)'}; int8 expected")
        require_per_tensor(inp, out)
        if not inp.shape or inp.num_elements == 0 or inp.shape != out.shape:
            raise Unsupported(f"LOG_SOFTMAX of shape {inp.shape} to {out.shape}")
        if quant(out).scale != OUTPUT_SCALE or quant(out).zero_point != OUTPUT_ZERO_POINT:
            raise Unsupported(
                f"LOG_SOFTMAX output quantization scale {quant(out).scale:g}, zero point {quant(out).zero_point}; "
                "int8 output must have scale 16/256 and zero point 127"
            )
        if inp.shape[-1] > MAX_DEPTH:
            raise Unsupported(f"LOG_SOFTMAX over {inp.shape[-1]} values (at most {MAX_DEPTH}, where TFLM's sum wraps)")
        log_softmax_params(op)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        x = array(inputs, 0)
        p = log_softmax_params(op)
        rows = as_int64(x).reshape(-1, x.shape[-1])
        diff = rows - rows.max(axis=1, keepdims=True)
        live = diff >= p.diff_min
        scaled = multiply_by_quantized_multiplier(np.where(live, diff, 0), p.multiplier, p.shift)
        exps = rounding_divide_by_pot(exp_on_negative_values(scaled, INPUT_INTEGER_BITS), ACCUM_INTEGER_BITS)
        total = wrap_int32(np.where(live, exps, 0).sum(axis=1, keepdims=True))
        log_sum = log_x_for_x_ge_1(total, ACCUM_INTEGER_BITS, INPUT_INTEGER_BITS)
        adjusted_diff_min = np.maximum(
            p.diff_min - 1, multiply_by_quantized_multiplier(log_sum + INT32_MIN, p.reverse_multiplier, p.reverse_shift)
        )
        shift = 31 - INPUT_INTEGER_BITS - OUTPUT_INTEGER_BITS
        y = rounding_divide_by_pot(wrap_int32(scaled - log_sum), shift) + OUTPUT_ZERO_POINT
        y = np.where(diff > adjusted_diff_min, np.clip(y, -128, 127), -128)
        return [y.astype(np.int8).reshape(op.outputs[0].shape)]
