"""How much each layer's precision matters: the output disagreement when only that layer's weights, or only its
activations, go to fewer bits, measured on calibration data with fake quantization on the float model.

The float model (carried: batch norms folded, ReLUs fused, as TFLite computes it) runs once as the reference. Then
for each choice alone (one layer's weights at 4 bits, at 2 bits; its activations at 4 bits, at 2 bits) it runs
again with that one tensor fake-quantized as the converted file will hold it, and what changed is that choice's
sensitivity:

  * with labelled calibration data and a classifier (one output scoring as many classes as the labels need,
    logits or softmax): the increase of the mean cross-entropy loss, as it measures what accuracy rests on. A cut
    the data finds harmless (the loss does not grow) costs nothing;
  * else, a model ending in a softmax: the mean KL divergence KL(p_float || p_quantized) of its class
    probabilities, as ZeroQ measures sensitivity;
  * any other model: the mean squared output error, relative to the mean square of the float outputs.

Weights are quantized in NumPy on the same grids as fakequant.py's quantizers (symmetric, narrow range, per output
channel but for dense layers; 2-bit weights on the four levels −2s … s), and restored after each run. Activations
pass through a probe layer after each candidate layer, off except while its own choice is measured, that clamps
to [0, 6] and rounds to 2^b levels: the ReLU6 and grid a sub-byte activation gets. One model is built, and every
run is a `predict` of it: 4 runs per layer at most, on a few hundred samples.

The sensitivities add up to a cost per assignment, as HAWQ-V3 assumes; search.py minimises that cost under the
memory budgets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.quant.carry import Carried, Layer
from tinyml.quant.options import SUB_BYTE_RANGE
from tinyml.quant.search import ACTIVATIONS, WEIGHTS, Knob

#: samples per `predict` call
_BATCH = 64


@dataclass(frozen=True)
class Sensitivity:
    """Each choice's output disagreement with the float model, and how it was measured."""

    #: "loss" (the cross-entropy's increase), "kl" (softmax outputs) or "relative-mse"
    metric: str
    samples: int
    #: (layer, WEIGHTS or ACTIVATIONS, bits) -> the measure; 8 bits are not measured and count as 0
    values: dict[tuple[str, str, int], float]

    def cost(self, layer: str, kind: str, bits: int) -> float:
        """What this choice alone costs: its measure, 0 at 8 bits and where the loss did not grow."""
        return 0.0 if bits >= 8 else max(0.0, self.values[(layer, kind, bits)])

    def as_dict(self) -> dict[str, Any]:
        """For the metadata: per layer, "w4", "w2", "a4", "a2" -> value."""
        layers: dict[str, dict[str, float]] = {}
        for (layer, kind, bits), v in sorted(self.values.items()):
            layers.setdefault(layer, {})[f"{kind[0]}{bits}"] = float(f"{v:.6g}")
        return {"metric": self.metric, "samples": self.samples, "layers": layers}


def quantize_weights(kernel: np.ndarray, kind: str, bits: int) -> np.ndarray:
    """`kernel` of a `kind` layer (Conv2D, DepthwiseConv2D, Dense) on the grid its `bits` get (see fakequant.py)."""
    w = kernel.astype(np.float64)
    if kind == "DepthwiseConv2D":  # (kh, kw, in, multiplier): one range per output channel, in × multiplier
        w = w.reshape(*w.shape[:2], -1)
    axes = tuple(range(w.ndim - 1)) if kind != "Dense" else None
    if bits == 2:
        step = np.maximum(np.maximum(w.max(axis=axes), -w.min(axis=axes) / 2.0), 1e-8)
        low, high = -2, 1
    else:
        top = 2 ** (bits - 1) - 1
        step = np.maximum(np.abs(w).max(axis=axes) / top, 1e-8)
        low, high = -top, top
    q = np.clip(np.round(w / step), low, high) * step
    return q.reshape(kernel.shape).astype(np.float32)


def measure(
    carried: Carried,
    knobs: Sequence[Knob],
    inputs: list[np.ndarray],
    labels: np.ndarray | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> Sensitivity:
    """The sensitivity of every sub-byte choice of `knobs` on the calibration `inputs` (one (n, *shape) array per
    model input) and their `labels` when there are some; `progress(1)` after each run."""
    import tensorflow as tf
    import tf_keras

    class Probe(tf_keras.layers.Layer):
        """Off (levels 0): the identity. On: the ReLU6 output on `levels` + 1 steps, as a sub-byte activation."""

        def build(self, input_shape: Any) -> None:
            self.levels = self.add_weight(name="levels", shape=(), initializer="zeros", trainable=False)

        def call(self, x: Any) -> Any:
            step = SUB_BYTE_RANGE / tf.maximum(self.levels, 1.0)
            q = tf.round(tf.clip_by_value(x, 0.0, SUB_BYTE_RANGE) / step) * step
            return tf.where(self.levels > 0, q, x)

    probed = {k.layer for k in knobs if k.kind == ACTIVATIONS and len(k.bits) > 1}
    probes: dict[str, Any] = {}
    layers: dict[str, Any] = {}

    def wrap(tf_layer: Any, layer: Layer) -> Any:
        layers[layer.name] = tf_layer
        if layer.name not in probed:
            return tf_layer
        probe = probes[layer.name] = Probe(name=f"{layer.name}_probe")
        return lambda x: probe(tf_layer(x))

    model = carried.build(wrap=wrap)
    x = inputs[0] if len(inputs) == 1 else inputs
    softmax = _ends_in_softmax(carried)

    def run() -> list[np.ndarray]:
        out = model.predict(x, batch_size=_BATCH, verbose=0)
        return [np.asarray(o, dtype=np.float64) for o in (out if isinstance(out, list) else [out])]

    reference = run()
    metric = "kl" if softmax else "relative-mse"
    if labels is not None and _scores_classes(reference, labels):
        metric = "loss"
    values: dict[tuple[str, str, int], float] = {}
    for knob in knobs:
        for bits in knob.bits:
            if bits >= 8:
                continue
            if knob.kind == WEIGHTS:
                kind = carried.layer(knob.layer).kind
                target = getattr(layers[knob.layer], _weight_attr(kind))
                original = target.numpy()
                target.assign(quantize_weights(original, kind, bits))
                outputs = run()
                target.assign(original)
            else:
                probe = probes[knob.layer]
                probe.levels.assign(float(2**bits - 1))
                outputs = run()
                probe.levels.assign(0.0)
            values[(knob.layer, knob.kind, bits)] = (
                _loss(outputs[0], labels, softmax) - _loss(reference[0], labels, softmax)
                if metric == "loss" and labels is not None
                else _disagreement(reference, outputs, softmax)
            )
            if progress is not None:
                progress(1)
    return Sensitivity(metric, len(np.asarray(inputs[0])), values)


def runs(knobs: Sequence[Knob]) -> int:
    """How many runs `measure` makes for these knobs (for a progress bar)."""
    return sum(1 for k in knobs for b in k.bits if b < 8)


def _weight_attr(kind: str) -> str:
    from tinyml.quant.carry import WEIGHTED

    return WEIGHTED[kind]


def _ends_in_softmax(carried: Carried) -> bool:
    """Whether the model's (only) output is a softmax's: its outputs are then class probabilities."""
    if len(carried.outputs) != 1:
        return False
    last = carried.layer(carried.outputs[0])
    return last.kind == "Softmax" or (last.kind == "Activation" and last.activation == "softmax")


def _scores_classes(outputs: list[np.ndarray], labels: np.ndarray) -> bool:
    """Whether the model has one output of shape (n, classes) with a score for every label."""
    return len(outputs) == 1 and outputs[0].ndim == 2 and 2 <= int(labels.max()) + 1 <= outputs[0].shape[1]


def _loss(scores: np.ndarray, labels: np.ndarray, probabilities: bool) -> float:
    """The mean cross-entropy of class scores (probabilities, or logits) against the labels."""
    if probabilities:
        log_p = np.log(np.clip(scores, 1e-12, None))
    else:
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(labels)), labels.astype(np.int64)]))


def _disagreement(reference: list[np.ndarray], outputs: list[np.ndarray], softmax: bool) -> float:
    """KL(reference || outputs) per sample for probabilities, else the relative mean squared error; averaged."""
    if softmax:
        p, q = (np.clip(a.reshape(len(a), -1), 1e-12, None) for a in (reference[0], outputs[0]))
        return float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1)))
    total = 0.0
    for ref, out in zip(reference, outputs, strict=True):
        total += float(np.mean((out - ref) ** 2) / max(float(np.mean(ref**2)), 1e-12))
    return total / len(reference)
