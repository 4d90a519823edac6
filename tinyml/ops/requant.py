"""Every op family's quantization parameters, computed in one place from the tensors' scales and zero points.

TFLite Micro works these out in each kernel's Prepare; tinyml works them out
at compile time, here, once: the reference semantics and every kernel family
(portable, tinyml's fast kernels, CMSIS-NN) read the same objects, so a
multiplier, a folded bias or a clamp cannot differ between the oracle and the
generated code. The arithmetic itself (bit-exact with TFLM's double and float
steps) is in `tinyml.ops.fixedpoint`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyml.ir.graph import Operator, Tensor
from tinyml.ops.base import Unsupported, definition, quant
from tinyml.ops.fixedpoint import (
    calculate_input_radius,
    f32,
    logistic_input_scaling,
    mean_multiplier,
    preprocess_softmax_scaling,
    quantize_multiplier,
    quantize_scalar,
)

#: TFLM's headroom for int8 ADD: inputs are scaled up by 2^20 before rescaling
ADD_LEFT_SHIFT = 20
#: and for int16 ADD, whose inputs have 8 more bits: 2^15
ADD_LEFT_SHIFT_INT16 = 15
#: the Q-format integer bits TFLM's int8 softmax uses for beta * scale * (x - max)
SOFTMAX_DIFF_INTEGER_BITS = 5


def activation_range(activation: str, out: Tensor) -> tuple[int, int]:
    """The clamp of a fused activation on a quantized output (TFLM's CalculateActivationRangeQuantized):
    the output type's range (16 levels for a 4-bit output), narrowed to the activation's real interval expressed
    in the output's scale."""
    qmin, qmax = out.type.range
    if activation == "NONE" or out.quant is None:
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize_scalar(0.0, out.quant)), qmax
    if activation == "RELU6":
        return max(qmin, quantize_scalar(0.0, out.quant)), min(qmax, quantize_scalar(6.0, out.quant))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize_scalar(-1.0, out.quant)), min(qmax, quantize_scalar(1.0, out.quant))
    raise Unsupported(f"fused activation {activation}")


def fused_range(op: Operator) -> tuple[int, int]:
    """The clamp of the op's fused activation (its `attrs.activation`) on its output."""
    return activation_range(op.attrs.activation, op.outputs[0])


def _wrap_int32(x: np.ndarray) -> np.ndarray:
    return ((x + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


@dataclass(frozen=True, eq=False)
class ConvRequant:
    """How CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED turn an int32 accumulator into an output value
    (TFLM's PopulateConvolutionQuantizationParams), per output channel."""

    #: whether the weights have a scale per output channel (else every channel repeats the first entry)
    per_channel: bool
    #: int32 multiplier and shift per output channel: in_scale * weights_scale / out_scale
    multipliers: np.ndarray
    shifts: np.ndarray
    #: what the kernels add to the inputs, weights and outputs: minus the zero points, the output's zero point
    input_offset: int
    weights_offset: int
    output_offset: int
    #: the fused activation's clamp on the output
    act: tuple[int, int]
    #: int32 per output channel: bias + input_offset * sum of that channel's weights, wrapped like C's int32
    folded_bias: np.ndarray


def _channel_rows(op: Operator) -> np.ndarray:
    """The constant weights as (output channels, reduction), int64."""
    weights = op.input(1)
    axis = definition(op).weights_channel_axis
    assert weights.data is not None and axis is not None
    data = np.moveaxis(weights.data.astype(np.int64), axis, 0)
    return data.reshape(data.shape[0], -1)


def conv_requant(op: Operator) -> ConvRequant:
    """The requantization of a conv-like op (its definition names the weights' output-channel axis)."""
    inp, weights, out = op.input(0), op.input(1), op.outputs[0]
    wq = quant(weights)
    rows = _channel_rows(op)
    channels = rows.shape[0]
    in_scale, out_scale = quant(inp).scale, quant(out).scale
    pairs = [quantize_multiplier(in_scale * s / out_scale) for s in (wq.scales if wq.per_channel else wq.scales[:1])]
    if not wq.per_channel:
        pairs *= channels
    input_offset = -quant(inp).zero_point
    bias_t = op.opt_input(2)
    bias = (
        bias_t.data.astype(np.int64).reshape(-1)
        if bias_t is not None and bias_t.data is not None
        else np.zeros(channels, dtype=np.int64)
    )
    return ConvRequant(
        per_channel=wq.per_channel,
        multipliers=np.array([m for m, _ in pairs], dtype=np.int32),
        shifts=np.array([s for _, s in pairs], dtype=np.int32),
        input_offset=input_offset,
        weights_offset=-wq.zero_point,
        output_offset=quant(out).zero_point,
        act=fused_range(op),
        folded_bias=_wrap_int32(bias + input_offset * rows.sum(axis=1)),
    )


@dataclass(frozen=True)
class BinaryRequant:
    """ADD and MUL: offsets of both operands and the output, the output clamp, and the rescaling."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    act: tuple[int, int]
    #: ADD: (multiplier, shift) for input 1, input 2 and the output, after a left shift of ADD_LEFT_SHIFT;
    #: MUL: one (multiplier, shift) for the product
    quant: tuple[tuple[int, int], ...]


def _binary_offsets(op: Operator) -> tuple[int, int, int, tuple[int, int]]:
    in1, in2, out = (quant(t) for t in (op.input(0), op.input(1), op.outputs[0]))
    return -in1.zero_point, -in2.zero_point, out.zero_point, fused_range(op)


def add_left_shift(op: Operator) -> int:
    """The left shift TFLM's ADD gives its output type (CalculateOpDataAdd): 15 for int16, else 20."""
    return ADD_LEFT_SHIFT_INT16 if op.outputs[0].type.bits == 16 else ADD_LEFT_SHIFT


def add_requant(op: Operator) -> BinaryRequant:
    """TFLM's int8 ADD Prepare: both inputs scaled up by 2^20 and down to twice the larger input scale (so
    their sum cannot overflow), the sum rescaled to the output. TFLM requires every factor below 1."""
    in1, in2, out = (quant(t) for t in (op.input(0), op.input(1), op.outputs[0]))
    twice_max = 2 * max(in1.scale, in2.scale)
    reals = (in1.scale / twice_max, in2.scale / twice_max, twice_max / ((1 << add_left_shift(op)) * out.scale))
    if not all(0.0 < r < 1.0 for r in reals):
        raise Unsupported(f"ADD rescaling factors {reals} are not all in (0, 1)")
    return BinaryRequant(*_binary_offsets(op), tuple(quantize_multiplier(r) for r in reals))


def mul_requant(op: Operator) -> BinaryRequant:
    """TFLM's int8 MUL: one multiplier, in1_scale * in2_scale / out_scale."""
    in1, in2, out = (quant(t) for t in (op.input(0), op.input(1), op.outputs[0]))
    return BinaryRequant(*_binary_offsets(op), (quantize_multiplier(in1.scale * in2.scale / out.scale),))


@dataclass(frozen=True)
class Rescale:
    """A one-input requantization: (x + input_offset) * multiplier * 2^shift + output_offset, clamped."""

    input_offset: int
    output_offset: int
    multiplier: int
    shift: int
    act: tuple[int, int]


def relu_requant(op: Operator) -> Rescale:
    """RELU: TFLM requantizes to the output scale (CalculateReluOpData divides the scales in float32 before
    widening to double; the converter often halves the scale) and clamps at the output's zero."""
    inp, out = quant(op.input(0)), quant(op.outputs[0])
    qmin, qmax = op.outputs[0].type.range
    multiplier, shift = quantize_multiplier(f32(f32(inp.scale) / f32(out.scale)))
    return Rescale(-inp.zero_point, out.zero_point, multiplier, shift, (max(qmin, out.zero_point), qmax))


def relu6_bounds(op: Operator) -> tuple[int, int]:
    """RELU6: TFLM clamps to [0, 6] expressed in the input's quantization, ignoring the output's."""
    inp = quant(op.input(0))
    qmin, qmax = op.input(0).type.range
    return inp.zero_point, min(qmax, max(qmin, quantize_scalar(6.0, inp)))


def requantize(op: Operator) -> Rescale:
    """QUANTIZE from one integer quantization to another (TFLM's Requantize): in_scale / out_scale."""
    inp, out = quant(op.input(0)), quant(op.outputs[0])
    multiplier, shift = quantize_multiplier(inp.scale / out.scale)
    return Rescale(-inp.zero_point, out.zero_point, multiplier, shift, op.outputs[0].type.range)


@dataclass(frozen=True)
class SoftmaxParams:
    """TFLM's SoftmaxPrepare: the input difference to the max goes to Q5.26 by (multiplier, left shift);
    differences below diff_min give exp() = 0."""

    multiplier: int
    shift: int
    diff_min: int


def softmax_params(op: Operator) -> SoftmaxParams:
    inp = quant(op.input(0))
    try:
        mult, shift = preprocess_softmax_scaling(float(op.attrs.beta), inp.scale, SOFTMAX_DIFF_INTEGER_BITS)
    except ValueError as e:
        raise Unsupported(str(e)) from None
    return SoftmaxParams(mult, shift, -calculate_input_radius(SOFTMAX_DIFF_INTEGER_BITS, shift))


@dataclass(frozen=True)
class LogisticParams:
    """TFLM's int8 LOGISTIC Prepare: inputs within `radius` of the zero point go to Q4.27."""

    input_offset: int
    multiplier: int
    shift: int
    radius: int


def logistic_params(op: Operator) -> LogisticParams:
    inp = quant(op.input(0))
    try:
        mult, shift, radius = logistic_input_scaling(inp.scale)
    except ValueError as e:
        raise Unsupported(str(e)) from None
    return LogisticParams(-inp.zero_point, mult, shift, radius)


@dataclass(frozen=True)
class MeanParams:
    """TFLM's int8 MEAN: (sum + sum_offset) * multiplier * 2^shift + output_offset, 1/count folded in."""

    count: int
    sum_offset: int
    output_offset: int
    multiplier: int
    shift: int


def mean_params(op: Operator, count: int) -> MeanParams:
    """The requantization of a MEAN over `count` elements per output."""
    inp, out = quant(op.input(0)), quant(op.outputs[0])
    multiplier, shift = mean_multiplier(inp.scale, out.scale, count)
    return MeanParams(count, -inp.zero_point * count, out.zero_point, multiplier, shift)


def reduced_count(shape: tuple[int, ...], axes: set[int]) -> int:
    """How many input elements each output of a reduction over `axes` combines."""
    return math.prod(shape[a] for a in axes)
