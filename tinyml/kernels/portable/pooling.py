"""AVERAGE_POOL_2D and MAX_POOL_2D (int8)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.kernels.base import (
    Call,
    EmitContext,
    Kernel,
    Unsupported,
    activation_of,
    register,
    require_int8,
    require_per_tensor,
)
from tinyml.kernels.portable.conv import window_padding
from tinyml.ops.fixedpoint import activation_range


def _out_size(padding: str, in_size: int, k: int, stride: int) -> int:
    """TFLite's ComputeOutSize (no dilation for pooling)."""
    return (in_size + stride - 1) // stride if padding == "SAME" else (in_size - k + stride) // stride


class _Pool2D(Kernel):
    """Shared geometry and checks; subclasses name the C function."""

    function: ClassVar[str]

    def check(self, op: Operator) -> None:
        inp, out = op.input(0), op.outputs[0]
        require_int8(op, inp, out)
        require_per_tensor(inp)
        require_per_tensor(out)
        assert inp.quant and out.quant
        if len(inp.shape) != 4 or len(out.shape) != 4:
            raise Unsupported("only 4-D NHWC tensors are supported")
        # TFLM's PoolingPrepare compares float scales (float subtraction, double compare) and zero points.
        if abs(float(np.float32(inp.quant.scale) - np.float32(out.quant.scale))) > 1.0e-6:
            raise Unsupported("input and output scales differ (TFLite Micro requires them equal)")
        if inp.quant.zero_point != out.quant.zero_point:
            raise Unsupported("input and output zero points differ (TFLite Micro requires them equal)")
        activation_of(op)
        padding = op.attrs.get("padding")
        if padding not in ("SAME", "VALID"):
            raise Unsupported(f"padding {padding}")
        kh, kw, sh, sw = (op.attrs[k] for k in ("filter_height", "filter_width", "stride_h", "stride_w"))
        if min(kh, kw, sh, sw) < 1:
            raise Unsupported(f"window {kh}x{kw} with stride {sh}x{sw}")
        expected = (_out_size(padding, inp.shape[1], kh, sh), _out_size(padding, inp.shape[2], kw, sw))
        if out.shape[0] != inp.shape[0] or out.shape[3] != inp.shape[3] or out.shape[1:3] != expected:
            raise Unsupported(f"output shape {out.shape} does not follow from input {inp.shape} and the window")

    def macs(self, op: Operator) -> int:
        return op.outputs[0].num_elements * op.attrs["filter_height"] * op.attrs["filter_width"]

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        k_hw = (op.attrs["filter_height"], op.attrs["filter_width"])
        pad_h, pad_w = window_padding(op, inp.shape[1:3], k_hw, out.shape[1:3])
        return Call(
            "ops/pool2d_s8.c.j2",
            {
                "function": self.function,
                "stride": (op.attrs["stride_w"], op.attrs["stride_h"]),
                "padding": (pad_w, pad_h),
                "act": activation_range(activation_of(op), out),
                "input_dims": inp.shape,
                "filter_dims": (1, *k_hw, 1),
                "output_dims": out.shape,
                "input": ctx.tensor(inp),
                "output": ctx.tensor(out),
            },
        )


@register
class AveragePool2D(_Pool2D):
    op_types = ("AVERAGE_POOL_2D",)
    function = "tm_avgpool2d_s8"


@register
class MaxPool2D(_Pool2D):
    op_types = ("MAX_POOL_2D",)
    function = "tm_maxpool2d_s8"

    def macs(self, op: Operator) -> int:
        return 0
