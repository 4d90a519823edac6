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
from dataclasses import dataclass, field
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
    #: tensors a merge may take its other operand from (skip connections)
    pool: list[Node] = field(default_factory=list)
    #: the operand the next merge takes if it fits (a second model input)
    forced: Node | None = None
    #: one line per layer added, as built
    recipe: list[str] = field(default_factory=list)
    used: list[str] = field(default_factory=list)

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
    """ADD or MUL of `x` and a partner of the same or a broadcastable shape."""

    def build(g: Grower, x: Node, keep: bool) -> Node:
        import keras

        def fits(shape: Shape) -> bool:
            out = _broadcast(x.shape, shape)
            if out is None or (kind == "add" and _column(g, shape)):
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
        act = g.activation()
        fn = keras.ops.add if kind == "add" else keras.ops.multiply
        y = g.activate(g.call(fn, a, b), act)
        g.note(f"{kind} {list(a.shape)} and {list(b.shape)} {act}", y)
        return y

    return build


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


def fuzz_builders(ops: set[str] | None = None) -> list[Builder]:
    """The builders that make any of `ops` (all of them for None)."""
    return [b for b in BUILDERS if ops is None or b.ops & ops]


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
    return inputs, [x, *outputs]


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


#: how many times a seed regrows its model when the converter quantized a tensor degenerately
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
        problem = _degenerate(data)
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
    g = Grower(rng, fuzz_builders(ops), fixed_batch=bool(rng.random() < 0.5))
    float_io = (ops is None or bool({"QUANTIZE", "DEQUANTIZE"} & ops)) and g.chance(0.3)
    per_tensor = g.chance(0.2)

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
