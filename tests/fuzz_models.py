"""Seeded random Keras models converted to int8 TFLite by TensorFlow's converter: the fuzz tests' models.

`fuzz_model(seed, path)` grows a small random graph from its seed, one layer at a time, and converts it
like tests/keras_models.py `convert` does. The graph is a chain with side branches: merges (ADD, MUL,
CONCATENATION) take their other operand from an earlier tensor (a skip connection), from a branch that
keeps the shape (a residual block), or from a reduction (a squeeze-and-excite gate); a model may have two
inputs, a second output tapped from the middle, and float32 inputs and outputs.

BUILDERS is a table with one entry per layer kind: the TFLite ops it makes, a precondition on the shape of
the tensor it would extend, and the function that adds its Keras layers. Supporting a new operator means
adding one entry. Every choice comes from one seeded generator, and weights and the representative data
set are drawn from it too, so a seed always gives the same bytes. What the generator built is recorded in
the model itself (metadata "tinyml_fuzz", read back with `fuzz_info`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: shapes exclude the batch dimension
Shape = tuple[int, ...]

#: the name of the metadata entry that records how a model was made
METADATA = "tinyml_fuzz"

#: size limits that keep each model converting and compiling in about a second
MAX_ELEMENTS = 1200
MAX_CHANNELS = 24
MAX_SIDE = 16
#: layers on the main chain (branches come on top)
MIN_STEPS, MAX_STEPS = 3, 9

ACTIVATIONS = (None, None, None, "relu", "relu6", "relu_n1_to_1")


@dataclass
class Node:
    """A Keras tensor and its shape without the batch dimension."""

    tensor: Any
    shape: Shape


@dataclass(frozen=True)
class Builder:
    """One kind of layer the generator can add.

    `applies(g, shape)` says whether it can extend a tensor of that shape; `build(g, x, keep)` adds its
    layers to `x` and returns the result, of `x`'s shape when `keep` (asked only where `keeps(g, shape)`
    holds, to grow the side of a residual block). Merging builders (`merges`) find their other operand
    themselves.
    """

    name: str
    #: the TFLite ops it is there to make (the converter may fuse or rewrite some of them)
    ops: frozenset[str]
    applies: Callable[[Grower, Shape], bool]
    build: Callable[[Grower, Node, bool], Node]
    keeps: Callable[[Grower, Shape], bool] | None = None
    merges: bool = False
    weight: float = 1.0


@dataclass
class Grower:
    """The state of one model as it grows: the seeded choices, earlier tensors, and the recipe so far."""

    rng: np.random.Generator
    builders: list[Builder]
    fixed_batch: bool
    #: float32 model inputs and outputs (the converter then moves an ARG_MAX behind the output's DEQUANTIZE)
    float_io: bool = False
    #: tensors a merge may take its other operand from (skip connections)
    pool: list[Node] = field(default_factory=list)
    #: the operand the next merge takes if it fits (a second model input)
    forced: Node | None = None
    #: one line per layer added, as built
    recipe: list[str] = field(default_factory=list)
    used: list[str] = field(default_factory=list)
    #: extra model outputs a builder made beside the chain (ARG_MAX's int32 indices)
    taps: list[Node] = field(default_factory=list)

    # --- choices ---

    def choice(self, options: list | tuple) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def between(self, lo: int, hi: int) -> int:
        """A number in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))

    def allows(self, op: str) -> bool:
        """Whether the model may hold `op` (some builder in use makes it): side branches ask first."""
        return any(op in b.ops for b in self.builders)

    def eligible(self, shape: Shape, keep: bool = False, merges: bool | None = None) -> list[Builder]:
        return [
            b
            for b in self.builders
            if b.applies(self, shape)
            and (merges is None or b.merges == merges)
            and (not keep or (b.keeps is not None and b.keeps(self, shape)))
        ]

    def pick(self, candidates: list[Builder]) -> Builder | None:
        if not candidates:
            return None
        weights = np.array([b.weight for b in candidates])
        return candidates[int(self.rng.choice(len(candidates), p=weights / weights.sum()))]

    def apply(self, builder: Builder, x: Node, keep: bool = False) -> Node:
        y = builder.build(self, x, keep)
        assert not keep or y.shape == x.shape, (builder.name, x.shape, y.shape)
        self.used.append(builder.name)
        return y

    def note(self, text: str, y: Node) -> None:
        self.recipe.append(f"{text} -> {list(y.shape)}")

    # --- layers and weights ---

    def call(self, layer: Any, *xs: Node) -> Node:
        """Call a Keras layer (or op) on nodes; the result as a node."""
        t = layer(*[x.tensor for x in xs]) if len(xs) > 1 else layer(xs[0].tensor)
        return Node(t, tuple(int(d) for d in t.shape[1:]))

    def set_weights(self, layer: Any, fan_in: int) -> None:
        """Seeded weights: kernels uniform at a random gain around 1/sqrt(fan_in), biases uniform in ±0.5.

        Keras' own initialisers would draw from global state; these come from the model's seed."""
        gain = float(self.rng.uniform(0.5, 2.0))
        new = []
        for w in layer.get_weights():
            if w.ndim >= 2:
                limit = gain * math.sqrt(3.0 / fan_in)
                new.append(self.rng.uniform(-limit, limit, size=w.shape).astype(np.float32))
            else:
                new.append(self.rng.uniform(-0.5, 0.5, size=w.shape).astype(np.float32))
        layer.set_weights(new)

    def activation(self) -> str | None:
        return self.choice(ACTIVATIONS)

    def activate(self, x: Node, act: str | None) -> Node:
        """An activation right after a conv, dense or arithmetic op, where the converter fuses it."""
        import keras

        if act is None:
            return x
        fn = {
            "relu": keras.ops.relu,
            "relu6": keras.ops.relu6,
            "relu_n1_to_1": lambda t: keras.ops.clip(t, -1.0, 1.0),
        }[act]
        return self.call(fn, x)

    # --- merges ---

    def partner(self, x: Node, fits: Callable[[Shape], bool], makers: list[Callable[[], Node | None]]) -> Node:
        """The other operand of a merge with `x`: an earlier tensor that fits (a skip connection), or one
        made by a maker (a branch off `x`); a branch that keeps `x`'s shape when nothing else fits."""
        if self.forced is not None and fits(self.forced.shape):
            other, self.forced = self.forced, None
            self.recipe.append(f"  other operand: the second input {list(other.shape)}")
            return other
        earlier = [n for n in self.pool if fits(n.shape)]
        if earlier and self.chance(0.4):
            other = self.choice(earlier)
            self.recipe.append(f"  other operand: earlier tensor {list(other.shape)}")
            return other
        for make in self.rng.permutation(len(makers)):
            other = makers[int(make)]()
            if other is not None:
                return other
        return self.branch(x)

    def branch(self, x: Node) -> Node:
        """A side branch off `x` of 1 or 2 shape-keeping layers (the side of a residual block)."""
        self.recipe.append("  branch:")
        y = x
        for _ in range(self.between(1, 2)):
            b = self.pick(self.eligible(y.shape, keep=True, merges=False))
            if b is None:
                break
            y = self.apply(b, y, keep=True)
        return y


def _elements(shape: Shape) -> int:
    return math.prod(shape)


def _fits(shape: Shape) -> bool:
    return _elements(shape) <= MAX_ELEMENTS and (len(shape) != 3 or shape[2] <= MAX_CHANNELS)


def _image(shape: Shape) -> bool:
    return len(shape) == 3


# --- convolutions ------------------------------------------------------------------------------------------------


def _window(g: Grower, size: int, keep: bool, padding: str) -> tuple[int, int, int]:
    """(kernel, stride, dilation) along one side of `size` pixels: mostly small, sometimes up to 5 with
    stride 3; under SAME padding the window may be larger than the side."""
    big = g.chance(0.15)
    limit = 5 if big else 3
    limit = min(limit, size) if padding == "valid" else min(limit, size + 2)
    kernel = g.between(1, limit)
    stride = 1 if keep else g.choice((1, 1, 2, 3) if big else (1, 1, 2))
    dilation = 1
    if stride == 1 and kernel > 1 and g.chance(0.4):
        dilation = g.choice((2, 2, 3))
        if padding == "valid" and (kernel - 1) * dilation + 1 > size:
            dilation = 1
    return kernel, stride, dilation


def _dilated_layer(filters: int, kernel: tuple[int, int], rate: tuple[int, int], padding: str, depthwise: bool) -> Any:
    """A conv with dilation factors in the converted CONV_2D/DEPTHWISE_CONV_2D itself.

    Keras' dilated layers convert to SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND, which TFLite Micro
    cannot run correctly, so the oracle could not check them."""
    import tensorflow as tf

    class DilatedConv(tf.keras.layers.Layer):
        def build(self, shape):
            out = filters if not depthwise else filters // shape[-1]
            self.w = self.add_weight(shape=(*kernel, shape[-1], out), initializer="zeros", name="kernel")
            self.b = self.add_weight(shape=(filters,), initializer="zeros", name="bias")

        def call(self, x):
            rates = [1, *rate, 1]
            if depthwise:
                y = tf.raw_ops.DepthwiseConv2dNative(
                    input=x, filter=self.w, strides=[1, 1, 1, 1], padding=padding.upper(), dilations=rates
                )
            else:
                y = tf.nn.conv2d(x, self.w, strides=1, padding=padding.upper(), dilations=rates)
            return y + self.b

    return DilatedConv()


def _out_side(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """A window op's output size along one side, as TFLite computes it."""
    if padding == "same":
        return -(-size // stride)
    return (size - (kernel - 1) * dilation - 1) // stride + 1


def _conv(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    h, w, c = x.shape
    padding = "same" if keep else g.choice(("same", "valid"))
    kh, sh, dh = _window(g, h, keep, padding)
    kw, sw, dw = _window(g, w, keep, padding)
    if (sh, sw) != (1, 1):  # a dilation only with strides of 1, as TensorFlow takes it
        dh = dw = 1
    pixels = _out_side(h, kh, sh, dh, padding) * _out_side(w, kw, sw, dw, padding)
    groups = 1
    divisors = [d for d in range(2, c + 1) if c % d == 0]
    if divisors and (dh, dw) == (1, 1) and g.chance(0.25):
        groups = g.choice(divisors)
    most = min(16, MAX_CHANNELS, MAX_ELEMENTS // pixels) // groups
    filters = c if keep else groups * g.between(1, max(1, most))
    act = g.activation()
    if dh > 1 or dw > 1:
        layer = _dilated_layer(filters, (kh, kw), (dh, dw), padding, depthwise=False)
    else:
        layer = tf.keras.layers.Conv2D(filters, (kh, kw), strides=(sh, sw), padding=padding, groups=groups)
    y = g.call(layer, x)
    g.set_weights(layer, kh * kw * c // groups)
    y = g.activate(y, act)
    g.note(f"conv {kh}x{kw} stride {sh}x{sw} dilation {dh}x{dw} {padding} groups {groups} {filters} filters {act}", y)
    return y


def _depthwise(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    h, w, c = x.shape
    padding = "same" if keep else g.choice(("same", "valid"))
    kh, sh, dh = _window(g, h, keep, padding)
    kw, sw, dw = _window(g, w, keep, padding)
    if (sh, sw) != (1, 1):
        dh = dw = 1
    pixels = _out_side(h, kh, sh, dh, padding) * _out_side(w, kw, sw, dw, padding)
    mult = 1 if keep else g.choice((1, 1, 2, 3))
    while mult > 1 and (c * mult > MAX_CHANNELS or c * mult * pixels > MAX_ELEMENTS):
        mult -= 1
    act = g.activation()
    if dh > 1 or dw > 1:
        layer = _dilated_layer(c * mult, (kh, kw), (dh, dw), padding, depthwise=True)
    else:
        layer = tf.keras.layers.DepthwiseConv2D((kh, kw), strides=(sh, sw), padding=padding, depth_multiplier=mult)
    y = g.call(layer, x)
    g.set_weights(layer, kh * kw)
    y = g.activate(y, act)
    g.note(f"depthwise {kh}x{kw} stride {sh}x{sw} dilation {dh}x{dw} {padding} multiplier {mult} {act}", y)
    return y


def _dense_applies(g: Grower, shape: Shape) -> bool:
    # on a 3-D tensor with a free batch, Keras computes the reshape at run time in a form TFLM cannot run
    return len(shape) == 1 or (len(shape) == 2 and g.fixed_batch)


def _narrow(g: Grower, shape: Shape) -> bool:
    """A Dense layer keeps its input's shape with as many units as inputs: only on few features."""
    return shape[-1] <= 64


def _dense(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    units = x.shape[-1] if keep else g.between(1, 24)
    act = g.activation()
    layer = tf.keras.layers.Dense(units)
    y = g.call(layer, x)
    g.set_weights(layer, x.shape[-1])
    y = g.activate(y, act)
    g.note(f"dense {units} {act}", y)
    return y


# --- pooling and reductions --------------------------------------------------------------------------------------


def _pool(kind: str) -> Callable[[Grower, Node, bool], Node]:
    def build(g: Grower, x: Node, keep: bool) -> Node:
        import tensorflow as tf

        h, w, _ = x.shape
        padding = "same" if keep else g.choice(("same", "valid"))
        reach = 0 if padding == "valid" else 1  # a SAME window may be larger than the map
        ph, pw = g.between(1, min(3, h + reach)), g.between(1, min(3, w + reach))
        strides = (1, 1) if keep else g.choice(((1, 1), (2, 2), (ph, pw), (1, 2), (3, 3)))
        layer = (tf.keras.layers.MaxPooling2D if kind == "max" else tf.keras.layers.AveragePooling2D)(
            (ph, pw), strides=strides, padding=padding
        )
        y = g.call(layer, x)
        g.note(f"{kind} pool {ph}x{pw} stride {strides[0]}x{strides[1]} {padding}", y)
        return y

    return build


#: axes MEAN may reduce (1-based, the batch is axis 0): adjacent ones only
MEAN_AXES = {3: [(1, 2), (1,), (2,), (3,), (1, 2, 3), (2, 3)], 2: [(1,), (2,), (1, 2)]}


def _mean(g: Grower, x: Node, keep: bool) -> Node:
    import keras

    axes = g.choice(MEAN_AXES[len(x.shape)])
    keepdims = len(axes) == len(x.shape) or g.chance(0.5)  # never reduce to a scalar per batch
    y = g.call(lambda t: keras.ops.mean(t, axis=axes, keepdims=keepdims), x)
    g.note(f"mean over axes {axes} keepdims {keepdims}", y)
    return y


# --- shape ops ---------------------------------------------------------------------------------------------------


def _pad(constant: bool) -> Callable[[Grower, Node, bool], Node]:
    def build(g: Grower, x: Node, keep: bool) -> Node:
        import keras
        import tensorflow as tf

        pads = [[g.choice((0, 0, 1, 2)), g.choice((0, 0, 1, 2))] for _ in x.shape]
        if _image(x.shape) and g.chance(0.5):  # mostly spatial, as ZeroPadding2D would
            pads[2] = [0, 0]
        if not any(map(any, pads)) or not _fits(tuple(d + a + b for d, (a, b) in zip(x.shape, pads, strict=True))):
            pads = [[1, 0], *([0, 0] for _ in x.shape[1:])]  # fits: see _pad_applies
        if constant:
            value = round(float(g.rng.uniform(-1.0, 1.0)), 3)
            y = g.call(lambda t: keras.ops.pad(t, [[0, 0], *pads], constant_values=value), x)
            g.note(f"pad {pads} with {value}", y)
        elif _image(x.shape) and pads[2] == [0, 0]:
            y = g.call(tf.keras.layers.ZeroPadding2D((tuple(pads[0]), tuple(pads[1]))), x)
            g.note(f"zero padding {pads[:2]}", y)
        else:
            y = g.call(lambda t: keras.ops.pad(t, [[0, 0], *pads]), x)
            g.note(f"pad {pads}", y)
        return y

    return build


def _pad_applies(g: Grower, shape: Shape) -> bool:
    return _fits((shape[0] + 1, *shape[1:]))


def _image_shapes(n: int) -> list[Shape]:
    """Every (h, w, c) with h*w*c == n, h and w in [2, MAX_SIDE] and c at most MAX_CHANNELS."""
    return [
        (h, w, n // (h * w))
        for h in range(2, MAX_SIDE + 1)
        for w in range(2, MAX_SIDE + 1)
        if n % (h * w) == 0 and n // (h * w) <= MAX_CHANNELS
    ]


def _reshape_applies(g: Grower, shape: Shape) -> bool:
    return len(shape) > 1 or bool(_image_shapes(shape[0]))


def _reshape(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    n = _elements(x.shape)
    targets: list[Shape] = [(n,)]
    if _image(x.shape):
        h, w, c = x.shape
        targets += [(h, w * c), (h * w, c)]
    if len(x.shape) == 2:
        targets += [(*x.shape, 1)]
    images = [t for t in _image_shapes(n) if t != x.shape]
    if images:
        targets.append(g.choice(images))
    target = g.choice(targets)
    if target == (n,) and g.chance(0.5):
        y = g.call(tf.keras.layers.Flatten(), x)
        g.note("flatten", y)
    else:
        y = g.call(tf.keras.layers.Reshape(target), x)
        g.note(f"reshape to {list(target)}", y)
    return y


def _expand_dims(g: Grower, x: Node, keep: bool) -> Node:
    import keras

    axis = g.between(1, len(x.shape) + 1)
    y = g.call(lambda t: keras.ops.expand_dims(t, axis), x)
    g.note(f"expand dims at axis {axis}", y)
    return y


# --- activations -------------------------------------------------------------------------------------------------


def _unary(label: str, make: Callable[[], Callable[[Any], Any]]) -> Callable[[Grower, Node, bool], Node]:
    def build(g: Grower, x: Node, keep: bool) -> Node:
        y = g.call(make(), x)
        g.note(label, y)
        return y

    return build


def _softmax() -> Callable[[Any], Any]:
    import tensorflow as tf

    return tf.keras.layers.Softmax(axis=-1)


def _sigmoid() -> Callable[[Any], Any]:
    import keras

    return keras.ops.sigmoid


def _relu(cap: float | None) -> Callable[[], Callable[[Any], Any]]:
    def make() -> Callable[[Any], Any]:
        import tensorflow as tf

        return tf.keras.layers.ReLU(cap)

    return make


# --- arithmetic and merges ---------------------------------------------------------------------------------------


def _broadcast(a: Shape, b: Shape) -> Shape | None:
    """The broadcast shape of two same-rank shapes, or None."""
    if len(a) != len(b) or any(p != q and 1 not in (p, q) for p, q in zip(a, b, strict=True)):
        return None
    return tuple(max(p, q) for p, q in zip(a, b, strict=True))


def _column(g: Grower, shape: Shape) -> bool:
    """An (n, 1) tensor with a fixed batch, n > 1: TensorFlow's converter fails on an ADD of it and another
    operand with n rows (it rewrites the ADD into a bias add of the wrong rank), so ADD avoids it."""
    return g.fixed_batch and len(shape) == 2 and shape[0] > 1 and shape[1] == 1


def _add_applies(g: Grower, shape: Shape) -> bool:
    return not _column(g, shape)


def _arith(kind: str) -> Callable[[Grower, Node, bool], Node]:
    """ADD, MUL (or SUB, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE) of `x` and a partner of the same or a
    broadcastable shape."""

    def build(g: Grower, x: Node, keep: bool) -> Node:
        import keras

        def fits(shape: Shape) -> bool:
            out = _broadcast(x.shape, shape)
            if out is None or (kind in ("add", "sub") and _column(g, shape)):
                return False
            return _fits(out) and (not keep or out == x.shape)

        def gate() -> Node | None:
            """A squeeze-and-excite style gate: mean over space (or channels), a 1x1 conv, a sigmoid."""
            if not _image(x.shape) or not g.allows("MEAN"):
                return None
            import tensorflow as tf

            axes = g.choice(((1, 2), (3,), (1,)))
            y = g.call(lambda t: keras.ops.mean(t, axis=axes, keepdims=True), x)
            if g.chance(0.6) and g.allows("CONV_2D"):
                layer = tf.keras.layers.Conv2D(y.shape[2], 1)
                y2 = g.call(layer, y)
                g.set_weights(layer, y.shape[2])
                y = y2
            if g.chance(0.6) and g.allows("LOGISTIC"):
                y = g.call(keras.ops.sigmoid, y)
            g.note(f"  gate: mean over {axes}, 1x1 conv and sigmoid as chosen", y)
            return y

        other = g.partner(x, fits, [gate])
        a, b = (x, other) if g.chance(0.7) else (other, x)
        act = g.activation() if kind in FUSES else None
        y = g.activate(g.call(_binary_fn(kind), a, b), act)
        g.note(f"{kind} {list(a.shape)} and {list(b.shape)} {act}", y)
        return y

    return build


#: binary ops whose TFLite form takes a fused activation (the converter folds a following ReLU into them)
FUSES = ("add", "mul", "sub")


def _binary_fn(kind: str) -> Callable[[Any, Any], Any]:
    import keras
    import tensorflow as tf

    return {
        "add": keras.ops.add,
        "mul": keras.ops.multiply,
        "sub": keras.ops.subtract,
        "maximum": keras.ops.maximum,
        "minimum": keras.ops.minimum,
        "squared_difference": _tf2(tf.math.squared_difference),
    }[kind]


def _arith_const(kind: str) -> Callable[[Grower, Node, bool], Node]:
    """ADD or MUL of `x` and a constant: a scalar, one value per channel, or a whole tensor."""

    def build(g: Grower, x: Node, keep: bool) -> Node:
        import keras

        shape = g.choice(((), (x.shape[-1],), x.shape, (1,) * (len(x.shape) - 1) + (x.shape[-1],)))
        lo, hi = (-2.0, 2.0) if kind == "add" else g.choice(((-3.0, 3.0), (0.1, 1.5), (-0.5, 0.5)))
        value = g.rng.uniform(lo, hi, size=shape).astype(np.float32)
        act = g.activation()
        fn = keras.ops.add if kind == "add" else keras.ops.multiply
        const = keras.ops.convert_to_tensor(value)
        y = g.activate(g.call(lambda t: fn(t, const), x), act)
        g.note(f"{kind} constant of shape {list(shape)} {act}", y)
        return y

    return build


def _concat(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    rank = len(x.shape)

    def axis_of(shape: Shape) -> int | None:
        """The one axis (1-based) where `shape` differs from x's, or the last when they are equal."""
        if len(shape) != rank:
            return None
        diff = [i for i, (p, q) in enumerate(zip(x.shape, shape, strict=True)) if p != q]
        return rank if not diff else diff[0] + 1 if len(diff) == 1 else None

    def fits(shape: Shape) -> bool:
        axis = axis_of(shape)
        if axis is None:
            return False
        out = list(x.shape)
        out[axis - 1] += shape[axis - 1]
        return _fits(tuple(out))

    def other_channels() -> Node | None:
        """A conv branch off x with a different channel count."""
        if not _image(x.shape) or not g.allows("CONV_2D"):
            return None
        h, w, c = x.shape
        filters = g.between(1, max(1, min(12, MAX_CHANNELS - c, MAX_ELEMENTS // (h * w) - c)))
        if not fits((h, w, filters)):
            return None
        k = g.choice((1, 3))
        layer = tf.keras.layers.Conv2D(filters, k, padding="same")
        y = g.call(layer, x)
        g.set_weights(layer, k * k * c)
        y = g.activate(y, g.activation())
        g.note(f"  branch: conv {k}x{k} same {filters} filters", y)
        return y

    other = g.partner(x, fits, [other_channels])
    axis = axis_of(other.shape)
    assert axis is not None

    def grown(axis: int, by: int) -> Shape:
        out = list(x.shape)
        out[axis - 1] += by
        return tuple(out)

    if other.shape == x.shape:  # any axis will do
        axis = g.choice([a for a in range(1, rank + 1) if _fits(grown(a, x.shape[a - 1]))])
    parts = [x, other] if g.chance(0.6) else [other, x]
    if g.chance(0.25) and _fits(grown(axis, other.shape[axis - 1] + x.shape[axis - 1])):
        parts.append(x)  # a third operand: x again
    y = g.call(lambda *ts: tf.keras.layers.Concatenate(axis=axis)(list(ts)), *parts)
    g.note(f"concatenate {len(parts)} along axis {axis}", y)
    return y


def _concat_applies(g: Grower, shape: Shape) -> bool:
    return _elements(shape) * 2 <= MAX_ELEMENTS


# --- issue 12 operators (only in the seeds from EXTENDED_FROM; see fuzz_builders) ---------------------------------


def _tf(fn: Callable[[Any], Any]) -> Any:
    """A Keras layer running TensorFlow ops on one tensor (Keras 3 takes no tf functions of its own tensors)."""
    import tensorflow as tf

    return tf.keras.layers.Lambda(fn)


def _tf2(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """`_tf` for TensorFlow ops on two tensors."""
    import tensorflow as tf

    return lambda a, b: tf.keras.layers.Lambda(lambda ts: fn(*ts))([a, b])


def _prelu(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    shared = g.choice((None, (1, 2))) if _image(x.shape) else None
    layer = tf.keras.layers.PReLU(shared_axes=shared)
    y = g.call(layer, x)
    (alpha,) = layer.get_weights()
    layer.set_weights([g.rng.uniform(-0.5, 1.0, size=alpha.shape).astype(np.float32)])
    g.note(f"prelu shared over {shared}", y)
    return y


def _leaky(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    alpha = g.choice((0.01, 0.1, 0.2, 0.3, 0.5))
    y = g.call(_tf(lambda t: tf.nn.leaky_relu(t, alpha=alpha)), x)
    g.note(f"leaky relu {alpha}", y)
    return y


def _hard_swish(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    y = g.call(tf.keras.layers.Activation("hard_swish"), x)
    g.note("hard swish", y)
    return y


def _tanh(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    y = g.call(_tf(tf.tanh), x)
    g.note("tanh", y)
    return y


def _rsqrt(g: Grower, x: Node, keep: bool) -> Node:
    """rsqrt of a positive tensor: x * x plus an offset (MUL and ADD before the RSQRT)."""
    import tensorflow as tf

    offset = g.choice((0.25, 0.5, 1.0, 2.0))
    y = g.call(_tf(lambda t: tf.math.rsqrt(t * t + offset)), x)
    g.note(f"rsqrt of x*x + {offset}", y)
    return y


def _log_softmax(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    y = g.call(_tf(tf.nn.log_softmax), x)
    g.note("log softmax", y)
    return y


def _l2_normalize(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    y = g.call(_tf(lambda t: tf.math.l2_normalize(t, axis=-1)), x)
    g.note("l2 normalize", y)
    return y


def _l2_applies(g: Grower, shape: Shape) -> bool:
    return shape[-1] > 1 and len(shape) <= 3


def _argminmax(kind: str) -> Callable[[Grower, Node, bool], Node]:
    """ARG_MAX or ARG_MIN over one axis, as an extra model output (its int32 indices feed no int8 op);
    the chain goes on from `x`."""

    def build(g: Grower, x: Node, keep: bool) -> Node:
        import tensorflow as tf

        axis = g.between(1, len(x.shape))
        fn = tf.math.argmax if kind == "max" else tf.math.argmin
        y = g.call(_tf(lambda t: fn(t, axis=axis, output_type=tf.int32)), x)
        g.taps.append(y)
        g.note(f"arg{kind} over axis {axis} (a model output)", y)
        return x

    return build


def _argminmax_applies(g: Grower, shape: Shape) -> bool:
    return not g.taps and not g.float_io and max(shape) > 1


def _transpose(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    rank = len(x.shape)
    perms = [p for p in _permutations(rank) if p != tuple(range(rank))]
    perms = [p for p in perms if _fits(tuple(x.shape[i] for i in p))]
    perm = g.choice(perms)
    y = g.call(_tf(lambda t: tf.transpose(t, [0, *(i + 1 for i in perm)])), x)
    g.note(f"transpose {list(perm)}", y)
    return y


def _permutations(rank: int) -> list[tuple[int, ...]]:
    import itertools

    return list(itertools.permutations(range(rank)))


def _transpose_applies(g: Grower, shape: Shape) -> bool:
    return len(shape) > 1 and any(
        _fits(tuple(shape[i] for i in p)) for p in _permutations(len(shape)) if p != tuple(range(len(shape)))
    )


def _split(equal: bool) -> Callable[[Grower, Node, bool], Node]:
    """SPLIT (equal parts) or SPLIT_V (given sizes) along one axis, the parts put back together in reverse
    order (CONCATENATION: the shape is kept) or summed (ADD) or their maximum taken (MAXIMUM)."""

    def build(g: Grower, x: Node, keep: bool) -> Node:
        import keras
        import tensorflow as tf

        axes = [a for a in range(1, len(x.shape) + 1) if _splits(x.shape[a - 1], equal)]
        axis = g.choice(axes)
        dim = x.shape[axis - 1]
        if equal:
            parts = g.choice(_splits(dim, True))
            how: Any = parts
        else:
            cuts = sorted(
                int(c) for c in g.rng.choice(np.arange(1, dim), size=g.between(1, min(3, dim - 1)), replace=False)
            )
            how = [b - a for a, b in zip([0, *cuts], [*cuts, dim], strict=True)]
            if len(set(how)) == 1:  # the converter makes equal sizes a SPLIT
                how = [how[0] + how[1], *how[2:]] if len(how) > 2 else [how[0] - 1, how[1] + 1]
        merge = "concat" if keep or not equal else g.choice(("concat", "add", "maximum"))

        def fn(t: Any) -> Any:
            pieces = tf.split(t, how, axis=axis)
            if merge == "concat":
                return tf.concat(pieces[::-1], axis=axis)
            combine = keras.ops.add if merge == "add" else keras.ops.maximum
            out = pieces[0]
            for p in pieces[1:]:
                out = combine(out, p)
            return out

        y = g.call(_tf(fn), x)
        g.note(f"split along axis {axis} into {how}, {merge} of the parts", y)
        return y

    return build


def _splits(dim: int, equal: bool) -> list[int]:
    """How an axis of `dim` may split: the numbers of equal parts (2 to 4), or [dim] when it has 3 or more
    values to cut unequally."""
    if equal:
        return [n for n in (2, 3, 4) if dim % n == 0]
    return [dim] if dim >= 3 else []


def _split_applies(equal: bool) -> Callable[[Grower, Shape], bool]:
    return lambda g, shape: any(_splits(d, equal) for d in shape)


def _slice(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    while True:
        begin = [g.between(0, d - 1) if d > 1 and g.chance(0.6) else 0 for d in x.shape]
        size = [g.choice((-1, g.between(1, d - b))) for b, d in zip(begin, x.shape, strict=True)]
        if any(b > 0 or s not in (-1, d) for b, s, d in zip(begin, size, x.shape, strict=True)):
            break
    y = g.call(_tf(lambda t: tf.slice(t, [0, *begin], [-1, *size])), x)
    g.note(f"slice from {begin} size {size}", y)
    return y


def _strided_slice(g: Grower, x: Node, keep: bool) -> Node:
    while True:
        index: list[slice] = []
        for d in x.shape:
            step = g.choice((1, 1, 2, 3, -1)) if d > 1 else 1
            start, stop = sorted(g.rng.choice(d + 1, size=2, replace=False).tolist()) if d > 1 else (0, 1)
            if step > 0 and g.chance(0.3):  # a whole axis reversed would be a REVERSE_V2
                start, stop = 0, d
            index.append(slice(start, stop, step) if step > 0 else slice(stop - 1, start - 1 if start else None, step))
        if any(s != slice(0, d, 1) for s, d in zip(index, x.shape, strict=True)):
            break
    y = g.call(_tf(lambda t: t[(slice(None), *index)]), x)
    g.note(f"strided slice {[(s.start, s.stop, s.step) for s in index]}", y)
    return y


def _slice_applies(g: Grower, shape: Shape) -> bool:
    return max(shape) > 1


def _gather(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    axis = g.between(1, len(x.shape))
    dim = x.shape[axis - 1]
    most = max(1, min(dim + 2, MAX_ELEMENTS * dim // _elements(x.shape)))
    if _image(x.shape) and axis == 3:
        most = min(most, MAX_CHANNELS)
    positions = g.rng.integers(0, dim, size=g.between(1, most)).tolist()
    y = g.call(_tf(lambda t: tf.gather(t, positions, axis=axis)), x)
    g.note(f"gather {positions} along axis {axis}", y)
    return y


def _depth_to_space(g: Grower, x: Node, keep: bool) -> Node:
    """DEPTH_TO_SPACE, after a 1x1 conv to a multiple of block^2 channels when `x` has none."""
    import tensorflow as tf

    blocks = [b for b in (2, 3) if max(x.shape[:2]) * b <= MAX_SIDE]
    block = g.choice(blocks)
    h, w, c = x.shape
    if c % (block * block):
        most = max(1, min(MAX_CHANNELS, MAX_ELEMENTS // (h * w)) // (block * block))
        layer = tf.keras.layers.Conv2D(block * block * g.between(1, most), 1)
        x2 = g.call(layer, x)
        g.set_weights(layer, c)
        x = x2
        g.note(f"conv 1x1 to {x.shape[2]} channels", x)
    y = g.call(_tf(lambda t: tf.nn.depth_to_space(t, block)), x)
    g.note(f"depth to space {block}", y)
    return y


def _to_space_applies(g: Grower, shape: Shape) -> bool:
    return _image(shape) and max(shape[:2]) * 2 <= MAX_SIDE and _elements(shape[:2]) * 4 <= MAX_ELEMENTS


def _space_to_depth(g: Grower, x: Node, keep: bool) -> Node:
    """SPACE_TO_DEPTH, after zero padding to a multiple of the block on each side when `x` has none."""
    import tensorflow as tf

    h, w, c = x.shape
    block = g.choice([b for b in (2, 3) if c * b * b <= MAX_CHANNELS and _fits((h + b, w + b, c))])
    pad = (-h % block, -w % block)
    if any(pad):
        x = g.call(tf.keras.layers.ZeroPadding2D(((0, pad[0]), (0, pad[1]))), x)
        g.note(f"zero padding {list(pad)} at the end", x)
    y = g.call(_tf(lambda t: tf.nn.space_to_depth(t, block)), x)
    g.note(f"space to depth {block}", y)
    return y


def _to_depth_applies(g: Grower, shape: Shape) -> bool:
    return _image(shape) and shape[2] * 4 <= MAX_CHANNELS and _fits((shape[0] + 2, shape[1] + 2, shape[2]))


def _resize(kind: str) -> Callable[[Grower, Node, bool], Node]:
    """RESIZE_NEAREST_NEIGHBOR or RESIZE_BILINEAR to a random size, in each of TensorFlow's coordinate modes:
    half-pixel centres (TF2's resize), aligned corners, or neither (TF1's)."""

    def build(g: Grower, x: Node, keep: bool) -> Node:
        import tensorflow as tf

        c = x.shape[2]
        while True:
            size = (g.between(2, MAX_SIDE), g.between(2, MAX_SIDE))
            if _fits((*size, c)):
                break
        mode = g.choice(("half_pixel", "align_corners", "neither"))
        if mode == "half_pixel":
            fn = lambda t: tf.image.resize(t, size, method=kind)  # noqa: E731
        else:
            v1 = tf.compat.v1.image
            resize = v1.resize_nearest_neighbor if kind == "nearest" else v1.resize_bilinear
            fn = lambda t: resize(t, size, align_corners=mode == "align_corners", half_pixel_centers=False)  # noqa: E731
        y = g.call(_tf(fn), x)
        g.note(f"resize {kind} to {list(size)} {mode}", y)
        return y

    return build


def _resize_applies(g: Grower, shape: Shape) -> bool:
    return _image(shape) and _fits((2, 2, shape[2]))


def _matmul(g: Grower, x: Node, keep: bool) -> Node:
    """BATCH_MATMUL of two activations: `x` and itself or a branch off it, one of them transposed."""
    import tensorflow as tf

    other = x if g.chance(0.4) else g.branch(x)
    rows, depth = x.shape[-2:]
    options = [o for o, n in (("a", depth), ("b", rows)) if _fits((*x.shape[:-2], n, n))]
    adj = g.choice(options)
    a, b = (other, x) if g.chance(0.5) else (x, other)
    y = g.call(_tf2(lambda s, t: tf.matmul(s, t, transpose_a=adj == "a", transpose_b=adj == "b")), a, b)
    g.note(f"matmul transpose {adj}", y)
    return y


def _matmul_applies(g: Grower, shape: Shape) -> bool:
    return len(shape) >= 2 and (
        _fits((*shape[:-2], shape[-1], shape[-1])) or _fits((*shape[:-2], shape[-2], shape[-2]))
    )


def _transpose_conv(g: Grower, x: Node, keep: bool) -> Node:
    import tensorflow as tf

    h, w, c = x.shape
    padding = "same" if keep else g.choice(("same", "valid"))
    stride = 1 if keep else g.choice((1, 2, 2, 3))
    k = g.between(1, 4) if not keep else g.choice((1, 3))

    def side(n: int) -> int:
        return n * stride if padding == "same" else (n - 1) * stride + max(k, stride)

    pixels = side(h) * side(w)
    if pixels * 1 > MAX_ELEMENTS or side(h) > MAX_SIDE or side(w) > MAX_SIDE:
        stride, padding = 1, "same"
        pixels = h * w
    filters = c if keep else g.between(1, max(1, min(12, MAX_CHANNELS, MAX_ELEMENTS // pixels)))
    act = g.choice((None, None, None, "relu", "relu6"))  # the converter does not fuse a clip to [-1, 1] here
    layer = tf.keras.layers.Conv2DTranspose(filters, k, strides=stride, padding=padding)
    y = g.call(layer, x)
    g.set_weights(layer, k * k * c)
    y = g.activate(y, act)
    g.note(f"transpose conv {k}x{k} stride {stride} {padding} {filters} filters {act}", y)
    return y


# --- the table ---------------------------------------------------------------------------------------------------


def _always(g: Grower, shape: Shape) -> bool:
    return True


def _any_image(g: Grower, shape: Shape) -> bool:
    return _image(shape)


def _rank_2_or_3(g: Grower, shape: Shape) -> bool:
    return len(shape) in (2, 3)


def _many(g: Grower, shape: Shape) -> bool:
    """More than one value along the last axis (a softmax over one value is a constant 1)."""
    return shape[-1] > 1


def _expand_applies(g: Grower, shape: Shape) -> bool:
    return len(shape) <= 2


BUILDERS: list[Builder] = [
    Builder("conv", frozenset({"CONV_2D"}), _any_image, _conv, keeps=_always, weight=3.0),
    Builder("depthwise", frozenset({"DEPTHWISE_CONV_2D"}), _any_image, _depthwise, keeps=_always, weight=2.0),
    Builder("dense", frozenset({"FULLY_CONNECTED"}), _dense_applies, _dense, keeps=_narrow, weight=3.0),
    Builder("max_pool", frozenset({"MAX_POOL_2D"}), _any_image, _pool("max"), keeps=_always),
    Builder("avg_pool", frozenset({"AVERAGE_POOL_2D"}), _any_image, _pool("avg"), keeps=_always, weight=1.5),
    Builder("mean", frozenset({"MEAN"}), _rank_2_or_3, _mean),
    Builder("pad", frozenset({"PAD"}), _pad_applies, _pad(False), weight=0.7),
    Builder("padv2", frozenset({"PADV2"}), _pad_applies, _pad(True), weight=0.5),
    Builder("reshape", frozenset({"RESHAPE"}), _reshape_applies, _reshape, weight=1.0),
    Builder("expand_dims", frozenset({"EXPAND_DIMS", "RESHAPE"}), _expand_applies, _expand_dims, weight=0.7),
    Builder("softmax", frozenset({"SOFTMAX"}), _many, _unary("softmax", _softmax), keeps=_always, weight=0.5),
    Builder("logistic", frozenset({"LOGISTIC"}), _always, _unary("sigmoid", _sigmoid), keeps=_always, weight=0.6),
    Builder("relu", frozenset({"RELU"}), _always, _unary("relu", _relu(None)), keeps=_always, weight=0.6),
    Builder("relu6", frozenset({"RELU6"}), _always, _unary("relu6", _relu(6.0)), keeps=_always, weight=0.6),
    Builder("add", frozenset({"ADD"}), _add_applies, _arith("add"), merges=True, weight=1.5),
    Builder("mul", frozenset({"MUL"}), _always, _arith("mul"), merges=True),
    Builder("add_const", frozenset({"ADD"}), _add_applies, _arith_const("add"), keeps=_always, weight=0.5),
    Builder("mul_const", frozenset({"MUL"}), _always, _arith_const("mul"), keeps=_always, weight=0.5),
    Builder("concat", frozenset({"CONCATENATION"}), _concat_applies, _concat, merges=True, weight=1.2),
]


def _transpose_conv_applies(g: Grower, shape: Shape) -> bool:
    """With a free batch the converter computes TRANSPOSE_CONV's output shape at run time (SHAPE, PACK)."""
    return _image(shape) and g.fixed_batch


#: the issue 12 builders: in the seeds from EXTENDED_FROM only, so that earlier seeds keep their bytes
EXTENDED: list[Builder] = [
    Builder("sub", frozenset({"SUB"}), _add_applies, _arith("sub"), merges=True, weight=1.5),
    Builder("maximum", frozenset({"MAXIMUM"}), _always, _arith("maximum"), merges=True, weight=1.5),
    Builder("minimum", frozenset({"MINIMUM"}), _always, _arith("minimum"), merges=True),
    Builder(
        "squared_difference", frozenset({"SQUARED_DIFFERENCE"}), _always, _arith("squared_difference"), merges=True
    ),
    Builder("prelu", frozenset({"PRELU"}), _always, _prelu, keeps=_always, weight=2.0),
    Builder("leaky_relu", frozenset({"LEAKY_RELU"}), _always, _leaky, keeps=_always),
    Builder("hard_swish", frozenset({"HARD_SWISH"}), _always, _hard_swish, keeps=_always),
    Builder("tanh", frozenset({"TANH"}), _always, _tanh, keeps=_always, weight=2.0),
    Builder("rsqrt", frozenset({"RSQRT"}), _always, _rsqrt, keeps=_always),
    Builder("log_softmax", frozenset({"LOG_SOFTMAX"}), _many, _log_softmax, keeps=_always),
    Builder("l2_normalize", frozenset({"L2_NORMALIZATION"}), _l2_applies, _l2_normalize, keeps=_always, weight=2.5),
    Builder("argmax", frozenset({"ARG_MAX"}), _argminmax_applies, _argminmax("max"), weight=2.0),
    Builder("argmin", frozenset({"ARG_MIN"}), _argminmax_applies, _argminmax("min"), weight=2.5),
    Builder("transpose", frozenset({"TRANSPOSE"}), _transpose_applies, _transpose, weight=2.5),
    Builder("split", frozenset({"SPLIT"}), _split_applies(True), _split(True), keeps=_split_applies(True)),
    Builder("split_v", frozenset({"SPLIT_V"}), _split_applies(False), _split(False), keeps=_split_applies(False)),
    Builder("slice", frozenset({"SLICE"}), _slice_applies, _slice),
    Builder("strided_slice", frozenset({"STRIDED_SLICE"}), _slice_applies, _strided_slice, weight=1.5),
    Builder("gather", frozenset({"GATHER"}), _always, _gather, weight=1.5),
    Builder("depth_to_space", frozenset({"DEPTH_TO_SPACE"}), _to_space_applies, _depth_to_space, weight=3.0),
    Builder("space_to_depth", frozenset({"SPACE_TO_DEPTH"}), _to_depth_applies, _space_to_depth, weight=4.0),
    Builder("resize_nearest", frozenset({"RESIZE_NEAREST_NEIGHBOR"}), _resize_applies, _resize("nearest"), weight=3.0),
    Builder("resize_bilinear", frozenset({"RESIZE_BILINEAR"}), _resize_applies, _resize("bilinear"), weight=3.0),
    Builder("matmul", frozenset({"BATCH_MATMUL"}), _matmul_applies, _matmul, weight=2.0),
    Builder(
        "transpose_conv",
        frozenset({"TRANSPOSE_CONV"}),
        _transpose_conv_applies,
        _transpose_conv,
        keeps=_always,
        weight=3.0,
    ),
]
#: the first seed whose model may use the EXTENDED builders too
EXTENDED_FROM = 1000
#: how much likelier an EXTENDED builder is than its weight says, so that few seeds cover them all
EXTENDED_BOOST = 3.0


# --- models ------------------------------------------------------------------------------------------------------


def _input_shape(g: Grower) -> Shape:
    kind = g.choice(("image",) * 5 + ("vector", "sequence", "sequence"))
    if kind == "vector":
        return (g.between(4, 32),)
    if kind == "sequence":
        return (g.between(3, 10), g.between(2, 12))
    h, w = (g.between(3, 12) for _ in range(2))
    if g.chance(0.1):  # one row or column, as audio models have
        h, w = g.choice(((1, w), (h, 1)))
    return (h, w, g.choice((1, 2, 3, 4, 5, 8)))


def _second_input_shape(g: Grower, first: Shape) -> Shape:
    """A shape that merges with the first input: equal, broadcastable, or differing on the last axis."""
    options = [first, (*first[:-1], g.between(1, 6)), (*(1,) * (len(first) - 1), first[-1])]
    if len(first) > 1:
        options.append((*first[:-1], 1))
    return g.choice(options)


def fuzz_builders(ops: set[str] | None = None, seed: int = 0) -> list[Builder]:
    """The builders that make any of `ops` (all of them for None): the EXTENDED ones too from seed
    EXTENDED_FROM, weighted up."""
    table = BUILDERS
    if seed >= EXTENDED_FROM:
        table = [*BUILDERS, *(replace(b, weight=b.weight * EXTENDED_BOOST) for b in EXTENDED)]
    return [b for b in table if ops is None or b.ops & ops]


def _grow(g: Grower, inputs: list[Node]) -> tuple[list[Node], list[Node]]:
    """The main chain: a merge with the second input first when there is one, then random layers.

    Returns the inputs the model uses (a second input no merge could take is dropped) and its outputs."""
    x = inputs[0]
    g.pool.append(x)
    outputs: list[Node] = []
    if len(inputs) == 2:
        g.forced = inputs[1]
        merge = g.pick(g.eligible(x.shape, merges=True))
        if merge is not None:
            x = g.apply(merge, x)
            g.pool.append(x)
        if g.forced is None:
            g.pool.append(inputs[1])
        else:
            inputs, g.forced = inputs[:1], None
    for step in range(g.between(MIN_STEPS, MAX_STEPS)):
        builder = g.pick(g.eligible(x.shape))
        if builder is None:
            break
        x = g.apply(builder, x)
        g.pool.append(x)
        if not outputs and step > 0 and g.chance(0.08):
            outputs.append(x)
            g.recipe.append("  (also a model output)")
    return inputs, [x, *outputs, *g.taps]


def _ops_of(data: bytes) -> list[str]:
    """The op types of a converted model, in execution order."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    return [flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for sg in model.subgraphs for op in sg.operators]


def _with_metadata(data: bytes, info: dict[str, Any]) -> bytes:
    """The model with `info` as JSON in a metadata entry of its own."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(info, sort_keys=True).encode(), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def fuzz_info(path: Path) -> dict[str, Any]:
    """What `fuzz_model` recorded in a model: seed, inputs, options, builders used, recipe, and ops."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    for entry in model.metadata or []:
        name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
        if name == METADATA:
            return json.loads(bytes(model.buffers[entry.buffer].data).decode())
    raise ValueError(f"{path} was not made by fuzz_model (no {METADATA} metadata)")


#: how many times a seed regrows its model when the converter quantized a tensor degenerately (or spelled a
#: pattern out: SPELLED_OUT)
ATTEMPTS = 8
#: a tensor scale below this means calibration saw one value only (a ReLU that is never positive, ...);
#: TFLite Micro aborts on such models (ADD's rescaling factors leave (0, 1)), so they have no oracle
MIN_SCALE = 1e-6


def _degenerate(data: bytes) -> str | None:
    """The first activation tensor with a degenerate scale, or None."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    for sg in model.subgraphs:
        for t in sg.tensors:
            constant = model.buffers[t.buffer].data is not None
            q = t.quantization
            if not constant and q is not None and q.scale is not None and len(q.scale) and min(q.scale) < MIN_SCALE:
                name = t.name.decode() if isinstance(t.name, bytes) else t.name
                return f"{name} has scale {min(q.scale):.3g}"
    return None


#: ops the converter spells a pattern out with when it does not match the whole of it (tf.math.l2_normalize
#: with SUM, a PReLU with a float NEG); tinyml supports none of them, so a model holding one is grown again
SPELLED_OUT = {"SUM", "NEG"}


def _spelled_out(data: bytes) -> str | None:
    """The ops of SPELLED_OUT the converted model holds, or None."""
    found = sorted(set(_ops_of(data)) & SPELLED_OUT)
    return f"the converter made {found}" if found else None


def _float_arg(data: bytes) -> str | None:
    """An ARG_MAX/ARG_MIN the converter moved behind a DEQUANTIZE (onto float32 data, which tinyml refuses as
    TFLite Micro's int8 models never hold it), or None."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    for sg in model.subgraphs:
        for op in sg.operators:
            name = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
            if name in ("ARG_MAX", "ARG_MIN") and sg.tensors[op.inputs[0]].type == 0:  # FLOAT32
                return f"the converter put {name} on float32 data"
    return None


def fuzz_model(seed: int, path: Path, ops: set[str] | None = None) -> Path:
    """Grow a random model from `seed`, quantize it to int8 with a seeded representative data set, write it.

    `ops` limits the generator to the builders that make those ops (QUANTIZE/DEQUANTIZE allow float32
    inputs and outputs). The same seed and ops always give the same bytes. A model the converter
    quantizes degenerately is grown again, from the same generator, so that stays true.
    """
    rng = np.random.default_rng(seed)
    rejected = []
    for _ in range(ATTEMPTS):
        data, info = _convert(seed, rng, ops)
        problem = _degenerate(data) or _spelled_out(data) or _float_arg(data)
        if problem is None:
            break
        rejected.append(problem)
    else:
        raise RuntimeError(f"fuzz model {seed}: every attempt was quantized degenerately: {rejected}")
    info["rejected"] = rejected
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(_with_metadata(data, info))
    tmp.replace(path)
    return path


def _convert(seed: int, rng: np.random.Generator, ops: set[str] | None) -> tuple[bytes, dict[str, Any]]:
    """One model grown from `rng`, converted; and what was built."""
    import tensorflow as tf

    tf.keras.backend.clear_session()  # layer names (and so tensor names) count from zero again
    tf.keras.utils.set_random_seed(seed)
    g = Grower(rng, fuzz_builders(ops, seed), fixed_batch=bool(rng.random() < 0.5))
    float_io = (ops is None or bool({"QUANTIZE", "DEQUANTIZE"} & ops)) and g.chance(0.3)
    per_tensor = g.chance(0.2)
    g.float_io = float_io

    shapes = [_input_shape(g)]
    if g.eligible(shapes[0], merges=True) and g.chance(0.2):
        shapes.append(_second_input_shape(g, shapes[0]))
    batch = 1 if g.fixed_batch else None
    inputs, outputs = _grow(g, [Node(tf.keras.Input(s, batch_size=batch), s) for s in shapes])
    if not g.used:
        raise ValueError(f"no builder for {sorted(ops or [])} applies to a {list(shapes[0])} input")
    shapes = [x.shape for x in inputs]
    model = tf.keras.Model([x.tensor for x in inputs], [o.tensor for o in outputs])

    ranges = [sorted(rng.choice((-4.0, -1.5, -1.0, -0.2, 0.0, 0.5, 1.0, 3.0), size=2, replace=False)) for _ in shapes]
    samples = [
        [rng.uniform(lo, hi, size=(1, *s)).astype(np.float32) for s, (lo, hi) in zip(shapes, ranges, strict=True)]
        for _ in range(24)
    ]
    names = [t.name for t in model.inputs]  # the converter may reorder inputs: feed them by name

    def representative():
        for sample in samples:
            yield dict(zip(names, sample, strict=True))

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if per_tensor:
        converter._experimental_disable_per_channel = True
    try:
        data = converter.convert()
    except Exception as e:  # a generator bug: say what it built
        raise RuntimeError(f"the converter rejects fuzz model {seed}:\n  " + "\n  ".join(g.recipe)) from e
    info = {
        "seed": seed,
        "inputs": [list(s) for s in shapes],
        "fixed_batch": g.fixed_batch,
        "float_io": float_io,
        "per_tensor": per_tensor,
        "builders": g.used,
        "recipe": g.recipe,
        "ops": _ops_of(data),
    }
    return data, info
