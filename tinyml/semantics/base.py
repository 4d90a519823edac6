"""The registry of reference semantics and what the op families share.

A semantics function takes an operator and its input arrays (in the order of
`op.inputs`, None for an absent optional input, a constant's `data` for a
constant) and returns one array per output tensor, of that tensor's dtype and
shape. It computes what TFLite Micro's reference kernels compute, bit for bit,
with quantization constants from `tinyml.ops.fixedpoint`, the same functions the
C kernels' constants come from.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyml.ir.graph import Operator, Quantization, Tensor
from tinyml.kernels.base import activation_of
from tinyml.ops.fixedpoint import activation_range
from tinyml.semantics.arith import multiply_by_quantized_multiplier, saturate_int8, wrap_int32

Arrays = list[np.ndarray | None]
Semantics = Callable[[Operator, Arrays], list[np.ndarray]]

#: op type -> its reference semantics
SEMANTICS: dict[str, Semantics] = {}


def semantics(*op_types: str) -> Callable[[Semantics], Semantics]:
    """Decorator: register a function as the reference semantics of these op types."""

    def register(fn: Semantics) -> Semantics:
        for t in op_types:
            SEMANTICS[t] = fn
        return fn

    return register


def quant(t: Tensor) -> Quantization:
    """A tensor's quantization, which every int8 operand of a supported op has."""
    if t.quant is None:
        raise ValueError(f"tensor {t.name!r} is not quantized")
    return t.quant


def array(inputs: Arrays, i: int) -> np.ndarray:
    """The i-th input array, which must be present."""
    x = inputs[i] if i < len(inputs) else None
    if x is None:
        raise ValueError(f"input {i} is missing")
    return x


def fused_range(op: Operator) -> tuple[int, int]:
    """The clamp of the op's fused activation on its output, as TFLM's CalculateActivationRangeQuantized."""
    return activation_range(activation_of(op), op.outputs[0])


def requantize_output(
    acc: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int, op: Operator
) -> np.ndarray:
    """An int32 accumulator (wrapped like C's) rescaled to the output, offset, clamped to the fused range."""
    out = op.outputs[0]
    lo, hi = fused_range(op)
    y = multiply_by_quantized_multiplier(wrap_int32(acc), multiplier, shift) + quant(out).zero_point
    return saturate_int8(y, lo, hi).reshape(out.shape)
