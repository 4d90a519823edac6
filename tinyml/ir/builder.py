"""Build IR graphs in Python, without TensorFlow: for fast tests of definitions, kernels, planning and codegen.

    b = GraphBuilder("tiny")
    x = b.input((1, 8, 8, 3), scale=0.05, zero_point=-3)
    w = b.weights(np.ones((4, 3, 3, 3)), scales=0.02)
    y = b.conv2d(x, w, bias=np.zeros(4), stride=2, padding="SAME", activation="RELU", scale=0.1)
    graph = b.graph()

Every op method takes its operands as tensors, its attributes as keywords, and
the output's quantization (`scale`, `zero_point`, `type`; by default the first
input's), and returns the output tensor, whose shape comes from the op's
definition (`infer_shapes`) unless `shape` says otherwise. Nothing is
validated: a test can build exactly the variant it wants refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyml.ir.graph import Graph, Operator, Quantization, Tensor
from tinyml.ir.types import FLOAT32, INT8, INT32, ElementType, element_type
from tinyml.ops import DEFINITIONS, parse_attrs
from tinyml.ops.activation import SoftmaxAttrs
from tinyml.ops.base import FusedActivation, NoAttrs
from tinyml.ops.conv import ConvAttrs, DepthwiseConvAttrs
from tinyml.ops.fully_connected import FullyConnectedAttrs
from tinyml.ops.pooling import PoolAttrs
from tinyml.ops.reduce import ReduceAttrs
from tinyml.ops.shape import ConcatAttrs, ReshapeAttrs, SqueezeAttrs

#: an (h, w) pair, or one int for both
Pair = int | tuple[int, int]
#: a tensor's type: an ElementType or its name
TypeLike = ElementType | str


def _pair(v: Pair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def quantization(scales: float | Sequence[float], zero_points: int | Sequence[int] = 0, axis: int = 0) -> Quantization:
    """Per-tensor quantization from a scale, per-channel from a sequence of them (zero points likewise)."""
    scale_list = [float(scales)] if isinstance(scales, int | float) else [float(s) for s in scales]
    zps = [int(zero_points)] * len(scale_list) if isinstance(zero_points, int) else [int(z) for z in zero_points]
    # scales as float32 values, as a model file holds them
    return Quantization(tuple(float(np.float32(s)) for s in scale_list), tuple(zps), axis)


class GraphBuilder:
    """A graph under construction: tensors and ops in the order they are added."""

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self.inputs: list[Tensor] = []
        self.ops: list[Operator] = []
        self._count = 0

    # --- tensors ----------------------------------------------------------------------------------------------

    def _tensor(
        self, name: str | None, shape: tuple[int, ...], type: TypeLike, quant: Quantization | None, data: Any = None
    ) -> Tensor:
        self._count += 1
        t = Tensor(name or f"t{self._count}", tuple(int(d) for d in shape), type, quant, data, index=self._count - 1)
        if data is not None:
            values = np.asarray(data)
            if t.type.is_int and values.size:
                lo, hi = t.type.range
                if values.min() < lo or values.max() > hi:  # astype would wrap them silently
                    raise ValueError(f"{t.name}: values outside {t.type}'s range [{lo}, {hi}]")
            t.data = values.astype(t.type.np_dtype).reshape(t.shape)
        return t

    def input(
        self,
        shape: Sequence[int],
        type: TypeLike = INT8,
        scale: float | None = 0.05,
        zero_point: int = 0,
        name: str | None = None,
    ) -> Tensor:
        """A model input; quantized unless `scale` is None (float inputs)."""
        quant = None if scale is None else quantization(scale, zero_point)
        t = self._tensor(name, tuple(shape), type, quant)
        self.inputs.append(t)
        return t

    def const(
        self,
        values: Any,
        type: TypeLike = INT8,
        scale: float | Sequence[float] | None = None,
        zero_point: int | Sequence[int] = 0,
        axis: int = 0,
        shape: Sequence[int] | None = None,
        name: str | None = None,
    ) -> Tensor:
        """A constant tensor of `values` (of `type`'s range; sub-byte types unpacked), quantized when given a scale
        (a sequence of scales quantizes per channel along `axis`)."""
        array = np.asarray(values)
        quant = None if scale is None else quantization(scale, zero_point, axis)
        return self._tensor(name, tuple(array.shape if shape is None else shape), type, quant, array)

    def weights(
        self, values: Any, scales: float | Sequence[float] = 0.02, type: TypeLike = INT8, axis: int = 0
    ) -> Tensor:
        """Symmetric weights (zero point 0), per channel along `axis` when `scales` is a sequence."""
        return self.const(values, type, scales, 0, axis)

    def _bias(self, bias: Tensor | Any | None, x: Tensor, w: Tensor) -> Tensor | None:
        """A bias tensor as given, or int32 values quantized at input scale times weight scale."""
        if bias is None or isinstance(bias, Tensor):
            return bias
        assert x.quant is not None and w.quant is not None
        scales = [x.quant.scale * s for s in w.quant.scales]
        return self.const(bias, INT32, scales if len(scales) > 1 else scales[0])

    # --- ops --------------------------------------------------------------------------------------------------

    def op(
        self,
        op_type: str,
        inputs: Sequence[Tensor | None],
        attrs: Any = None,
        *,
        scale: float | None = None,
        zero_point: int | None = None,
        type: TypeLike | None = None,
        shape: Sequence[int] | None = None,
        name: str | None = None,
    ) -> Tensor:
        """Add any op: `attrs` is its typed attributes or a raw TFLite option dict. The output takes the first
        input's quantization and type unless told otherwise, and the shape the definition infers."""
        first = next((t for t in inputs if t is not None), None)
        if attrs is None or isinstance(attrs, dict):
            attrs = parse_attrs(op_type, attrs or {})
        out_type = element_type(type) if type is not None else first.type if first is not None else INT8
        base = first.quant if first is not None and first.quant is not None else None
        if scale is not None or zero_point is not None:
            quant: Quantization | None = quantization(
                scale if scale is not None else (base.scale if base else 1.0),
                zero_point if zero_point is not None else (base.zero_point if base else 0),
            )
        elif out_type.is_float:
            quant = None
        else:
            quant = Quantization((base.scale,), (base.zero_point,)) if base else None
        out = self._tensor(name, tuple(shape) if shape is not None else (), out_type, quant)
        op = Operator(op_type, list(inputs), [out], attrs, index=len(self.ops))
        if shape is None:
            out.shape = tuple(DEFINITIONS[op_type].infer_shapes(op)[0])
        self.ops.append(op)
        return out

    def conv2d(
        self,
        x: Tensor,
        w: Tensor,
        bias: Tensor | Any | None = None,
        *,
        stride: Pair = 1,
        padding: str = "SAME",
        dilation: Pair = 1,
        activation: str = "NONE",
        explicit_padding: tuple[int, int, int, int] | None = None,
        **out: Any,
    ) -> Tensor:
        attrs = ConvAttrs(_pair(stride), padding, explicit_padding, activation, _pair(dilation))
        return self.op("CONV_2D", [x, w, self._bias(bias, x, w)], attrs, **out)

    def depthwise_conv2d(
        self,
        x: Tensor,
        w: Tensor,
        bias: Tensor | Any | None = None,
        *,
        stride: Pair = 1,
        padding: str = "SAME",
        dilation: Pair = 1,
        activation: str = "NONE",
        depth_multiplier: int = 1,
        explicit_padding: tuple[int, int, int, int] | None = None,
        **out: Any,
    ) -> Tensor:
        attrs = DepthwiseConvAttrs(
            _pair(stride), padding, explicit_padding, activation, _pair(dilation), depth_multiplier
        )
        return self.op("DEPTHWISE_CONV_2D", [x, w, self._bias(bias, x, w)], attrs, **out)

    def fully_connected(
        self,
        x: Tensor,
        w: Tensor,
        bias: Tensor | Any | None = None,
        *,
        activation: str = "NONE",
        keep_num_dims: bool = False,
        **out: Any,
    ) -> Tensor:
        attrs = FullyConnectedAttrs(activation, 0, keep_num_dims)
        return self.op("FULLY_CONNECTED", [x, w, self._bias(bias, x, w)], attrs, **out)

    def _pool(
        self, op_type: str, x: Tensor, size: Pair, stride: Pair | None, padding: str, activation: str, out: Any
    ) -> Tensor:
        attrs = PoolAttrs(_pair(size if stride is None else stride), padding, None, activation, _pair(size))
        return self.op(op_type, [x], attrs, **out)

    def max_pool2d(
        self,
        x: Tensor,
        size: Pair,
        stride: Pair | None = None,
        padding: str = "VALID",
        activation: str = "NONE",
        **out: Any,
    ) -> Tensor:
        """A max pool of `size` windows, stepping by `stride` (default: the window)."""
        return self._pool("MAX_POOL_2D", x, size, stride, padding, activation, out)

    def average_pool2d(
        self,
        x: Tensor,
        size: Pair,
        stride: Pair | None = None,
        padding: str = "VALID",
        activation: str = "NONE",
        **out: Any,
    ) -> Tensor:
        return self._pool("AVERAGE_POOL_2D", x, size, stride, padding, activation, out)

    def add(self, a: Tensor, b: Tensor, *, activation: str = "NONE", **out: Any) -> Tensor:
        return self.op("ADD", [a, b], FusedActivation(activation), **out)

    def mul(self, a: Tensor, b: Tensor, *, activation: str = "NONE", **out: Any) -> Tensor:
        return self.op("MUL", [a, b], FusedActivation(activation), **out)

    def relu(self, x: Tensor, **out: Any) -> Tensor:
        return self.op("RELU", [x], NoAttrs(), **out)

    def relu6(self, x: Tensor, **out: Any) -> Tensor:
        return self.op("RELU6", [x], NoAttrs(), **out)

    def softmax(self, x: Tensor, beta: float = 1.0, **out: Any) -> Tensor:
        """Softmax; the output defaults to TFLM's int8 probability quantization (1/256, -128)."""
        out = {"scale": 1 / 256, "zero_point": -128, **out}
        return self.op("SOFTMAX", [x], SoftmaxAttrs(beta), **out)

    def logistic(self, x: Tensor, **out: Any) -> Tensor:
        out = {"scale": 1 / 256, "zero_point": -128, **out}
        return self.op("LOGISTIC", [x], NoAttrs(), **out)

    def quantize(self, x: Tensor, scale: float, zero_point: int = 0, type: TypeLike = INT8, **out: Any) -> Tensor:
        return self.op("QUANTIZE", [x], NoAttrs(), scale=scale, zero_point=zero_point, type=type, **out)

    def dequantize(self, x: Tensor, **out: Any) -> Tensor:
        return self.op("DEQUANTIZE", [x], NoAttrs(), type=FLOAT32, **out)

    def mean(self, x: Tensor, axes: Sequence[int], keep_dims: bool = False, **out: Any) -> Tensor:
        axes_t = self.const(np.array(axes, dtype=np.int32), INT32)
        return self.op("MEAN", [x, axes_t], ReduceAttrs(keep_dims), **out)

    def pad(self, x: Tensor, paddings: Sequence[Sequence[int]], value: int | None = None, **out: Any) -> Tensor:
        """PAD with the output zero point, or PADV2 with the raw int8 `value` (quantized like `x`)."""
        table = self.const(np.array(paddings, dtype=np.int32), INT32)
        if value is None:
            return self.op("PAD", [x, table], NoAttrs(), **out)
        assert x.quant is not None
        fill = self.const(np.array([value]), x.type, x.quant.scale, x.quant.zero_point)
        return self.op("PADV2", [x, table, fill], NoAttrs(), **out)

    def concatenation(self, xs: Sequence[Tensor], axis: int = -1, **out: Any) -> Tensor:
        return self.op("CONCATENATION", list(xs), ConcatAttrs(axis), **out)

    def reshape(self, x: Tensor, new_shape: Sequence[int], **out: Any) -> Tensor:
        """RESHAPE to `new_shape` (one -1 allowed), given as a constant shape operand as the converter writes it."""
        target = self.const(np.array(new_shape, dtype=np.int32), INT32)
        return self.op("RESHAPE", [x, target], ReshapeAttrs(), **out)

    def squeeze(self, x: Tensor, dims: Sequence[int] = (), **out: Any) -> Tensor:
        shape = [
            d for i, d in enumerate(x.shape) if not (d == 1 and (not dims or i in dims or i - len(x.shape) in dims))
        ]
        return self.op("SQUEEZE", [x], SqueezeAttrs(tuple(dims)), shape=shape, **out)

    def expand_dims(self, x: Tensor, axis: int, **out: Any) -> Tensor:
        shape = list(x.shape)
        shape.insert(axis if axis >= 0 else len(shape) + 1 + axis, 1)
        axis_t = self.const(np.array([axis], dtype=np.int32), INT32)
        return self.op("EXPAND_DIMS", [x, axis_t], NoAttrs(), shape=shape, **out)

    # --- the result -------------------------------------------------------------------------------------------

    def graph(self, outputs: Sequence[Tensor] | None = None) -> Graph:
        """The graph: its inputs in the order added, `outputs` (default: every op output no op reads)."""
        if outputs is None:
            read = {id(t) for op in self.ops for t in op.inputs if t is not None}
            outputs = [t for op in self.ops for t in op.outputs if id(t) not in read]
        return Graph(self.name, list(self.inputs), list(outputs), list(self.ops))
