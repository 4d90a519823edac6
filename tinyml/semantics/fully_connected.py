"""FULLY_CONNECTED: TFLM's int8 reference (per-tensor weights with any zero point, or per-channel weights)."""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ops.fixedpoint import conv_multipliers
from tinyml.semantics.arith import integer_matmul
from tinyml.semantics.base import Arrays, array, quant, requantize_output, semantics


@semantics("FULLY_CONNECTED")
def fully_connected(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """Each row of `depth` inputs (the input flattened) against each unit's weights:
    bias + sum((x - input zero point) * (w - weight zero point)), requantized per unit or once."""
    x, w = array(inputs, 0), array(inputs, 1)
    inp, weights, out = op.input(0), op.input(1), op.outputs[0]
    units, depth = w.shape
    if x.size % depth:
        raise ValueError(f"{op.label}: input {x.shape} does not match weights {w.shape}")
    wq = quant(weights)
    rows = x.reshape(-1, depth).astype(np.int64) - quant(inp).zero_point
    acc = integer_matmul(rows, (w.astype(np.int64) - np.array(wq.zero_points).reshape(-1, 1)).T)
    bias = inputs[2] if len(inputs) > 2 else None
    if bias is not None:
        acc += bias.astype(np.int64).reshape(units)
    mults, shifts = conv_multipliers(inp, weights, out, units if wq.per_channel else 1)
    return [requantize_output(acc, np.array(mults), np.array(shifts), op)]
