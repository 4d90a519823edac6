"""PRELU (alpha per channel, per pixel, per column), LEAKY_RELU (small, large and negative slopes) and HARD_SWISH
against TFLite Micro, in place and through a patch stage."""

from __future__ import annotations

import pytest
from keras_models import convert
from support import assert_bit_exact

from tinyml.frontend.tflite import load_model
from tinyml.passes import optimize
from tinyml.plan import PlanOptions
from tinyml.plan.patches import PatchConfig, stage_candidates


def op_types(path) -> list[str]:
    return [op.type for op in optimize(load_model(path)).ops]


def _prelu(shared_axes, low=-0.5, high=1.5):
    """A PReLU with alphas drawn from [low, high] (negative and above 1 included), shared along `shared_axes`."""
    import tensorflow as tf

    init = tf.keras.initializers.RandomUniform(low, high, seed=1)
    return tf.keras.layers.PReLU(alpha_initializer=init, shared_axes=shared_axes)


@pytest.mark.parametrize(
    "shared_axes", [[1, 2], None, [1], [2]], ids=["per_channel", "per_element", "per_column", "per_row"]
)
def test_prelu_alpha_shapes(shared_axes, tmp_path):
    """After a conv (the input's zero point is not 0) and on the model input, alpha broadcast as Keras shares it."""
    import tensorflow as tf

    def build():
        x = tf.keras.Input((6, 5, 4))
        c = tf.keras.layers.Conv2D(4, 3, padding="same")(x)
        return tf.keras.Model(x, [_prelu(shared_axes)(c), _prelu(shared_axes, -2.0, 0.5)(x)])

    path = convert(build, [(6, 5, 4)], tmp_path / "m.tflite")
    graph = optimize(load_model(path))
    assert [op.type for op in graph.ops] == ["CONV_2D", "PRELU", "PRELU"]
    assert all(op.input(1).is_const for op in graph.ops[1:])
    assert_bit_exact(path, tmp_path, seeds=range(4))


def test_prelu_on_a_vector(tmp_path):
    """Rank 2, after a dense layer."""
    import tensorflow as tf

    def build():
        x = tf.keras.Input((12,))
        return tf.keras.Model(x, _prelu(None)(tf.keras.layers.Dense(10)(x)))

    path = convert(build, [(12,)], tmp_path / "m.tflite")
    assert op_types(path) == ["FULLY_CONNECTED", "PRELU"]
    assert_bit_exact(path, tmp_path, seeds=range(4))


@pytest.mark.parametrize("alpha", [0.01, 0.2, 1.5, -0.3])
def test_leaky_relu_slopes(alpha, tmp_path):
    """On the input and after a conv; the slope's multiplier is applied to |x| and its sign after, when negative."""
    import tensorflow as tf

    leaky = tf.keras.layers.Lambda(lambda t: tf.nn.leaky_relu(t, alpha=alpha))

    def build():
        x = tf.keras.Input((7, 5, 3))
        return tf.keras.Model(x, [leaky(x), leaky(tf.keras.layers.Conv2D(5, 3)(x))])

    path = convert(build, [(7, 5, 3)], tmp_path / "m.tflite")
    assert sorted(op_types(path)) == ["CONV_2D", "LEAKY_RELU", "LEAKY_RELU"]
    assert_bit_exact(path, tmp_path, seeds=range(4))


@pytest.mark.parametrize("float_io", [False, True], ids=["int8_io", "float_io"])
def test_hard_swish(float_io, tmp_path):
    """Keras' hard_swish on the input, after a conv (wider ranges) and on a vector after a dense layer."""
    import tensorflow as tf

    L = tf.keras.layers

    def build():
        x = tf.keras.Input((7, 6, 3))
        c = L.Conv2D(8, 3, padding="same")(x)
        v = L.Dense(9)(L.Flatten()(x))
        return tf.keras.Model(x, [L.Activation("hard_swish")(t) for t in (x, c, v)])

    path = convert(build, [(7, 6, 3)], tmp_path / "m.tflite", float_io=float_io)
    types = op_types(path)
    assert types.count("HARD_SWISH") == 3 and "MUL" not in types
    assert_bit_exact(path, tmp_path, seeds=range(4))


def test_hard_swish_written_out(tmp_path):
    """x * relu6(x + 3) / 6 spelled out: the converter fuses it into HARD_SWISH."""
    import tensorflow as tf

    fn = tf.keras.layers.Lambda(lambda t: t * tf.nn.relu6(t + 3.0) / 6.0)
    path = convert(lambda: tf.keras.Model(x := tf.keras.Input((5, 5, 4)), fn(x)), [(5, 5, 4)], tmp_path / "m.tflite")
    assert op_types(path) == ["HARD_SWISH"]
    assert_bit_exact(path, tmp_path, seeds=range(4))


def test_activations_through_a_patch_stage_and_in_place(tmp_path):
    """conv -> PRELU (alpha per element: cut to each patch) -> conv -> LEAKY_RELU -> HARD_SWISH in a 2x3 patch
    stage, and layer by layer in place."""
    import tensorflow as tf

    L = tf.keras.layers

    def build():
        x = tf.keras.Input((10, 9, 3))
        p = _prelu(None)(L.Conv2D(6, 3, padding="same")(x))
        y = L.LeakyReLU(0.1)(L.Conv2D(6, 3, padding="same")(p))
        z = L.Activation("hard_swish")(y)
        return tf.keras.Model(x, L.Conv2D(3, 3, strides=2)(z))

    path = convert(build, [(10, 9, 3)], tmp_path / "m.tflite")
    graph = optimize(load_model(path))
    assert [op.type for op in graph.ops] == ["CONV_2D", "PRELU", "CONV_2D", "LEAKY_RELU", "HARD_SWISH", "CONV_2D"]
    split = max(stage_candidates(graph))
    assert split == 5
    planned = assert_bit_exact(path, tmp_path / "patched", options=PlanOptions(patches=PatchConfig(split, 2, 3)))
    assert planned.patches is not None
    planned = assert_bit_exact(path, tmp_path / "flat", options=PlanOptions(prefer="memory", patches="off"))
    assert {1, 3, 4} & planned.plan.in_place
