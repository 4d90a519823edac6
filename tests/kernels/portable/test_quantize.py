"""QUANTIZE (float32 -> int8 or int16, and between uint8, int8 and int16) and DEQUANTIZE (to float32) against
TFLite Micro."""

from __future__ import annotations

import numpy as np
import pytest
from int16_models import convert_uint8_io, quantize_chain
from keras_models import convert
from support import assert_bit_exact, compile_host, host_outputs, tflm_outputs

from tinyml.frontend.tflite import load_model
from tinyml.ir.graph import Operator, Quantization, Tensor
from tinyml.ir.types import INT8
from tinyml.ops import Unsupported
from tinyml.passes import check_op, optimize


def op_types(path) -> list[str]:
    return [op.type for op in optimize(load_model(path)).ops]


def assert_bit_exact_on(model, work, inputs: list[np.ndarray]) -> None:
    """Like assert_bit_exact, on chosen inputs, comparing raw bytes (so float -0.0 differs from 0.0)."""
    app, _ = compile_host(model, work / "project")
    ref = tflm_outputs(model, inputs)
    got = host_outputs(app, inputs, ref)
    for k, (g, r) in enumerate(zip(got, ref, strict=True)):
        bad = np.flatnonzero(g.reshape(-1).view(np.uint8) != r.reshape(-1).view(np.uint8))
        assert bad.size == 0, f"output {k}: {bad.size} bytes differ, first at byte {bad[0]}"


def test_float_io_conv(tmp_path):
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((9, 9, 3)), tf.keras.layers.Conv2D(5, 3, activation="relu")])

    path = convert(build, [(9, 9, 3)], tmp_path / "m.tflite", float_io=True)
    assert op_types(path) == ["QUANTIZE", "CONV_2D", "DEQUANTIZE"]
    assert_bit_exact(path, tmp_path)


def test_float_io_dense(tmp_path):
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((23,)), tf.keras.layers.Dense(7)])

    path = convert(build, [(23,)], tmp_path / "m.tflite", float_io=True)
    assert op_types(path) == ["QUANTIZE", "FULLY_CONNECTED", "DEQUANTIZE"]
    assert_bit_exact(path, tmp_path)


def test_float_io_two_inputs(tmp_path):
    """Two float inputs, each with its own QUANTIZE, meeting in an ADD."""
    import tensorflow as tf

    def build():
        a, b = tf.keras.Input((6, 5, 4)), tf.keras.Input((6, 5, 4))
        return tf.keras.Model([a, b], tf.keras.layers.Add()([a, b * 2.0]))

    path = convert(build, [(6, 5, 4)] * 2, tmp_path / "m.tflite", float_io=True)
    assert op_types(path).count("QUANTIZE") == 2
    assert_bit_exact(path, tmp_path)


def _quantize_dequantize_model(path):
    """A float-I/O reshape: once the reshape is a view, only QUANTIZE and DEQUANTIZE do work."""
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((24, 32)), tf.keras.layers.Reshape((768,))])

    path = convert(build, [(24, 32)], path, float_io=True)
    assert op_types(path) == ["QUANTIZE", "RESHAPE", "DEQUANTIZE"]
    return path


def test_quantize_dequantize_pair(tmp_path):
    assert_bit_exact(_quantize_dequantize_model(tmp_path / "m.tflite"), tmp_path)


def test_quantize_rounding_corners(tmp_path):
    """Inputs at and next to every rounding tie x / scale = k + 1/2, zeros, and far out of range."""
    path = _quantize_dequantize_model(tmp_path / "m.tflite")
    quant = optimize(load_model(path)).ops[0].outputs[0].quant
    assert quant is not None
    scale = np.float32(quant.scale)
    ties = ((np.arange(-140, 140) + np.float32(0.5)) * scale).astype(np.float32)
    up = np.nextafter(ties, np.float32(np.inf))
    down = np.nextafter(ties, np.float32(-np.inf))
    extra = np.array([0.0, -0.0, 1e-30, -1e-30, 1e6, -1e6, 3.0e7, -3.0e7], dtype=np.float32)
    values = np.concatenate([ties, up, down, extra])
    values = np.resize(values, 768).reshape(1, 24, 32)
    assert_bit_exact_on(path, tmp_path, [values])


def test_dequantize_quantize_chain(tmp_path):
    """Fake-quant layers make an int8 model that dequantizes and requantizes through float tensors.

    Every int8 value is fed through both kinds of op.
    """
    import tensorflow as tf

    def fake_quant(lo, hi):
        return tf.keras.layers.Lambda(lambda t: tf.quantization.fake_quant_with_min_max_args(t, lo, hi))

    def build():
        x = tf.keras.Input((16, 16))
        return tf.keras.Model(x, fake_quant(-3.0, 5.0)(fake_quant(-1.0, 1.0)(x)))

    path = convert(build, [(16, 16)], tmp_path / "m.tflite")
    assert op_types(path) == ["DEQUANTIZE", "QUANTIZE", "DEQUANTIZE", "QUANTIZE"]
    every_int8 = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16)
    assert_bit_exact_on(path, tmp_path, [every_int8])


@pytest.mark.parametrize("case", ["times3", "third", "offset"])
def test_requantize(case, tmp_path):
    """int8 -> int8 QUANTIZE: one tensor feeding two concatenations that need different scales.

    The multiplier in_scale / out_scale is about 3 (saturating) for "times3",
    1/3 for "third", and about 0.37 on a conv output with a non-zero zero
    point for "offset".
    """
    import tensorflow as tf

    layers = tf.keras.layers

    def build():
        a, b = tf.keras.Input((4, 4, 3)), tf.keras.Input((4, 4, 3))
        if case == "offset":
            x = layers.Conv2D(3, 1)(a)
            return tf.keras.Model([a, b], [layers.Concatenate()([x, b]), layers.Concatenate()([x, b * 4.0])])
        wide, narrow = layers.Concatenate()([a, b * 3.0]), layers.Concatenate()([a, b * 0.1])
        return tf.keras.Model([a, b], [narrow, wide] if case == "third" else [wide, narrow])

    path = convert(build, [(4, 4, 3)] * 2, tmp_path / "m.tflite")
    requant = [op for op in optimize(load_model(path)).ops if op.type == "QUANTIZE"]
    assert len(requant) == 1 and requant[0].input(0).type == INT8
    in_q, out_q = requant[0].input(0).quant, requant[0].outputs[0].quant
    assert in_q is not None and out_q is not None
    assert (in_q.scale > out_q.scale) == (case == "times3")
    assert (in_q.zero_point != 0) == (case == "offset")
    assert_bit_exact(path, tmp_path)


def _q(name, dtype, scales=(0.05,)):
    return Tensor(name, (1, 2, 4), dtype, Quantization(scales, (0,) * len(scales), 2))


@pytest.mark.parametrize(
    "op",
    [
        Operator("QUANTIZE", [Tensor("x", (1, 2, 4), "float32")], [_q("y", "uint8")]),
        Operator("QUANTIZE", [Tensor("x", (1, 2, 4), "float16")], [_q("y", "int8")]),
        Operator("QUANTIZE", [_q("x", "int16")], [_q("y", "uint8")]),
        Operator("QUANTIZE", [_q("x", "uint8")], [_q("y", "int16")]),
        Operator("QUANTIZE", [Tensor("x", (1, 2, 4), "float32")], [_q("y", "int8", (0.1, 0.2, 0.3, 0.4))]),
        Operator("DEQUANTIZE", [_q("x", "int8", (0.1, 0.2, 0.3, 0.4))], [Tensor("y", (1, 2, 4), "float32")]),
        Operator("DEQUANTIZE", [_q("x", "int8")], [Tensor("y", (1, 2, 4), "float16")]),
    ],
    ids=[
        "to_uint8",
        "from_float16",
        "int16_to_uint8",
        "uint8_to_int16",
        "per_channel",
        "dequantize_per_channel",
        "dequantize_to_float16",
    ],
)
def test_unsupported_variants(op):
    with pytest.raises(Unsupported):
        check_op(op)


#: chains of integer QUANTIZE ops, each stage (type, scale, zero point); the int16 input takes every value
CHAINS = {
    # int16 -> int8 (narrowing, offset) -> uint8 at one scale, zero point +128 (TFLM's xor path) -> int8 at a
    # new zero point -> int16 (widening) -> int16 at a third of the scale (saturating)
    "s16_s8_u8_s8_s16_s16": [
        ("int16", 0.001, 0),
        ("int8", 0.05, 3),
        ("uint8", 0.05, 131),
        ("int8", 0.02, -5),
        ("int16", 0.0003, 0),
        ("int16", 0.0001, 0),
    ],
    # uint8 -> int8 at a new scale -> uint8 at the first scale (general paths both ways)
    "u8_s8_u8": [("uint8", 0.02, 100), ("int8", 0.03, -7), ("uint8", 0.02, 100)],
    # int16 -> int8 -> int16 at a larger scale (multiplier above 1, then below)
    "s16_s8_s16": [("int16", 1e-4, 0), ("int8", 0.004, 0), ("int16", 5e-4, 0)],
}


@pytest.mark.parametrize("chain", CHAINS)
def test_integer_requantize_chain(chain, tmp_path):
    path = quantize_chain(tmp_path / "m.tflite", (1, 8, 64), CHAINS[chain])
    assert op_types(path) == ["QUANTIZE"] * (len(CHAINS[chain]) - 1)
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("kind", ["int16", "uint8"])
def test_dequantize_every_value(kind, tmp_path):
    """Every int16 (or uint8) value, at an offset zero point for uint8, through DEQUANTIZE."""
    stage = ("int16", 3.1e-5, 0) if kind == "int16" else ("uint8", 0.0371, 117)
    path = quantize_chain(tmp_path / "m.tflite", (1, 256, 256), [stage, ("float32", 0, 0)])
    assert op_types(path) == ["DEQUANTIZE"]
    values = np.arange(-32768, 32768) if kind == "int16" else np.resize(np.arange(256), 65536)
    assert_bit_exact_on(path, tmp_path, [values.astype(kind).reshape(1, 256, 256)])


def test_quantize_to_int16_rounding_corners(tmp_path):
    """float32 -> int16: every rounding tie k + 1/2 around and beyond the int16 range, its neighbours, zeros,
    NaN and values far out of range. Not beyond int32: there TFLite Micro's float-to-int cast is undefined (x86
    gives INT32_MIN, Arm saturates); tinyml saturates."""
    scale = 0.0007
    path = quantize_chain(tmp_path / "m.tflite", (1, 8, 2048), [("float32", 0, 0), ("int16", scale, 0)])
    s = np.float32(scale)
    k = np.concatenate([np.arange(-33000, -32000, 3), np.arange(-1500, 1500), np.arange(32000, 33000, 3)])
    ties = ((k + np.float32(0.5)) * s).astype(np.float32)
    up, down = np.nextafter(ties, np.float32(np.inf)), np.nextafter(ties, np.float32(-np.inf))
    extra = np.array([0.0, -0.0, 1e-30, -1e-30, 1e3, -1e3, 1e6, -1e6, np.nan], np.float32)
    values = np.resize(np.concatenate([ties, up, down, extra]), 8 * 2048).reshape(1, 8, 2048)
    assert_bit_exact_on(path, tmp_path, [values])


def test_uint8_io_model(tmp_path):
    """An int8 detector-style model fed uint8 camera bytes: QUANTIZE uint8 -> int8 at its input, int8 -> uint8
    at its output, convolutions in between."""
    import tensorflow as tf

    def build():
        layers = tf.keras.layers
        x = tf.keras.Input((12, 12, 3))
        y = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
        y = layers.Conv2D(6, 1)(y)
        return tf.keras.Model(x, layers.Reshape((36, 6))(y))

    path = convert_uint8_io(build, (12, 12, 3), tmp_path / "m.tflite")
    ops = op_types(path)
    assert ops[0] == "QUANTIZE" and ops[-1] == "QUANTIZE"
    graph = optimize(load_model(path))
    assert [t.type.name for t in (*graph.inputs, *graph.outputs)] == ["uint8", "uint8"]
    assert_bit_exact(path, tmp_path)
