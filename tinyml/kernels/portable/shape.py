"""PAD, PADV2 and CONCATENATION (int8): data movement that keeps every byte as it is."""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator, Tensor
from tinyml.kernels.base import (
    Call,
    EmitContext,
    Kernel,
    Unsupported,
    dims4,
    register,
    require_int8,
    require_per_tensor,
)


def _paddings(op: Operator) -> np.ndarray:
    """The (rank, 2) before/after table; TFLM reads it as int32 from the flatbuffer, so it must be a constant."""
    t = op.input(1)
    if t.data is None:
        raise Unsupported("paddings computed at run time")
    if t.dtype != "int32":
        raise Unsupported(f"paddings of type {t.dtype}; int32 expected")
    return t.data.reshape(-1, 2)


@register
class Pad(Kernel):
    op_types = ("PAD", "PADV2")

    def check(self, op: Operator) -> None:
        inp, out = op.input(0), op.outputs[0]
        require_int8(op, inp, out)
        dims4(inp.shape)
        pads = _paddings(op)
        if len(pads) != len(out.shape) or len(inp.shape) != len(out.shape):
            raise Unsupported(f"paddings for {len(pads)} dims on a rank {len(inp.shape)} input")
        if (pads < 0).any():
            raise Unsupported("negative paddings (cropping)")
        if tuple(int(i + p.sum()) for i, p in zip(inp.shape, pads, strict=True)) != out.shape:
            raise Unsupported(f"output shape {out.shape} does not equal the padded input shape")
        value = op.opt_input(2)
        if value is not None:
            require_int8(op, value)
            if value.data is None or value.num_elements != 1:
                raise Unsupported("pad value computed at run time or not a scalar")
            assert value.quant and out.quant
            # TFLM's PadPrepare demands the constant share the output's quantization.
            if (value.quant.scale, value.quant.zero_point) != (out.quant.scale, out.quant.zero_point):
                raise Unsupported("pad value quantized differently from the output")

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        value_t = op.opt_input(2)
        assert out.quant
        # TFLM pads with the output zero point, or with PADV2's raw int8 constant.
        value = out.quant.zero_point if value_t is None else int(np.asarray(value_t.data).reshape(-1)[0])
        before = tuple(int(b) for b in _paddings(op)[:, 0])
        return Call(
            "ops/pad_s8.c.j2",
            {
                "before": (0,) * (4 - len(before)) + before,
                "value": value,
                "input_dims": dims4(inp.shape),
                "output_dims": dims4(out.shape),
                "input": ctx.tensor(inp),
                "output": ctx.tensor(out),
            },
        )


def _concat_axis(op: Operator) -> int:
    """The concatenation axis as an index into the right-aligned 4-D (n, h, w, c) dims."""
    rank = len(op.outputs[0].shape)
    axis = op.attrs.get("axis", 0)
    if axis < 0:
        axis += rank
    if not 0 <= axis < rank:
        raise Unsupported(f"axis {op.attrs.get('axis')} of a rank {rank} tensor")
    return 4 - rank + axis


def _concat_inputs(op: Operator) -> list[Tensor]:
    return [t for t in op.inputs if t is not None]


@register
class Concatenation(Kernel):
    op_types = ("CONCATENATION",)

    def check(self, op: Operator) -> None:
        out = op.outputs[0]
        inputs = _concat_inputs(op)
        require_int8(op, out, *inputs)
        out4 = dims4(out.shape)
        if op.attrs.get("activation", "NONE") != "NONE":
            raise Unsupported(f"fused activation {op.attrs['activation']} (TFLite Micro allows none)")
        axis = _concat_axis(op)
        assert out.quant
        require_per_tensor(out)
        for t in inputs:
            require_per_tensor(t)
            assert t.quant
            # TFLM's ConcatenationPrepare refuses int8 inputs that would need rescaling.
            if (t.quant.scale, t.quant.zero_point) != (out.quant.scale, out.quant.zero_point):
                raise Unsupported(f"input {t.name!r} is quantized unlike the output (TFLite Micro requires equal)")
            t4 = dims4(t.shape)
            if len(t.shape) != len(out.shape) or t4[:axis] + t4[axis + 1 :] != out4[:axis] + out4[axis + 1 :]:
                raise Unsupported(f"input {t.name!r} of shape {t.shape} does not fit output {out.shape}")
        if sum(dims4(t.shape)[axis] for t in inputs) != out4[axis]:
            raise Unsupported(f"input shapes {[t.shape for t in inputs]} do not concatenate to {out.shape}")

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        out = op.outputs[0]
        axis = _concat_axis(op)
        parts, offset = [], 0
        for t in _concat_inputs(op):
            dims = dims4(t.shape)
            parts.append({"dims": dims, "offset": offset, "input": ctx.tensor(t)})
            offset += dims[axis]
        return Call(
            "ops/concat_s8.c.j2",
            {"axis": axis, "parts": parts, "output_dims": dims4(out.shape), "output": ctx.tensor(out)},
        )
