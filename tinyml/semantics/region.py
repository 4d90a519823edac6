"""TINYML_COPY_REGION, the internal op patch expansion makes: a rectangle of pixels (all channels) moved
between NHWC tensors, to gather a patch's input or scatter its output into the full feature map."""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.kernels.portable.region import COPY
from tinyml.semantics.base import Arrays, array, semantics


@semantics(COPY)
def copy_region(op: Operator, inputs: Arrays) -> list[np.ndarray]:
    """The destination with `size` rows and columns from the source at `src` written at `dst`.

    Several of these ops write disjoint parts of one full feature map, so the
    destination's current contents come as an extra input after the source
    (the interpreter passes them; None before the first write, when the rest
    is zeros).
    """
    src = array(inputs, 0)
    dst = op.outputs[0]
    current = inputs[1] if len(inputs) > 1 else None
    result = np.zeros(dst.shape, np.dtype(dst.dtype)) if current is None else current.copy()
    (sy, sx), (dy, dx), (rows, cols) = op.attrs["src"], op.attrs["dst"], op.attrs["size"]
    if sy + rows > src.shape[1] or sx + cols > src.shape[2] or dy + rows > dst.shape[1] or dx + cols > dst.shape[2]:
        raise ValueError(f"{op.label}: region {op.attrs} does not fit {src.shape} -> {dst.shape}")
    result[:, dy : dy + rows, dx : dx + cols, :] = src[:, sy : sy + rows, sx : sx + cols, :]
    return [result]
