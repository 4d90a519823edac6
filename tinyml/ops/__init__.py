"""Operator definitions: what each op is and computes, apart from the kernels that run it (`tinyml.kernels`).

Importing this package registers every definition in `DEFINITIONS`.
"""

from tinyml.ops import (  # noqa: F401
    activation,
    argminmax,
    batch_matmul,
    binary,
    conv,
    elementwise,
    fully_connected,
    l2norm,
    layout,
    logsoftmax,
    lstm,
    piecewise,
    pooling,
    quantize,
    reduce,
    region,
    resize,
    shape,
    svdf,
    transpose_conv,
    unary,
)
from tinyml.ops.base import DEFINITIONS, Arrays, OpDef, Role, Unsupported, definition, parse_attrs, window_of
from tinyml.ops.window import Region, Window

__all__ = [
    "DEFINITIONS",
    "Arrays",
    "OpDef",
    "Region",
    "Role",
    "Unsupported",
    "Window",
    "definition",
    "parse_attrs",
    "window_of",
]
