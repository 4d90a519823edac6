"""PAD, PADV2, CONCATENATION, RESHAPE, SQUEEZE and EXPAND_DIMS: data movement, every byte kept as it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator, Tensor
from tinyml.ir.types import FLOAT32, INT8, INT16, INT32, UINT8
from tinyml.ops.base import (
    Arrays,
    NoAttrs,
    OpDef,
    Role,
    Unsupported,
    array,
    const_ints,
    define,
    quant,
    require_arity,
    require_per_tensor,
    require_quantized,
)


def paddings(op: Operator) -> np.ndarray:
    """PAD's (rank, 2) before/after table; TFLM reads it as int32 from the flatbuffer, so it must be a constant."""
    return const_ints(op.input(1), "paddings").reshape(-1, 2)


def pad_value(op: Operator) -> int:
    """The padding value: PADV2's constant as is, else the output zero point (int16: 0, as TFLM pads int16)."""
    value = op.opt_input(2)
    if value is None:
        return 0 if op.outputs[0].type == INT16 else quant(op.outputs[0]).zero_point
    return int(np.asarray(value.data).reshape(-1)[0])


@define
class Pad(OpDef):
    """Constant padding with the output zero point (PAD) or PADV2's raw int8 constant, as TFLM pads."""

    op_types = ("PAD", "PADV2")
    #: int8, or int16 in TFLite's 16x8 scheme
    types = (INT8, INT16)
    input_roles = (Role.FEATURE, Role.PARAM, Role.PARAM)

    def validate(self, op: Operator) -> None:
        require_arity(op, 2, 3)
        inp, out = op.input(0), op.outputs[0]
        require_quantized(inp, out, types=(INT16,) if inp.type == INT16 else (INT8,))
        pads = paddings(op)
        if len(pads) != len(out.shape) or len(inp.shape) != len(out.shape):
            raise Unsupported(f"paddings for {len(pads)} dims on a rank {len(inp.shape)} input")
        if (pads < 0).any():
            raise Unsupported("negative paddings (cropping)")
        if tuple(self.infer_shapes(op)[0]) != out.shape:
            raise Unsupported(f"output shape {out.shape} does not equal the padded input shape")
        value = op.opt_input(2)
        if value is not None:
            require_quantized(value, types=(out.type,))
            if value.data is None or value.num_elements != 1:
                raise Unsupported("pad value computed at run time or not a scalar")
            # TFLM's PadPrepare demands the constant share the output's quantization.
            if (quant(value).scale, quant(value).zero_point) != (quant(out).scale, quant(out).zero_point):
                raise Unsupported("pad value quantized differently from the output")

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        pads = paddings(op)
        return [tuple(int(i + p.sum()) for i, p in zip(op.input(0).shape, pads, strict=True))]

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        x = array(inputs, 0)
        widths = [(int(b), int(a)) for b, a in paddings(op)]
        return [np.pad(x, widths, constant_values=pad_value(op)).astype(x.dtype)]


@dataclass(frozen=True)
class ConcatAttrs:
    #: as stored: negative counts from the end
    axis: int = 0
    activation: str = "NONE"

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ConcatAttrs:
        return cls(axis=int(options.get("axis", 0)), activation=str(options.get("activation", "NONE")))


def concat_axis(op: Operator) -> int:
    """The concatenation axis in [0, rank), of the inputs' rank (the output's, once validated)."""
    rank = len(concat_inputs(op)[0].shape)
    axis = op.attrs.axis + rank if op.attrs.axis < 0 else op.attrs.axis
    if not 0 <= axis < rank:
        raise Unsupported(f"axis {op.attrs.axis} of a rank {rank} tensor")
    return axis


def concat_inputs(op: Operator) -> list[Tensor]:
    return [t for t in op.inputs if t is not None]


@define
class Concatenation(OpDef):
    """The present inputs joined along `axis`; TFLM requires equal quantization (no rescaling)."""

    op_types = ("CONCATENATION",)
    #: int8, or int16 in TFLite's 16x8 scheme
    types = (INT8, INT16)
    attrs_type = ConcatAttrs
    variadic = True

    def validate(self, op: Operator) -> None:
        out, inputs = op.outputs[0], concat_inputs(op)
        if not inputs or not op.outputs:
            raise Unsupported("no inputs")
        int16 = out.type == INT16
        require_quantized(out, *inputs, types=(INT16,) if int16 else (INT8,))
        if op.attrs.activation != "NONE":
            raise Unsupported(f"fused activation {op.attrs.activation} (TFLite Micro allows none)")
        axis = concat_axis(op)
        require_per_tensor(out)
        for t in inputs:
            require_per_tensor(t)
            # TFLM's ConcatenationPrepare refuses int8 inputs that would need rescaling; int16 ones it copies
            # whatever their scales, with zero points 0.
            if int16 and (quant(t).zero_point or quant(out).zero_point):
                raise Unsupported(f"int16 input {t.name!r} or the output has a non-zero zero point")
            if not int16 and (quant(t).scale, quant(t).zero_point) != (quant(out).scale, quant(out).zero_point):
                raise Unsupported(f"input {t.name!r} is quantized unlike the output (TFLite Micro requires equal)")
            if len(t.shape) != len(out.shape) or t.shape[:axis] + t.shape[axis + 1 :] != (
                out.shape[:axis] + out.shape[axis + 1 :]
            ):
                raise Unsupported(f"input {t.name!r} of shape {t.shape} does not fit output {out.shape}")
        if sum(t.shape[axis] for t in inputs) != out.shape[axis]:
            raise Unsupported(f"input shapes {[t.shape for t in inputs]} do not concatenate to {out.shape}")

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        inputs, axis = concat_inputs(op), concat_axis(op)
        first = inputs[0].shape
        return [(*first[:axis], sum(t.shape[axis] for t in inputs), *first[axis + 1 :])]

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        return [np.concatenate([x for x in inputs if x is not None], axis=concat_axis(op))]


@dataclass(frozen=True)
class ReshapeAttrs:
    """ReshapeOptions: the target shape when stored as an option rather than as a shape operand."""

    new_shape: tuple[int, ...] | None = None

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ReshapeAttrs:
        shape = options.get("new_shape")
        return cls(new_shape=tuple(int(d) for d in shape) if shape else None)


@dataclass(frozen=True)
class SqueezeAttrs:
    squeeze_dims: tuple[int, ...] = ()

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> SqueezeAttrs:
        return cls(squeeze_dims=tuple(int(d) for d in options.get("squeeze_dims") or ()))


class _View(OpDef):
    """The same elements in the same order under another shape: a view of the input's memory."""

    #: a view moves no data, so any type TFLite gives it
    types = (INT8, UINT8, INT16, INT32, FLOAT32)

    def validate(self, op: Operator) -> None:
        require_arity(op, 1, 2)
        inp, out = op.input(0), op.outputs[0]
        if inp.num_elements != out.num_elements or inp.type != out.type:
            raise Unsupported(f"reshape of {inp.shape} {inp.type} to {out.shape} {out.type}")
        if inp.quant != out.quant:
            raise Unsupported("reshape that changes quantization")

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        """A view's output shape is whatever its output tensor says (the element count is what is checked)."""
        return [tuple(op.outputs[0].shape)]

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        return [array(inputs, 0).reshape(op.outputs[0].shape)]


@define
class Reshape(_View):
    op_types = ("RESHAPE",)
    attrs_type = ReshapeAttrs
    input_roles = (Role.FEATURE, Role.PARAM)

    def target(self, op: Operator) -> tuple[int, ...] | None:
        """The target shape from the (constant) shape operand or the option, -1 resolved; None when unknown."""
        shape_t = op.opt_input(1)
        if shape_t is not None and shape_t.data is not None:
            dims = [int(d) for d in shape_t.data.reshape(-1)]
        elif op.attrs.new_shape:
            dims = list(op.attrs.new_shape)
        else:
            return None
        total = op.input(0).num_elements
        if dims.count(-1) == 1:
            known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
            dims[dims.index(-1)] = total // known if known else 0
        return tuple(dims)

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        target = self.target(op)
        if target is not None and int(np.prod(target, dtype=np.int64)) == op.input(0).num_elements:
            return [target]
        return super().infer_shapes(op)


@define
class Squeeze(_View):
    op_types = ("SQUEEZE",)
    attrs_type = SqueezeAttrs


@define
class ExpandDims(_View):
    op_types = ("EXPAND_DIMS",)
    attrs_type = NoAttrs
    input_roles = (Role.FEATURE, Role.PARAM)
