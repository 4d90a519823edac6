"""Kernels: the C implementations of ops (portable, tinyml's fast DSP kernels, CMSIS-NN) and what each costs.

Importing this package registers every portable kernel.
"""

from tinyml.kernels import portable  # noqa: F401
from tinyml.kernels.base import REGISTRY, Call, InPlace, Kernel, Unsupported

__all__ = ["REGISTRY", "Call", "InPlace", "Kernel", "Unsupported"]
