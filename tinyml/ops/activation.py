"""RELU, RELU6, SOFTMAX and LOGISTIC (int8), as TFLite Micro's int8 kernels compute them.

SOFTMAX and LOGISTIC use gemmlowp's fixed-point exp, 1/(1+x) and logistic
(`tinyml.ops.arith`) on inputs taken to a Q-format by multipliers from
`tinyml.ops.requant`; their int8 output is in units of 1/256 from -128.
int16 LOGISTIC (16x8 models) interpolates in TFLM's sigmoid table, as int16
TANH does (`tinyml.ops.unary`); int16 SOFTMAX in TFLM's exp and reciprocal
tables (`tinyml.ops.softmax16`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator, Tensor
from tinyml.ir.types import INT8, INT16
from tinyml.ops import int16
from tinyml.ops.arith import (
    as_int64,
    exp_on_negative_values,
    logistic,
    multiply_by_quantized_multiplier,
    one_over_one_plus_x_for_x_in_0_1,
    rounding_divide_by_pot,
    sat_rounding_doubling_high_mul,
    saturate,
    wrap_int32,
)
from tinyml.ops.base import (
    Arrays,
    OpDef,
    Unsupported,
    array,
    define,
    quant,
    require_arity,
    require_per_tensor,
    require_quantized,
)
from tinyml.ops.elementwise import ElementwiseOpDef
from tinyml.ops.requant import (
    SOFTMAX_DIFF_INTEGER_BITS,
    logistic_params,
    relu6_bounds,
    relu_requant,
    softmax_params,
)
from tinyml.ops.softmax16 import softmax_s16, softmax_s16_params
from tinyml.ops.unary import sigmoid_s16, sigmoid_s16_params

#: softmax sums exps in Q12 (each at most 1.0 = 2^19 there)
_SOFTMAX_ACCUM_INTEGER_BITS = 12
#: int8 LOGISTIC takes its input to Q4.27
_LOGISTIC_INPUT_INTEGER_BITS = 4
#: both write probabilities in 8 fraction bits
_OUTPUT_BITS = 8
#: TFLM's int8 SOFTMAX and LOGISTIC write probabilities in 1/256 steps from the int8 minimum
INT8_MIN, INT8_MAX = INT8.range


class _Unary(ElementwiseOpDef):
    """One int8 per-tensor input to an output of its shape (int16 too where `types` lists it: TFLM's int8
    arithmetic at the int16 range)."""

    def validate(self, op: Operator) -> None:
        require_arity(op, 1)
        inp, out = op.input(0), op.outputs[0]
        if INT16 in self.types and int16.is_16x8(op):
            int16.require_int16(inp, out, zero_point=False)
        else:
            require_quantized(inp, out)
        require_per_tensor(inp, out)
        self.check_shapes(op)


@define
class Relu(_Unary):
    op_types = ("RELU",)
    types = (INT8, INT16)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """Requantized to the output scale, clamped at the output's zero (`requant.relu_requant`)."""
        r = relu_requant(op)
        y = multiply_by_quantized_multiplier(as_int64(array(inputs, 0)) + r.input_offset, r.multiplier, r.shift)
        return [saturate(y + r.output_offset, op.outputs[0].type, r.act)]


@define
class Relu6(_Unary):
    op_types = ("RELU6",)
    types = (INT8, INT16)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """A clamp to [0, 6] expressed in the input's quantization; TFLM ignores the output's, even when it
        differs."""
        return [saturate(as_int64(array(inputs, 0)), op.outputs[0].type, relu6_bounds(op))]


@dataclass(frozen=True)
class SoftmaxAttrs:
    beta: float = 1.0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> SoftmaxAttrs:
        return cls(beta=float(options.get("beta", 0.0)))


def _require_probability_output(out: Tensor) -> None:
    """TFLM's int8 SOFTMAX/LOGISTIC compute in units of 1/256 from -128, whatever the tensor claims."""
    if quant(out).zero_point != -128 or quant(out).scale != 1 / 256:
        raise Unsupported(
            f"output quantization scale {quant(out).scale:g}, zero point {quant(out).zero_point}; "
            "int8 output must have scale 1/256 and zero point -128"
        )


@define
class Softmax(OpDef):
    op_types = ("SOFTMAX",)
    attrs_type = SoftmaxAttrs
    #: int8, or int16 in and out (16x8 models: TFLM's table-based SoftmaxInt16)
    types = (INT8, INT16)

    def validate(self, op: Operator) -> None:
        require_arity(op, 1)
        inp, out = op.input(0), op.outputs[0]
        if inp.type != out.type and INT16 in (inp.type, out.type):
            raise Unsupported(f"{inp.type} input with {out.type} output")
        if not inp.shape or inp.num_elements == 0 or inp.shape != out.shape:
            raise Unsupported(f"softmax of shape {inp.shape} to {out.shape}")
        if inp.type == INT16:
            int16.require_int16(inp, out)
            require_per_tensor(inp, out)
            softmax_s16_params(op, op.attrs.beta)
            return
        require_quantized(inp, out)
        require_per_tensor(inp, out)
        _require_probability_output(out)
        softmax_params(op)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """Per row of the last axis: exp(beta * scale * (x - max)) in Q0 from a Q5.26 difference, summed in Q12,
        one reciprocal 1/(1 + f) per row with the sum's power of two folded into the final rounding shift.
        int16 interpolates exp and the reciprocal in TFLM's tables instead (`softmax16.softmax_s16`)."""
        x = array(inputs, 0)
        if op.input(0).type == INT16:
            return [softmax_s16(op, op.attrs.beta, x).reshape(op.outputs[0].shape)]
        p = softmax_params(op)
        rows = as_int64(x).reshape(-1, x.shape[-1])
        diff = rows - rows.max(axis=1, keepdims=True)
        live = diff >= p.diff_min
        scaled = sat_rounding_doubling_high_mul(wrap_int32(np.where(live, diff, 0) << p.shift), p.multiplier)
        exps = exp_on_negative_values(scaled, SOFTMAX_DIFF_INTEGER_BITS)
        total = np.where(live, rounding_divide_by_pot(exps, _SOFTMAX_ACCUM_INTEGER_BITS), 0).sum(axis=1, keepdims=True)
        if total.max() >= 1 << 28:
            raise ValueError(f"{op.label}: the sum of exps reaches 512, where TFLM's output shift passes 31")
        # total = 2^bits_over_unit * (1 + f), f in [0, 1); total >= 1, as the row maximum contributes 2^19
        headroom_plus_one = 32 - np.frexp(total.astype(np.float64))[1].astype(np.int64)
        f = (total << headroom_plus_one) - (1 << 31)
        reciprocal = one_over_one_plus_x_for_x_in_0_1(f)
        exponent = _SOFTMAX_ACCUM_INTEGER_BITS - headroom_plus_one + 31 - _OUTPUT_BITS
        probs = rounding_divide_by_pot(sat_rounding_doubling_high_mul(reciprocal, exps), exponent) + INT8_MIN
        return [saturate(np.where(live, probs, INT8_MIN), INT8).reshape(op.outputs[0].shape)]


@define
class Logistic(OpDef):
    op_types = ("LOGISTIC",)
    types = (INT8, INT16)

    def validate(self, op: Operator) -> None:
        require_arity(op, 1)
        inp, out = op.input(0), op.outputs[0]
        int16 = inp.type == INT16 and out.type == INT16  # 16x8 models: TFLM's sigmoid table (tinyml.ops.unary)
        require_quantized(inp, out, types=(INT16,) if int16 else (INT8,))
        require_per_tensor(inp, out)
        if inp.num_elements != out.num_elements:
            raise Unsupported(f"logistic of shape {inp.shape} to {out.shape}")
        if int16:
            sigmoid_s16_params(op)
            return
        _require_probability_output(out)
        logistic_params(op)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """Inputs within the radius go to Q4.27, through the fixed-point logistic to Q0, then to 1/256 steps;
        those beyond it saturate."""
        if op.input(0).type == INT16:
            return [sigmoid_s16(op, array(inputs, 0)).reshape(op.outputs[0].shape)]
        p = logistic_params(op)
        shifted = as_int64(array(inputs, 0)) + p.input_offset
        inside = np.where(np.abs(shifted) < p.radius, shifted, 0)
        y = logistic(multiply_by_quantized_multiplier(inside, p.multiplier, p.shift), _LOGISTIC_INPUT_INTEGER_BITS)
        y = rounding_divide_by_pot(y, 31 - _OUTPUT_BITS) + INT8_MIN
        y = np.where(shifted <= -p.radius, INT8_MIN, np.where(shifted >= p.radius, INT8_MAX, y))
        return [saturate(y, INT8).reshape(op.outputs[0].shape)]
