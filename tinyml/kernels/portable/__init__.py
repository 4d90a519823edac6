"""tinyml's own C99 kernels, one module per operator family: every op on every target.

Importing this package registers each of them as the default kernel of its op types.
"""

from tinyml.kernels.portable import (  # noqa: F401
    activation,
    activation_fixed,
    conv,
    elementwise,
    fully_connected,
    lstm,
    pooling,
    quantize,
    reduce,
    region,
    reshape,
    shape,
    svdf,
)
