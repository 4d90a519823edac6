"""Keras models whose int8 conversion has BATCH_MATMUL (tf.matmul) and TRANSPOSE_CONV (Conv2DTranspose) ops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from keras_models import convert


def matmul_model(
    shapes: list[tuple[int, ...]],
    path: Path,
    transpose_a: bool = False,
    transpose_b: bool = False,
    const: tuple[str, tuple[int, ...]] | None = None,
) -> Path:
    """tf.matmul of two inputs of `shapes` (batch excluded), or of the one input and a constant: `const` is
    ("rhs", shape) or ("lhs", shape)."""
    import tensorflow as tf

    kw = {"transpose_a": transpose_a, "transpose_b": transpose_b}
    if const is None:

        def build():  # type: ignore[no-untyped-def]
            a, b = tf.keras.Input(shapes[0]), tf.keras.Input(shapes[1])
            return tf.keras.Model([a, b], tf.keras.layers.Lambda(lambda t: tf.matmul(t[0], t[1], **kw))([a, b]))

        return convert(build, list(shapes), path)
    side, shape = const
    c = tf.constant(np.random.default_rng(3).uniform(-1, 1, shape).astype(np.float32))

    def build_const():  # type: ignore[no-untyped-def]
        a = tf.keras.Input(shapes[0])
        fn = (lambda t: tf.matmul(t, c, **kw)) if side == "rhs" else (lambda t: tf.matmul(c, t, **kw))
        return tf.keras.Model(a, tf.keras.layers.Lambda(fn)(a))

    return convert(build_const, [shapes[0]], path)


def upsample_matmul_model(path: Path) -> Path:
    """Conv2DTranspose (stride 2, bias, fused relu), its Gram matrix (two activations, adj_y) and a product with
    a constant matrix: TRANSPOSE_CONV -> BATCH_MATMUL -> BATCH_MATMUL."""
    import tensorflow as tf

    weights = tf.constant(np.random.default_rng(5).uniform(-1, 1, (1, 8, 8, 3)).astype(np.float32))

    def build():  # type: ignore[no-untyped-def]
        x = tf.keras.Input((4, 4, 3))
        y = tf.keras.layers.Conv2DTranspose(
            4, 3, strides=2, padding="same", activation="relu", bias_initializer="random_normal"
        )(x)
        gram = tf.keras.layers.Lambda(lambda t: tf.matmul(t, t, transpose_b=True))(y)
        return tf.keras.Model(x, tf.keras.layers.Lambda(lambda t: tf.matmul(t, weights))(gram))

    return convert(build, [(4, 4, 3)], path)
