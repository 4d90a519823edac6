"""QUANTIZE (float32 -> int8 or int16, and between uint8, int8 and int16) and DEQUANTIZE (int8, uint8 or int16 ->
float32), per tensor, as TFLM computes them."""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import FLOAT32, INT8, INT16, UINT8, ElementType
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

#: the integer conversions TFLite Micro's QUANTIZE runs (its Requantize), input type -> output types
REQUANTIZE_PAIRS: dict[ElementType, tuple[ElementType, ...]] = {
    INT8: (INT8, UINT8, INT16),
    UINT8: (INT8,),
    INT16: (INT8, INT16),
}
#: the types float32 is quantized to, and the types DEQUANTIZE takes
FLOAT_QUANTIZED = (INT8, INT16)
DEQUANTIZED = (INT8, UINT8, INT16)


def quotient_limit(etype: ElementType) -> np.float32:
    """float32 quotients beyond 2^(bits+1) saturate whatever the zero point (the C kernels clamp there before
    converting to an integer, where TFLite Micro's cast would be undefined)."""
    return np.float32(2.0 ** (etype.bits + 1))


@define
class Quantize(OpDef):
    """Float model inputs into int8 or int16; integers into another scale or type where the converter needs one
    (uint8 model inputs and outputs, the int8/int16 boundaries of 16x8 models)."""

    op_types = ("QUANTIZE",)
    types = (FLOAT32, INT8, UINT8, INT16)

    def validate(self, op: Operator) -> None:
        require_arity(op, 1)
        inp, out = op.input(0), op.outputs[0]
        if inp.type == FLOAT32:
            require_quantized(out, types=FLOAT_QUANTIZED)
        elif inp.type in REQUANTIZE_PAIRS:
            require_quantized(inp, types=(inp.type,))
            require_per_tensor(inp)
            if out.type not in REQUANTIZE_PAIRS[inp.type]:
                raise Unsupported(
                    f"QUANTIZE from {inp.type} to {out.type}; "
                    f"{' or '.join(map(str, REQUANTIZE_PAIRS[inp.type]))} output expected"
                )
            require_quantized(out, types=(out.type,))
        else:
            raise Unsupported(f"QUANTIZE from {inp.type}; float32, int8, uint8 or int16 input expected")
        require_per_tensor(out)
        self.check_shapes(op)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """float32: AffineQuantize's float32 division by the scale (not a multiplication by its reciprocal,
        which rounds differently), C round() with halves away from zero, plus the zero point, saturated; NaN
        gives the type's minimum. Integers: Requantize, (x - in zero point) * in_scale / out_scale + out zero point,
        saturated to the output type (uint8 <-> int8 at one scale is TFLM's xor 0x80, which this equals)."""
        x = array(inputs, 0)
        out, etype = quant(op.outputs[0]), op.outputs[0].type
        if op.input(0).type == FLOAT32:
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                q = x / np.float32(out.scale)
            limit = quotient_limit(etype)
            q = np.where(q > -limit, np.minimum(q, limit), -limit)
            truncated = np.trunc(q)
            rounded = truncated + (q - truncated >= 0.5) - (q - truncated <= -0.5)
            return [saturate(rounded.astype(np.int64) + out.zero_point, etype)]
        r = requantize(op)
        shifted = as_int64(x) + r.input_offset
        return [saturate(multiply_by_quantized_multiplier(shifted, r.multiplier, r.shift) + r.output_offset, etype)]


@define
class Dequantize(OpDef):
    """int8, uint8 or int16 model outputs back to float32."""

    op_types = ("DEQUANTIZE",)
    types = (INT8, UINT8, INT16, FLOAT32)

    def validate(self, op: Operator) -> None:
        require_arity(op, 1)
        inp, out = op.input(0), op.outputs[0]
        require_quantized(inp, types=DEQUANTIZED)
        require_per_tensor(inp)
        if out.type != FLOAT32:
            raise Unsupported(f"DEQUANTIZE to {out.type}; float32 output expected")
        self.check_shapes(op)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """(float)(scale * (q - zero point)): the double product of a float and an integer of at most 17 bits is
        exact, so one float32 multiply, rounding that exact product once, gives TFLM's bits."""
        x = array(inputs, 0)
        q = quant(op.input(0))
        return [np.float32(q.scale) * (x.astype(np.int32) - q.zero_point).astype(np.float32)]
