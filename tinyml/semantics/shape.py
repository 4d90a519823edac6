"""PAD, PADV2, CONCATENATION, RESHAPE, SQUEEZE and EXPAND_DIMS: data movement, every byte kept as it is."""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.semantics.base import Arrays, array, quant, semantics


@semantics("PAD", "PADV2")
def pad(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """Constant padding with the output zero point (PAD) or PADV2's raw int8 constant, as TFLM pads."""
    x, paddings = array(inputs, 0), array(inputs, 1)
    value_data = inputs[2] if len(inputs) > 2 else None
    value = quant(op.outputs[0]).zero_point if value_data is None else int(value_data.reshape(-1)[0])
    widths = [(int(b), int(a)) for b, a in paddings.reshape(-1, 2)]
    return [np.pad(x, widths, constant_values=value).astype(x.dtype)]


@semantics("CONCATENATION")
def concatenation(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """The present inputs joined along `axis` (negative counts from the end); TFLM requires equal quantization."""
    parts = [x for x in inputs if x is not None]
    axis = op.attrs.get("axis", 0)
    return [np.concatenate(parts, axis=axis % len(op.outputs[0].shape))]


@semantics("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def reshape(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """The same elements in the same order under the output tensor's shape."""
    return [array(inputs, 0).reshape(op.outputs[0].shape)]
