"""TANH and RSQRT (int8, by table lookup) against TFLite Micro; EXP (float-only in TFLM) refused."""

from __future__ import annotations

import pytest
from keras_models import convert, convert_16x8
from support import assert_bit_exact

from tinyml.frontend.tflite import load_model
from tinyml.ops import Unsupported
from tinyml.passes import check_op, optimize


def lambda_model(fn, shape):
    """A Keras model applying a TensorFlow function to one input (through a Lambda layer)."""
    import tensorflow as tf

    def build():
        x = tf.keras.Input(shape)
        return tf.keras.Model(x, tf.keras.layers.Lambda(fn)(x))

    return build


def op_types(path) -> list[str]:
    return [op.type for op in optimize(load_model(path)).ops]


@pytest.mark.parametrize("shape", [(8, 8, 16), (7, 5, 3), (13,)], ids=["4d", "odd", "1d"])
@pytest.mark.parametrize("gain", [1.0, 6.0], ids=["unit", "wide"])
def test_tanh(shape, gain, tmp_path):
    """tanh of a scaled input: a wide input range saturates most values at the radius, a narrow one few."""
    import tensorflow as tf

    path = convert(lambda_model(lambda a: tf.tanh(a * gain), shape), [shape], tmp_path / "m.tflite")
    assert op_types(path)[-1] == "TANH"
    assert_bit_exact(path, tmp_path)


def test_tanh_float_io(tmp_path):
    """With float inputs and outputs the converter wraps TANH in QUANTIZE / DEQUANTIZE."""
    import tensorflow as tf

    path = convert(lambda_model(tf.tanh, (6, 6, 4)), [(6, 6, 4)], tmp_path / "m.tflite", float_io=True)
    assert op_types(path) == ["QUANTIZE", "TANH", "DEQUANTIZE"]
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("offset", [0.05, 3.0], ids=["near_zero", "offset"])
def test_rsqrt(offset, tmp_path):
    """rsqrt of a non-negative value (TFLM refuses negative ones): near zero the output saturates at 127."""
    import tensorflow as tf

    path = convert(lambda_model(lambda a: tf.math.rsqrt(a * a + offset), (5, 7, 3)), [(5, 7, 3)], tmp_path / "m.tflite")
    assert op_types(path)[-1] == "RSQRT"
    assert_bit_exact(path, tmp_path)


def test_exp_refused(tmp_path):
    """TFLM's EXP runs float32 only, so the converter's int8 EXP has no TFLM result to match: refused by name."""
    import tensorflow as tf

    path = convert(lambda_model(tf.exp, (4, 6)), [(4, 6)], tmp_path / "m.tflite")
    (op,) = [op for op in load_model(path).ops if op.type == "EXP"]
    with pytest.raises(Unsupported, match="operator EXP is not supported"):
        check_op(op)


def test_tanh_and_rsqrt_inside_a_patch_stage(tmp_path):
    """Both are elementwise: a patch stage runs them on each tile between two convolutions."""
    import tensorflow as tf

    from tinyml.plan import PlanOptions
    from tinyml.plan.patches import PatchConfig, stage_candidates

    def build():
        x = tf.keras.Input((17, 13, 3))
        a = tf.keras.layers.Conv2D(8, 3, padding="same")(x)
        b = tf.keras.layers.Lambda(tf.tanh)(a)
        c = tf.keras.layers.Conv2D(8, 3, padding="same")(b)
        d = tf.keras.layers.Lambda(lambda t: tf.math.rsqrt(t * t + 0.5))(c)
        e = tf.keras.layers.Conv2D(4, 3, strides=2)(d)
        return tf.keras.Model(x, tf.keras.layers.Flatten()(e))

    path = convert(build, [(17, 13, 3)], tmp_path / "m.tflite")
    graph = optimize(load_model(path))
    split = max(stage_candidates(graph))
    assert {"TANH", "RSQRT"} <= {op.type for op in graph.ops[:split]}
    assert_bit_exact(path, tmp_path, options=PlanOptions(patches=PatchConfig(split, 3, 2)))


@pytest.mark.parametrize("bound", [0.5, 6.0, 40.0], ids=["narrow", "wide", "saturating"])
def test_tanh_int16(bound, tmp_path):
    """int16 TANH (16x8 mode): interpolation in the sigmoid table; a 40-wide input saturates beyond 10.7."""
    import tensorflow as tf

    path = convert_16x8(tf.tanh, (5, 60), tmp_path / "m.tflite", bound)
    graph = optimize(load_model(path))
    assert [op.type for op in graph.ops] == ["TANH"] and graph.ops[0].input(0).type.name == "int16"
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("bound", [0.5, 6.0, 40.0], ids=["narrow", "wide", "saturating"])
def test_logistic_int16(bound, tmp_path):
    """int16 LOGISTIC runs the same kernel as int16 TANH, at half the table resolution."""
    import tensorflow as tf

    path = convert_16x8(tf.sigmoid, (5, 60), tmp_path / "m.tflite", bound)
    assert [op.type for op in optimize(load_model(path)).ops] == ["LOGISTIC"]
    assert_bit_exact(path, tmp_path)
