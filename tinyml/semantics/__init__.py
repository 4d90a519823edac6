"""Reference semantics of every supported operator in NumPy, bit-identical to TFLite Micro, and an
interpreter of the IR built on them.

The C kernels are fast and memory-frugal; these functions are the plain
statement of what each op computes (TFLM's integer arithmetic, vectorized),
sharing their quantization constants with the kernels through
`tinyml.fixedpoint`. Importing this package registers every op family.
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
from tinyml.semantics.interpreter import run, run_bytes

__all__ = ["SEMANTICS", "Semantics", "run", "run_bytes"]
