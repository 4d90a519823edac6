"""QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE (int8 -> float32), per tensor, as TFLM computes them."""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import FLOAT32, INT8
from tinyml.ops.arith import as_int64, multiply_by_quantized_multiplier, saturate
from tinyml.ops.base import (
    Arrays,
    OpDef,
    Unsupported,
    array,
    define,
    quant,
    require_arity,
    require_per_tensor,
    require_quantized,
)
from tinyml.ops.requant import requantize

#: float32 quotients beyond this saturate whatever the zero point (the C kernel clamps here before converting)
_QUOTIENT_LIMIT = np.float32(512.0)


@define
class Quantize(OpDef):
    """Float model inputs into int8, or int8 into another scale where the converter needs one."""

    op_types = ("QUANTIZE",)
    types = (FLOAT32, INT8)

    def validate(self, op: Operator) -> None:
        require_arity(op, 1)
        inp, out = op.input(0), op.outputs[0]
        require_quantized(out)
        require_per_tensor(out)
        if inp.type not in (FLOAT32, INT8):
            raise Unsupported(f"QUANTIZE from {inp.type}; float32 or int8 input expected")
        if inp.type == INT8:
            require_quantized(inp)
            require_per_tensor(inp)
        self.check_shapes(op)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """float32: AffineQuantize's float32 division by the scale (not a multiplication by its reciprocal,
        which rounds differently), C round() with halves away from zero, plus the zero point, saturated; NaN
        gives -128. int8: Requantize, (x - in zero point) * in_scale / out_scale + out zero point, saturated."""
        x = array(inputs, 0)
        out, etype = quant(op.outputs[0]), op.outputs[0].type
        if op.input(0).type == FLOAT32:
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                q = x / np.float32(out.scale)
            q = np.where(q > -_QUOTIENT_LIMIT, np.minimum(q, _QUOTIENT_LIMIT), -_QUOTIENT_LIMIT)
            truncated = np.trunc(q)
            rounded = truncated + (q - truncated >= 0.5) - (q - truncated <= -0.5)
            return [saturate(rounded.astype(np.int64) + out.zero_point, etype)]
        r = requantize(op)
        shifted = as_int64(x) + r.input_offset
        return [saturate(multiply_by_quantized_multiplier(shifted, r.multiplier, r.shift) + r.output_offset, etype)]


@define
class Dequantize(OpDef):
    """int8 model outputs back to float32."""

    op_types = ("DEQUANTIZE",)
    types = (INT8, FLOAT32)

    def validate(self, op: Operator) -> None:
        require_arity(op, 1)
        inp, out = op.input(0), op.outputs[0]
        require_quantized(inp)
        require_per_tensor(inp)
        if out.type != FLOAT32:
            raise Unsupported(f"DEQUANTIZE to {out.type}; float32 output expected")
        self.check_shapes(op)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """(float)(scale * (q - zero point)): the double product of a float and a 9-bit integer is exact, so one
        float32 multiply, rounding that exact product once, gives TFLM's bits."""
        x = array(inputs, 0)
        q = quant(op.input(0))
        return [np.float32(q.scale) * (x.astype(np.int32) - q.zero_point).astype(np.float32)]
