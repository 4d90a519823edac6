"""The oracle itself: TFLite Micro runs models whose activations far outweigh their weights (its Python package's
default arena, ten times the file, holds too little for them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from keras_models import convert

from tinyml.reference.tflm import tflm_arena_bytes, tflm_outputs


def _wide() -> object:
    """Two tiny convolutions over a 96x96x8 map: a few hundred bytes of weights, over 140 KB of activations."""
    import tensorflow as tf

    x = inp = tf.keras.Input((96, 96, 8))
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = tf.keras.layers.Conv2D(8, 3, padding="same")(x)
    return tf.keras.Model(inp, x)


def test_models_with_large_activations_run(tmp_path: Path) -> None:
    model = convert(_wide, [(96, 96, 8)], tmp_path / "wide.tflite")
    assert tflm_arena_bytes(model) > 10 * model.stat().st_size
    x = np.random.default_rng(0).integers(-128, 128, (1, 96, 96, 8), dtype=np.int8)
    (out,) = tflm_outputs(model, [x])
    assert out.shape == (1, 96, 96, 8) and len(np.unique(out)) > 1
