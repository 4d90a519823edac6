"""PRELU, LEAKY_RELU and HARD_SWISH (int8, per-tensor): activations that scale each side of zero differently.

TFLite Micro requantizes each side with its own multiplier: PRELU and
LEAKY_RELU keep one for x >= 0 (input to output scale) and one for x < 0
(alpha folded in; PRELU's alpha is an int8 operand that broadcasts, usually
a constant per channel). HARD_SWISH works in 16-bit fixed point: x on a
high-resolution scale times a "relu-ish" factor in [0, 1] that is x + 3
clamped to [0, 6] and divided by 6. The multipliers are worked out here, once,
for the reference and every kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ops.arith import (
    as_int64,
    multiply_by_quantized_multiplier,
    rounding_divide_by_pot,
    saturate,
    truncating_divide,
)
from tinyml.ops.base import (
    Arrays,
    Unsupported,
    array,
    define,
    quant,
    require_arity,
    require_per_tensor,
    require_quantized,
)
from tinyml.ops.elementwise import BroadcastBinary, ElementwiseOpDef
from tinyml.ops.fixedpoint import f32, quantize_multiplier

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
#: HARD_SWISH's high-resolution input scale is the input scale / 2^7 (|x - zero point| * 2^7 fits in int16)
HARD_SWISH_HIRES_SHIFT = 7
#: the largest right shift of an int16 value gemmlowp's RoundingDivideByPOT computes without its mask overflowing
_INT16_MAX_SHIFT = 15


@dataclass(frozen=True)
class PreluRequant:
    """TFLM's CalculatePreluParams (in double): x >= 0 is rescaled by in/out, x < 0 times (alpha + alpha_offset)
    by in * alpha / out."""

    input_offset: int
    alpha_offset: int
    output_offset: int
    positive: tuple[int, int]
    negative: tuple[int, int]


def prelu_requant(op: Operator) -> PreluRequant:
    inp, alpha, out = (quant(t) for t in (op.input(0), op.input(1), op.outputs[0]))
    positive = quantize_multiplier(inp.scale / out.scale)
    negative = quantize_multiplier(inp.scale * alpha.scale / out.scale)
    return PreluRequant(-inp.zero_point, -alpha.zero_point, out.zero_point, positive, negative)


@define
class Prelu(BroadcastBinary):
    """PRELU(x, alpha): alpha is the second operand (any int8 tensor that broadcasts to x, in TFLM as in
    tinyml; a patch stage cuts a constant alpha that varies over rows or columns, as ADD's constants)."""

    op_types = ("PRELU",)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        r = prelu_requant(op)
        x = as_int64(array(inputs, 0)) + r.input_offset
        alpha = as_int64(array(inputs, 1)) + r.alpha_offset
        positive = multiply_by_quantized_multiplier(x, *r.positive)
        negative = multiply_by_quantized_multiplier(x * alpha, *r.negative)
        out = op.outputs[0]
        y = np.where(x >= 0, positive, negative) + r.output_offset
        return [saturate(y, out.type).reshape(out.shape)]


class _Unary(ElementwiseOpDef):
    """One int8 per-tensor input to an output of its shape."""

    def validate(self, op: Operator) -> None:
        require_arity(op, 1)
        inp, out = op.input(0), op.outputs[0]
        require_quantized(inp, out)
        require_per_tensor(inp, out)
        self.check_shapes(op)

    def macs(self, op: Operator) -> int:
        return op.outputs[0].num_elements


@dataclass(frozen=True)
class LeakyReluAttrs:
    #: the slope for x < 0 (TFLite's LeakyReluOptions.alpha, a float32); negative and above 1 are allowed
    alpha: float = 0.2

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> LeakyReluAttrs:
        return cls(alpha=f32(float(options.get("alpha", 0.0))))


@dataclass(frozen=True)
class LeakyReluRequant:
    """TFLM's CalculateOpDataLeakyRelu (in float32): x >= 0 by in/out, x < 0 by |in * alpha / out| with the
    sign applied after (`alpha_negative`)."""

    input_zero_point: int
    output_zero_point: int
    identity: tuple[int, int]
    alpha: tuple[int, int]
    alpha_negative: bool


def leaky_relu_requant(op: Operator) -> LeakyReluRequant:
    inp, out = quant(op.input(0)), quant(op.outputs[0])
    in_scale, out_scale, alpha = f32(inp.scale), f32(out.scale), f32(op.attrs.alpha)
    multiplier, shift = quantize_multiplier(f32(f32(in_scale * alpha) / out_scale))
    if multiplier == -(1 << 31):  # TFLM negates it into int32, which overflows
        raise Unsupported(f"LEAKY_RELU alpha {alpha:g}: its multiplier rounds to -2^31")
    identity = quantize_multiplier(f32(in_scale / out_scale))
    return LeakyReluRequant(inp.zero_point, out.zero_point, identity, (abs(multiplier), shift), multiplier < 0)


@define
class LeakyRelu(_Unary):
    op_types = ("LEAKY_RELU",)
    attrs_type = LeakyReluAttrs

    def validate(self, op: Operator) -> None:
        super().validate(op)
        leaky_relu_requant(op)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        r = leaky_relu_requant(op)
        x = as_int64(array(inputs, 0)) - r.input_zero_point
        negative = multiply_by_quantized_multiplier(x, *r.alpha)
        y = np.where(
            x >= 0, multiply_by_quantized_multiplier(x, *r.identity), -negative if r.alpha_negative else negative
        )
        return [saturate(y + r.output_zero_point, op.outputs[0].type)]


def downscale_int32_to_int16_multiplier(multiplier: int) -> int:
    """TFLM's DownScaleInt32ToInt16Multiplier: the top 16 bits, rounded, saturating at INT16_MAX."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return INT16_MAX
    return (multiplier + (1 << 15)) >> 16


@dataclass(frozen=True)
class HardSwishParams:
    """TFLM's HardSwishPrepare: int16 multipliers (with exponents) from the high-resolution input scale to the
    output scale and to the "relu-ish" scale, on which 3.0 is 2^15."""

    input_zero_point: int
    output_zero_point: int
    output_multiplier: int
    output_exponent: int
    reluish_multiplier: int
    reluish_exponent: int


def hard_swish_params(op: Operator) -> HardSwishParams:
    inp, out = quant(op.input(0)), quant(op.outputs[0])
    hires_scale = f32(f32(1.0 / 128.0) * f32(inp.scale))
    reluish_scale = f32(3.0 / 32768.0)
    out_mult, out_exp = quantize_multiplier(f32(hires_scale / f32(out.scale)))
    reluish_mult, reluish_exp = quantize_multiplier(f32(hires_scale / reluish_scale))
    if out_exp > 0:
        raise Unsupported(f"HARD_SWISH output scale {out.scale:g} is below the input scale / 128")
    if out_exp < -_INT16_MAX_SHIFT or reluish_exp < -_INT16_MAX_SHIFT:
        raise Unsupported(f"HARD_SWISH input scale {inp.scale:g} against output scale {out.scale:g} needs a shift")
    return HardSwishParams(
        inp.zero_point,
        out.zero_point,
        downscale_int32_to_int16_multiplier(out_mult),
        out_exp,
        downscale_int32_to_int16_multiplier(reluish_mult),
        reluish_exp,
    )


def _wrap_int16(x: np.ndarray) -> np.ndarray:
    """Store in an int16_t, as the C's narrowing assignments do (wrapping)."""
    return ((as_int64(x) + (1 << 15)) & 0xFFFF) - (1 << 15)


def _sat_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(x, INT16_MIN, INT16_MAX)


def sat_rounding_doubling_high_mul_int16(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp's int16 SaturatingRoundingDoublingHighMul: (a * b + nudge) / 2^15, truncating like C."""
    a, b = as_int64(a), as_int64(b)
    ab = a * b
    q = truncating_divide(ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14)), 1 << 15)
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, _wrap_int16(q))


def sat_doubling_high_mul_int16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """TFLM's SaturatingDoublingHighMul (int16): a * b / 2^15 truncated toward zero, no rounding."""
    a, b = as_int64(a), as_int64(b)
    q = truncating_divide(a * b, 1 << 15)
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, _wrap_int16(q))


@define
class HardSwish(_Unary):
    op_types = ("HARD_SWISH",)

    def validate(self, op: Operator) -> None:
        super().validate(op)
        hard_swish_params(op)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """x * relu6(x + 3) / 6, as TFLM's reference computes it in int16 fixed point."""
        p = hard_swish_params(op)
        hires = (as_int64(array(inputs, 0)) - p.input_zero_point) << HARD_SWISH_HIRES_SHIFT
        preshift_output = sat_rounding_doubling_high_mul_int16(hires, p.output_multiplier)
        reluish = hires
        if p.reluish_exponent > 0:
            reluish = _sat_int16(reluish << (p.reluish_exponent - 1))
        reluish = sat_rounding_doubling_high_mul_int16(reluish, p.reluish_multiplier)
        if p.reluish_exponent > 0:
            reluish = _sat_int16(reluish << 1)
        if p.reluish_exponent < 0:
            reluish = rounding_divide_by_pot(reluish, -p.reluish_exponent)
        reluish = (reluish + (1 << 15)) >> 1  # [-1, 1] to [0, 1]
        y = rounding_divide_by_pot(sat_doubling_high_mul_int16(reluish, preshift_output), -p.output_exponent)
        return [saturate(_wrap_int16(y + p.output_zero_point), op.outputs[0].type)]
