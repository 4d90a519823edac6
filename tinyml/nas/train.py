"""Training a candidate on the user's images, on a CPU, the same way in every process.

The recipe is the plain one small image classifiers train well with: SGD with Nesterov momentum, a cosine
learning-rate decay to zero, decoupled weight decay, optional label smoothing, and random crops (zero padding
of an eighth of the image) with horizontal flips, drawn in NumPy from the recipe's seed. Batches are fed from
NumPy to one traced training step, so a data set the size of CIFAR-10 is never copied per epoch, and the same
seed gives the same weights, and accuracy, in another process (a worker or a Ray task).

Models are Keras 3, imported as `keras` and never as `tf.keras`: tensorflow-model-optimization (QAT) sets
TF_USE_LEGACY_KERAS, after which `tf.keras` is tf-keras in that process and in every process it starts (the
search's workers), and a model saved there would not load in Keras 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.errors import InputDataError
from tinyml.nas.data import Labelled, resized

#: samples per batch when only predicting
EVAL_BATCH = 256


@dataclass(frozen=True)
class Recipe:
    """How to train: every choice that changes the result, so a log can record it."""

    epochs: int = 10
    batch_size: int = 64
    #: the peak learning rate, decayed to zero over the run (cosine)
    lr: float = 0.05
    seed: int = 0
    #: random crops and horizontal flips
    augment: bool = True
    momentum: float = 0.9
    #: decoupled weight decay, per unit of learning rate
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and TensorFlow's global generators (initial weights, dropout), from one seed."""
    import keras

    keras.utils.set_random_seed(seed)


def augment_batch(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`x` (n, h, w, c) randomly shifted by up to an eighth of its size (the uncovered border zero, as a
    zero-padded random crop) and flipped left-right with probability 1/2."""
    n, h, w, _ = x.shape
    pad = max(1, h // 8)
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dy = rng.integers(0, 2 * pad + 1, n)
    dx = rng.integers(0, 2 * pad + 1, n)
    flip = rng.random(n) < 0.5
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    cols = np.where(flip[:, None], cols[:, ::-1], cols)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's batches of sample indices, shuffled; a last partial batch is dropped unless it is the only
    one (batch statistics from a handful of samples hurt more than the samples help)."""
    order = rng.permutation(n)
    if n <= batch_size:
        return [order]
    return [order[i : i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def to_resolution(model: Any, data: Labelled) -> Labelled:
    """`data` at the model's input resolution."""
    size = int(model.inputs[0].shape[1])
    return resized(data, size) if data.size != size else data


def train(model: Any, train: Labelled, val: Labelled | None, recipe: Recipe, progress: bool = False) -> float:
    """Train `model` (softmax outputs) on `train` with `recipe`; returns its top-1 accuracy on `val` (0 without)."""
    import keras
    import tensorflow as tf

    from tinyml.quant.progress import meter

    seed_everything(recipe.seed)
    data = to_resolution(model, train)
    rng = np.random.default_rng(recipe.seed)
    steps = recipe.epochs * len(batches(data.n, recipe.batch_size, rng))
    optimizer = make_optimizer(recipe, steps)
    loss_fn = keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
    classes = int(model.outputs[0].shape[-1])
    variables = model.trainable_variables
    optimizer.build(variables)  # its slots made now, so the step is traced once, not again after a first call
    spec = tf.TensorSpec((None, *data.x.shape[1:]), tf.float32)

    @tf.function(input_signature=[spec, tf.TensorSpec((None,), tf.int64)])
    def step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = loss_fn(tf.one_hot(y, classes), model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    loss = 0.0
    with meter(steps * min(recipe.batch_size, data.n), "training", progress) as done:
        for _ in range(recipe.epochs):
            for idx in batches(data.n, recipe.batch_size, rng):
                x = augment_batch(data.x[idx], rng) if recipe.augment else data.x[idx]
                loss = float(step(x, data.y[idx]))
                done(len(idx))
            check_finite(loss, data)
    check_finite(float(sum(np.sum(v.numpy()) for v in variables)), data)
    recalibrate(model, data, recipe.seed)
    return accuracy(model, val) if val is not None else 0.0


def recalibrate(model: Any, data: Labelled, seed: int, samples: int = 1024) -> None:
    """Set every batch norm's statistics to their mean over up to `samples` training images (in batches of
    EVAL_BATCH, not augmented). Moving averages lag far behind the weights in a short run, and a model evaluated
    with them looks like chance; the exact averages cost one pass over a few batches."""
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in norms]
    order = np.random.default_rng(seed).permutation(data.n)[:samples]
    try:
        for i, start in enumerate(range(0, len(order), EVAL_BATCH)):
            for layer in norms:
                layer.momentum = i / (i + 1)  # a running mean: the first batch replaces, the i-th weighs 1/(i+1)
            model(data.x[np.sort(order[start : start + EVAL_BATCH])], training=True)
    finally:
        for layer, momentum in zip(norms, saved, strict=True):
            layer.momentum = momentum


def make_optimizer(recipe: Recipe, steps: int) -> Any:
    """SGD with Nesterov momentum and weight decay, its learning rate decayed to zero over `steps` (cosine)."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(recipe.lr, max(1, steps))
    return keras.optimizers.SGD(
        schedule, momentum=recipe.momentum, nesterov=True, weight_decay=recipe.weight_decay or None
    )


def check_finite(loss: float, data: Labelled) -> None:
    """A diverged run is the recipe's fault, not a bug: say so rather than carry NaN weights on."""
    if not math.isfinite(loss):
        raise InputDataError(
            f"{data.path}: training diverged (the loss became {loss})", "lower the learning rate of the search"
        )


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    """The model's outputs for `x`, in batches."""
    outs = [np.asarray(model(x[i : i + EVAL_BATCH], training=False)) for i in range(0, len(x), EVAL_BATCH)]
    return np.concatenate(outs)


def accuracy(model: Any, data: Labelled) -> float:
    """Top-1 accuracy of `model` on `data` (resized to the model's resolution when needed)."""
    data = to_resolution(model, data)
    return float(np.mean(predict(model, data.x).argmax(axis=1) == data.y))
