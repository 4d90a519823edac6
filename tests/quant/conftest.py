"""Float models as users bring them: one small trained CNN in every format tinyml quantizes, and Keras 2 files."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SHAPE = (16, 16, 3)


@pytest.fixture(scope="session")
def float_models(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A conv/depthwise/pool/batch-norm/dense CNN trained a few steps on seeded data, saved as .keras, .h5,
    SavedModel, float .tflite and float .tflite with float16 weights; its training data as calib.npz (x, y); and
    Keras 2 (tf-keras) .h5 files."""
    import keras
    import tensorflow as tf

    d = tmp_path_factory.mktemp("float_models")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(SHAPE),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(16, 1),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4),
            keras.layers.Softmax(),
        ]
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (64, *SHAPE)).astype(np.float32)
    y = (x[..., 0].mean(axis=(1, 2)) * 8).astype(np.int64) % 4
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(d / "cnn.keras")
    model.save(d / "cnn.h5")
    model.export(str(d / "saved"), verbose=False)
    (d / "float.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    half = tf.lite.TFLiteConverter.from_keras_model(model)  # weights stored as float16, dequantized as it runs
    half.optimizations, half.target_spec.supported_types = [tf.lite.Optimize.DEFAULT], [tf.float16]
    (d / "float16.tflite").write_bytes(half.convert())
    np.savez(d / "calib.npz", x=x, y=y)
    return SimpleNamespace(dir=d, keras=model, x=x, y=y, **_keras2_files(d))


def _keras2_files(d: Path) -> dict[str, Path]:
    """Keras 2 .h5 files: TF ops applied to Keras tensors (TFOpLambda layers, which Keras 3 cannot load), and a
    layer whose operation TFLite has no builtin for (a matrix determinant)."""
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    x = tf_keras.Input((8, 8, 3))
    y = tf.nn.relu6(tf_keras.layers.Conv2D(4, 3)(x)) * 0.5
    y = tf_keras.layers.Dense(3)(tf_keras.layers.Flatten()(y))
    tf_keras.Model(x, y).save(d / "keras2.h5")
    x = tf_keras.Input((8,))
    y = tf.linalg.det(tf.reshape(tf_keras.layers.Dense(8)(x), (-1, 2, 2, 2)))
    tf_keras.Model(x, tf_keras.layers.Dense(3)(y)).save(d / "keras2_det.h5")
    np.savez(d / "calib8.npz", np.random.default_rng(1).uniform(0, 1, (16, 8, 8, 3)).astype(np.float32))
    np.savez(d / "calib_vec.npz", x=np.random.default_rng(1).uniform(0, 1, (16, 8)).astype(np.float32))
    return {"keras2": d / "keras2.h5", "keras2_det": d / "keras2_det.h5"}
