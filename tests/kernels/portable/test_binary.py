"""MAXIMUM, MINIMUM, SUB and SQUARED_DIFFERENCE (broadcasting, constants, fused activations, scales) against
TFLite Micro, and through a patch stage."""

from __future__ import annotations

import numpy as np
import pytest
from keras_models import convert
from support import assert_bit_exact

from tinyml.frontend.tflite import load_model
from tinyml.passes import optimize
from tinyml.plan import PlanOptions
from tinyml.plan.patches import PatchConfig, stage_candidates

#: name: (input 1 shape, input 2 shape), batch excluded
SHAPES = {
    "equal": ((8, 8, 16), (8, 8, 16)),
    "odd_equal": ((7, 5, 3), (7, 5, 3)),
    "channel_vector": ((8, 8, 16), (1, 1, 16)),
    "row_scalars": ((8, 8, 16), (8, 1, 1)),
    "first_broadcast": ((1, 1, 5), (6, 4, 5)),
    "both_broadcast": ((6, 1, 16), (1, 7, 1)),
    "per_pixel": ((5, 6, 3), (5, 6, 1)),
    "rank2": ((9, 12), (1, 12)),
    "rank5": ((2, 3, 4, 5), (1, 3, 1, 5)),
}


def ops_of(path) -> list[tuple[str, str]]:
    """(type, fused activation) of each op after optimisation: what the test really exercises."""
    return [(op.type, getattr(op.attrs, "activation", "")) for op in optimize(load_model(path)).ops]


def layer(fn):
    """`fn` of the Keras tensors, as a layer (TensorFlow functions do not take Keras tensors directly)."""
    import tensorflow as tf

    return tf.keras.layers.Lambda(lambda t: fn(*t) if isinstance(t, list | tuple) else fn(t))


def two_inputs(fn, shape1, shape2, path, **kw):
    """A model computing fn(a, b) of two inputs, converted to int8."""
    import tensorflow as tf

    def build():
        a, b = tf.keras.Input(shape1), tf.keras.Input(shape2)
        return tf.keras.Model([a, b], layer(fn)([a, b]))

    return convert(build, [shape1, shape2], path, **kw)


def one_input(fn, shape, path, **kw):
    import tensorflow as tf

    def build():
        a = tf.keras.Input(shape)
        return tf.keras.Model(a, fn(a))

    return convert(build, [shape], path, **kw)


def _tf(name):
    import tensorflow as tf

    return {
        "MAXIMUM": tf.maximum,
        "MINIMUM": tf.minimum,
        "SUB": tf.subtract,
        "SQUARED_DIFFERENCE": tf.math.squared_difference,
    }[name]


@pytest.mark.parametrize("op", ["MAXIMUM", "MINIMUM", "SUB", "SQUARED_DIFFERENCE"])
def test_shapes(op, tmp_path):
    """Every broadcast case of SHAPES, one output each, in one model (one conversion and one build per op).

    The converter lowers a 5-D SQUARED_DIFFERENCE to SUB and a float SQUARE: TFLite's kernel stops at 4-D."""
    import tensorflow as tf

    fn = _tf(op)
    cases = [c for c in sorted(SHAPES) if not (op == "SQUARED_DIFFERENCE" and c == "rank5")]
    shapes = [s for case in cases for s in SHAPES[case]]

    def build():
        inputs = [tf.keras.Input(s) for s in shapes]
        pairs = zip(inputs[::2], inputs[1::2], strict=True)
        return tf.keras.Model(inputs, [layer(fn)([a, b]) for a, b in pairs])

    path = convert(build, shapes, tmp_path / "m.tflite")
    assert [t for t, _ in ops_of(path)] == [op] * len(cases)
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("act", ["RELU", "RELU6", "RELU_N1_TO_1"])
def test_sub_fused_activation(act, tmp_path):
    import tensorflow as tf

    clamp = {
        "RELU": tf.nn.relu,
        "RELU6": tf.nn.relu6,
        "RELU_N1_TO_1": lambda t: tf.clip_by_value(t, -1.0, 1.0),
    }[act]
    path = two_inputs(lambda a, b: clamp(a - b), (6, 5, 8), (6, 5, 8), tmp_path / "m.tflite")
    assert ops_of(path) == [("SUB", act)]
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("op", ["SUB", "SQUARED_DIFFERENCE"])
@pytest.mark.parametrize("gain", [20.0, 0.03])
def test_unequal_scales(op, gain, tmp_path):
    """Operands on very different scales: the input multipliers differ widely, and SQUARED_DIFFERENCE's output
    multiplier goes above 1 or far below."""
    fn = _tf(op)
    path = two_inputs(lambda a, b: fn(a * gain, b), (4, 4, 8), (4, 4, 8), tmp_path / "m.tflite")
    assert [t for t, _ in ops_of(path)] == ["MUL", op]
    assert_bit_exact(path, tmp_path, seeds=range(5))


@pytest.mark.parametrize("op", ["MAXIMUM", "MINIMUM", "SUB", "SQUARED_DIFFERENCE"])
def test_constant_operands(op, tmp_path):
    """A per-channel constant second and a scalar constant first: operands in flash, broadcast either way."""
    import tensorflow as tf

    fn = _tf(op)
    vector = tf.constant(np.linspace(-1.0, 1.2, 6).astype(np.float32))
    path = one_input(layer(lambda a: fn(0.4, fn(a, vector))), (5, 5, 6), tmp_path / "m.tflite")
    graph = optimize(load_model(path))
    assert [o.type for o in graph.ops] == [op, op]
    assert {t.shape for o in graph.ops for t in o.inputs if t.is_const} >= {(6,)}
    assert_bit_exact(path, tmp_path)


def test_ops_chained_in_place_and_through_a_patch_stage(tmp_path):
    """conv -> SUB of a constant -> MAXIMUM with the conv -> SQUARED_DIFFERENCE -> MINIMUM, then a pool: every
    op in a 3x2 patch stage, and layer by layer in place."""
    import tensorflow as tf

    L = tf.keras.layers
    shift = tf.constant(np.random.default_rng(3).uniform(-1, 1, (1, 9, 1, 4)).astype(np.float32))

    def build():
        x = tf.keras.Input((9, 7, 3))
        c = L.Conv2D(4, 3, padding="same")(x)
        d = layer(lambda t: t - shift)(c)
        m = layer(tf.maximum)([d, c])
        s = layer(tf.math.squared_difference)([m, d])
        y = layer(lambda t: tf.minimum(t, 0.8))(s)
        return tf.keras.Model(x, L.Conv2D(2, 3, strides=2)(y))

    path = convert(build, [(9, 7, 3)], tmp_path / "m.tflite")
    graph = optimize(load_model(path))
    assert [op.type for op in graph.ops] == ["CONV_2D", "SUB", "MAXIMUM", "SQUARED_DIFFERENCE", "MINIMUM", "CONV_2D"]
    split = max(stage_candidates(graph))
    assert split == 5
    planned = assert_bit_exact(path, tmp_path / "patched", options=PlanOptions(patches=PatchConfig(split, 3, 2)))
    assert planned.patches is not None
    planned = assert_bit_exact(path, tmp_path / "flat", options=PlanOptions(prefer="memory", patches="off"))
    assert planned.plan.in_place
