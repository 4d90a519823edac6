"""Reference semantics of every supported operator in NumPy, bit-identical to TFLite Micro, and an
interpreter of the IR built on them (`tinyml.reference`).

The C kernels are fast and memory-frugal; these functions are the plain
statement of what each op computes (TFLM's integer arithmetic, vectorized),
sharing their quantization constants with the kernels through
`tinyml.ops.fixedpoint`. Importing this package registers every op family.
"""

from tinyml.semantics import (  # noqa: F401
    activation,
    conv,
    elementwise,
    fully_connected,
    pooling,
    quantize,
    reduce,
    region,
    shape,
)
from tinyml.semantics.base import SEMANTICS, Semantics

__all__ = ["SEMANTICS", "Semantics"]
