"""16x8 and integer-type-conversion models on the emulated Cortex-M7 (mps2-an500) through the CLI, against TFLite
Micro: int16 ops run CMSIS-NN's _s16 kernels where they take the variant (tests/kernels/test_cmsis_nn_s16.py), else
the portable tm_*_s16 kernels, beside CMSIS-NN's int8 ones."""

from __future__ import annotations

import pytest
from int16_models import convert16, convert_uint8_io, quantize_chain, small_16x8_cnn
from support import assert_runs_bit_exact, suite_cache

from tinyml.errors import ToolchainError
from tinyml.target.packs import find_cmsis


def _find():  # type: ignore[no-untyped-def]
    try:
        return find_cmsis()
    except ToolchainError as e:
        return None, e.message


CMSIS, WHERE = _find()


@pytest.mark.skipif(CMSIS is None, reason=f"CMSIS-NN not found (looked for {WHERE})")
def test_int16_models_on_cortex_m7(tmp_path, tmp_path_factory, monkeypatch):
    """A 16x8 CNN with float I/O, an int16-I/O model (conv, depthwise, pool, broadcast MUL, dense), a uint8-I/O
    model and a requantize chain; CMSIS-NN is built in the run's cache (in this process too)."""
    cache = suite_cache(tmp_path_factory)
    monkeypatch.setenv("TINYML_CACHE", str(cache))
    import tensorflow as tf

    layers = tf.keras.layers

    def int16_io():
        a, b = tf.keras.Input((6, 6, 4)), tf.keras.Input((1, 1, 4))
        y = layers.Conv2D(6, 3, strides=2, padding="same", activation="relu6")(a)
        y = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(y)
        y = layers.AveragePooling2D(3, strides=1, padding="same")(y)
        y = layers.Multiply()([y, layers.Conv2D(12, 1)(b)])
        return tf.keras.Model([a, b], layers.Dense(7, activation="relu")(layers.Flatten()(y)))

    def uint8_io():
        x = tf.keras.Input((10, 10, 3))
        return tf.keras.Model(x, layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x))

    chain = [("int16", 0.001, 0), ("int8", 0.05, 3), ("uint8", 0.05, 131), ("int8", 0.02, -5), ("int16", 3e-4, 0)]
    models = {
        "cnn_float_io": small_16x8_cnn(tmp_path / "cnn.tflite"),
        "int16_io": convert16(int16_io, [(6, 6, 4), (1, 1, 4)], tmp_path / "int16_io.tflite"),
        "uint8_io": convert_uint8_io(uint8_io, (10, 10, 3), tmp_path / "uint8_io.tflite"),
        "chain": quantize_chain(tmp_path / "chain.tflite", (1, 4, 50), chain),
    }
    assert_runs_bit_exact("mps2-an500", models, tmp_path, cache, CMSIS)
