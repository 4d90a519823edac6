"""L2_NORMALIZATION (int8, last axis), as TFLite Micro's reference_integer_ops::L2Normalization computes it.

Per row: the sum of squared offset inputs (int32), its inverse square root as
a multiplier and shift (TFLM's fixed-point Newton-Raphson, shared with RSQRT:
`tinyml.ops.unary.inv_sqrt_multiplier`), then each offset input times it, in
1/128 steps (output scale 1/128, zero point 0). A row of zeros has sum 0,
which TFLM treats as 1. No epsilon and no fused activation.
"""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT8
from tinyml.ops.arith import as_int64, multiply_by_quantized_multiplier, saturate
from tinyml.ops.base import (
    Arrays,
    FusedActivation,
    OpDef,
    Unsupported,
    array,
    define,
    quant,
    require_arity,
    require_per_tensor,
)
from tinyml.ops.unary import inv_sqrt_multiplier

#: the output is in 7 fraction bits: scale 1/128, zero point 0
OUTPUT_BITS = 7
#: a row's sum of squares (each at most 255^2) must stay below 2^31
MAX_DEPTH = ((1 << 31) - 1) // (255 * 255)


@define
class L2Normalization(OpDef):
    op_types = ("L2_NORMALIZATION",)
    attrs_type = FusedActivation

    def validate(self, op: Operator) -> None:
        require_arity(op, 1)
        inp, out = op.input(0), op.outputs[0]
        for t in (inp, out):
            if t.type != INT8 or t.quant is None:
                raise Unsupported(f"L2_NORMALIZATION on {t.type}{'' if t.quant else ' (not quantized)'}; int8 expected")
        require_per_tensor(inp, out)
        if op.attrs.activation != "NONE":
            raise Unsupported(f"L2_NORMALIZATION with fused {op.attrs.activation} (TFLite Micro takes none)")
        if not inp.shape or len(inp.shape) > 4 or inp.shape != out.shape:
            raise Unsupported(f"L2_NORMALIZATION of shape {inp.shape} to {out.shape} (rank 1 to 4, same shape)")
        if inp.shape[-1] > MAX_DEPTH:
            raise Unsupported(f"L2_NORMALIZATION over {inp.shape[-1]} values (at most {MAX_DEPTH})")
        if quant(out).scale != 1 / 128 or quant(out).zero_point != 0:
            raise Unsupported(
                f"L2_NORMALIZATION output quantization scale {quant(out).scale:g}, zero point "
                f"{quant(out).zero_point}; int8 output must have scale 1/128 and zero point 0"
            )

    def macs(self, op: Operator) -> int:
        return op.input(0).num_elements

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        x = array(inputs, 0)
        rows = as_int64(x).reshape(-1, x.shape[-1]) - quant(op.input(0)).zero_point
        out = np.empty_like(rows)
        for i, row in enumerate(rows):
            multiplier, shift = inv_sqrt_multiplier(int((row * row).sum()))
            out[i] = multiply_by_quantized_multiplier(row, multiplier, shift + OUTPUT_BITS)
        return [saturate(out, INT8).reshape(op.outputs[0].shape)]
