"""Operator support: importing this package registers every kernel."""

from tinyml.ops import conv, fully_connected, reshape  # noqa: F401
from tinyml.ops.base import REGISTRY, Call, Kernel, Unsupported

__all__ = ["REGISTRY", "Call", "Kernel", "Unsupported"]
