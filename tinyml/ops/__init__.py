"""Operator support: importing this package registers every kernel."""

from tinyml.ops import (  # noqa: F401
    activation,
    activation_fixed,
    conv,
    elementwise,
    fully_connected,
    pooling,
    quantize,
    reduce,
    region,
    reshape,
    shape,
)
from tinyml.ops.base import REGISTRY, Call, InPlace, Kernel, Unsupported

__all__ = ["REGISTRY", "Call", "InPlace", "Kernel", "Unsupported"]
