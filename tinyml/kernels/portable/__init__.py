"""tinyml's own C99 kernels, one module per operator family: every op on every target.

Importing this package registers each of them as the default kernel of its op types.
"""

from tinyml.kernels.portable import (  # noqa: F401
    activation,
    activation_fixed,
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
    reshape,
    resize,
    shape,
    svdf,
    transpose_conv,
    unary,
)
