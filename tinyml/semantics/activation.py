"""RELU, RELU6, SOFTMAX and LOGISTIC: TFLM's int8 reference activations.

SOFTMAX and LOGISTIC use gemmlowp's fixed-point exp, 1/(1+x) and logistic
(`arith`), on inputs taken to a Q-format by multipliers from
`tinyml.ops.fixedpoint`; their int8 output is in units of 1/256 from -128.
"""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.kernels.portable.activation_fixed import SOFTMAX_DIFF_INTEGER_BITS
from tinyml.ops.fixedpoint import (
    INT8_MAX,
    INT8_MIN,
    calculate_input_radius,
    f32,
    logistic_input_scaling,
    preprocess_softmax_scaling,
    quantize_multiplier,
    quantize_scalar,
)
from tinyml.semantics.arith import (
    as_int64,
    exp_on_negative_values,
    logistic,
    multiply_by_quantized_multiplier,
    one_over_one_plus_x_for_x_in_0_1,
    rounding_divide_by_pot,
    sat_rounding_doubling_high_mul,
    saturate_int8,
    wrap_int32,
)
from tinyml.semantics.base import Arrays, array, quant, semantics

#: softmax sums exps in Q12 (each at most 1.0 = 2^19 there)
_SOFTMAX_ACCUM_INTEGER_BITS = 12
#: int8 LOGISTIC takes its input to Q4.27
_LOGISTIC_INPUT_INTEGER_BITS = 4
#: both write probabilities in 8 fraction bits
_OUTPUT_BITS = 8


@semantics("RELU")
def relu(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """Requantized to the output scale (CalculateReluOpData divides the scales in float32), clamped at the
    output's zero."""
    x = array(inputs, 0)
    inp, out = quant(op.input(0)), quant(op.outputs[0])
    multiplier, shift = quantize_multiplier(f32(f32(inp.scale) / f32(out.scale)))
    y = multiply_by_quantized_multiplier(as_int64(x) - inp.zero_point, multiplier, shift) + out.zero_point
    return [saturate_int8(y, max(INT8_MIN, out.zero_point), INT8_MAX)]


@semantics("RELU6")
def relu6(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """A clamp to [0, 6] expressed in the input's quantization; TFLM ignores the output's, even when it differs."""
    x = array(inputs, 0)
    inp = quant(op.input(0))
    six = min(INT8_MAX, max(INT8_MIN, quantize_scalar(6.0, inp)))
    return [saturate_int8(as_int64(x), inp.zero_point, six)]


@semantics("SOFTMAX")
def softmax(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """Per row of the last axis: exp(beta * scale * (x - max)) in Q0 from a Q5.26 difference, summed in Q12,
    one reciprocal 1/(1 + f) per row with the sum's power of two folded into the final rounding shift."""
    x = array(inputs, 0)
    inp = quant(op.input(0))
    multiplier, shift = preprocess_softmax_scaling(
        float(op.attrs.get("beta", 0.0)), inp.scale, SOFTMAX_DIFF_INTEGER_BITS
    )
    diff_min = -calculate_input_radius(SOFTMAX_DIFF_INTEGER_BITS, shift)
    rows = as_int64(x).reshape(-1, x.shape[-1])
    diff = rows - rows.max(axis=1, keepdims=True)
    live = diff >= diff_min
    scaled = sat_rounding_doubling_high_mul(wrap_int32(np.where(live, diff, 0) << shift), multiplier)
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
    return [saturate_int8(np.where(live, probs, INT8_MIN)).reshape(op.outputs[0].shape)]


@semantics("LOGISTIC")
def logistic_op(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """Inputs within the radius go to Q4.27, through the fixed-point logistic to Q0, then to 1/256 steps;
    those beyond it saturate."""
    x = array(inputs, 0)
    inp = quant(op.input(0))
    multiplier, shift, radius = logistic_input_scaling(inp.scale)
    shifted = as_int64(x) - inp.zero_point
    inside = np.where(np.abs(shifted) < radius, shifted, 0)
    y = logistic(multiply_by_quantized_multiplier(inside, multiplier, shift), _LOGISTIC_INPUT_INTEGER_BITS)
    y = rounding_divide_by_pot(y, 31 - _OUTPUT_BITS) + INT8_MIN
    y = np.where(shifted <= -radius, INT8_MIN, np.where(shifted >= radius, INT8_MAX, y))
    return [saturate_int8(y).reshape(op.outputs[0].shape)]
