"""TFLite's 16x8 quantization (int16 activations, int8 weights) as TFLite Micro computes it.

Models converted with EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
carry int16 activations with zero point 0, int8 symmetric weights, and int64
biases on CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED. Those three
accumulate in int64 and requantize with TFLM's int64 MultiplyByQuantizedMultiplier,
which rounds once with the multiplier cut to 16 bits: not the int32 path's
double rounding, so it has its own function here. The other ops' int16
variants reuse their int8 arithmetic (ADD with a left shift of 15 instead of 20).
"""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator, Tensor
from tinyml.ir.types import INT8, INT16, INT64
from tinyml.ops.arith import as_int64, saturate, wrap_int32
from tinyml.ops.base import Unsupported, quant, require_quantized

#: the largest int32 multiplier TFLM still rounds to 16 bits; from here on it takes 0x7FFF
_REDUCED_LIMIT = 0x7FFF0000


def is_16x8(op: Operator) -> bool:
    """Whether an op computes on int16 activations (its first input or its output is int16)."""
    return op.input(0).type == INT16 or op.outputs[0].type == INT16


def require_int16(*tensors: Tensor | None, zero_point: bool = True) -> None:
    """Every present tensor is a per-tensor quantized int16, with zero point 0 where TFLM requires it."""
    require_quantized(*tensors, types=(INT16,))
    for t in tensors:
        if t is not None and zero_point and any(quant(t).zero_points):
            raise Unsupported(f"int16 tensor {t.name!r} has zero point {quant(t).zero_point}; 16x8 needs 0")


def require_16x8_weights(op: Operator) -> None:
    """A 16x8 CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED: int16 input and output (zero point 0), int8
    weights, and an int64 bias when present (TFLM's int16 depthwise reads int64 only; int32 biases, which TFLM's
    conv and fully connected also take, are not supported)."""
    require_int16(op.input(0), op.outputs[0])
    require_quantized(op.input(1), types=(INT8,))
    bias = op.opt_input(2)
    if bias is not None and bias.type != INT64:
        raise Unsupported(f"bias {bias.name!r} of an int16 {op.type} is {bias.type}; int64 expected")


def multiply_by_quantized_multiplier_int64(
    x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """TFLM's MultiplyByQuantizedMultiplier for int64 accumulators: the multiplier rounded to 16 bits
    ((m + 2^15) >> 16, or 0x7FFF from 0x7FFF0000 up), one rounding shift by 15 - shift, the result truncated
    to int32 as the C assignment does."""
    m = as_int64(multiplier)
    reduced = np.where(m < _REDUCED_LIMIT, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - as_int64(shift)
    return wrap_int32((as_int64(x) * reduced + (np.int64(1) << (total - 1))) >> total)


def requantize_output_int64(
    acc: np.ndarray,
    multiplier: np.ndarray | int,
    shift: np.ndarray | int,
    output_offset: int,
    act: tuple[int, int],
) -> np.ndarray:
    """An int64 accumulator (bias added) rescaled to int16, offset and clamped to the fused range."""
    return saturate(multiply_by_quantized_multiplier_int64(acc, multiplier, shift) + output_offset, INT16, act)
