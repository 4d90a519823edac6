"""Zero-cost accuracy proxies: scores of an untrained candidate that rank candidates roughly as training would,
in a fraction of a second, to prune a population before the supernet scores it.

- synflow (Tanaka et al. 2020): the network linearised (weights replaced by their magnitudes, batch norm the
  identity, an all-ones input), the sum over parameters of |w * dR/dw| with R the sum of the logits. No data.
- NASWOT (Mellor et al. 2021): for a batch of images, each image's binary code of which ReLUs are active; the
  log-determinant of the kernel counting, for every pair of images, the units on which their codes agree.
  Networks that tell images apart already at initialisation score higher.

Both build the candidate with `build_keras` and a fixed seed, so a candidate's score is the same in every process.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from tinyml.nas.model import build_keras
from tinyml.nas.space import Arch

#: the initial weights proxies score, the same for every candidate and process
SEED = 0


@contextmanager
def _float64() -> Iterator[None]:
    """Keras layers built inside compute in float64: synflow's products of weights overflow float32 in deep nets."""
    import keras

    saved = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(saved)


def synflow(arch: Arch, channels: int, classes: int) -> float:
    """The synaptic-flow score of `arch` at initialisation (larger is better); no data needed."""
    import keras
    import tensorflow as tf

    with _float64():
        model = build_keras(arch, channels, classes, seed=SEED)
    L = keras.layers
    for layer in model.layers:
        if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D, L.Dense)):
            layer.set_weights([np.abs(w) for w in layer.get_weights()])
        elif isinstance(layer, L.BatchNormalization):  # the identity: (x - 0) / sqrt(1 - eps + eps) * 1 + 0
            n = layer.get_weights()[0].shape[0]
            layer.set_weights([np.ones(n), np.zeros(n), np.zeros(n), np.full(n, 1.0 - layer.epsilon)])
    features = keras.Model(model.inputs, model.get_layer("pool").output)
    dense = model.get_layer("classifier")
    weights = [w for layer in model.layers if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D)) for w in layer.weights]
    weights += [dense.kernel, dense.bias]
    ones = tf.ones((1, arch.resolution, arch.resolution, channels), tf.float64)
    with tf.GradientTape() as tape:
        logits = tf.matmul(features(ones, training=False), dense.kernel) + dense.bias
        total = tf.reduce_sum(logits)
    grads = tape.gradient(total, weights)
    return float(sum(tf.reduce_sum(tf.abs(w * g)) for w, g in zip(weights, grads, strict=True)))


def naswot(arch: Arch, x: np.ndarray, classes: int) -> float:
    """The NASWOT score of `arch` at initialisation on the images `x` (n, h, w, c), resized to the candidate's
    resolution when needed: log |det K| of the ReLU-code agreement kernel (larger is better)."""
    import keras
    import tensorflow as tf

    model = build_keras(arch, int(x.shape[-1]), classes, seed=SEED)
    relus = [layer.output for layer in model.layers if isinstance(layer, keras.layers.ReLU)]
    probe = keras.Model(model.inputs, relus)
    images = tf.convert_to_tensor(x, tf.float32)
    if x.shape[1] != arch.resolution or x.shape[2] != arch.resolution:
        images = tf.image.resize(images, (arch.resolution, arch.resolution), antialias=True)
    outputs = probe(images, training=True)  # batch norm on the batch's statistics, as the network trains
    codes = np.concatenate([(np.asarray(o) > 0).reshape(len(x), -1) for o in outputs], axis=1).astype(np.float64)
    kernel = codes @ codes.T + (1 - codes) @ (1 - codes).T
    sign, logdet = np.linalg.slogdet(kernel)
    return float(logdet) if sign > 0 else float("-inf")


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation of two scorings of the same candidates (tied values share their mean rank);
    0 when either scoring is constant, as it ranks nothing."""
    from scipy.stats import spearmanr

    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"spearman needs two scorings of the same 2+ candidates, got {len(a)} and {len(b)} values")
    if np.ptp(np.asarray(a, float)) == 0 or np.ptp(np.asarray(b, float)) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)
