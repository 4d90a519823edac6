"""Operator definitions: what each op is and computes, apart from the kernels that run it (`tinyml.kernels`).

Importing this package registers every definition in `DEFINITIONS`.
"""

from tinyml.ops import (  # noqa: F401
    activation,
    conv,
    elementwise,
    fully_connected,
    lstm,
    pooling,
    quantize,
    reduce,
    region,
    shape,
    svdf,
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
