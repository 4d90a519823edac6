"""MEAN: TFLM's int8 mean over any axes, as an int32 sum requantized with the 1/count factor folded in."""

from __future__ import annotations

import math

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ops.fixedpoint import mean_multiplier
from tinyml.semantics.arith import as_int64, multiply_by_quantized_multiplier, saturate_int8
from tinyml.semantics.base import Arrays, array, quant, semantics


@semantics("MEAN")
def mean(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """(sum - input zero point * count) * multiplier(in_scale / out_scale / count) + output zero point."""
    x, axes_data = array(inputs, 0), array(inputs, 1)
    inp, out = op.input(0), op.outputs[0]
    axes = tuple(sorted({int(a) % x.ndim for a in axes_data.reshape(-1)}))
    count = math.prod(x.shape[a] for a in axes)
    multiplier, shift = mean_multiplier(quant(inp).scale, quant(out).scale, count)
    total = as_int64(x).sum(axis=axes) - quant(inp).zero_point * count
    y = multiply_by_quantized_multiplier(total, multiplier, shift) + quant(out).zero_point
    return [saturate_int8(y).reshape(out.shape)]
