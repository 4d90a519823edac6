"""A once-for-all supernet: one set of weights from which every candidate of a restricted space inherits its own.

Stage 1 fixes width and resolution, so every candidate left has the same channels per stage; what varies per
stage is the block type, the kernel size, the expansion ratio and the depth. The supernet holds, per stage and
block type, the weights of the largest choice (largest kernel, largest expansion, deepest stage); a candidate
uses the centre k x k of each kernel, the first channels of the expansion and the first `depth` blocks.

Training follows the sandwich rule (Yu et al., BigNAS / OFA): every batch trains the largest candidate, the
smallest, and two random ones, their gradients summed, so small candidates learn to work with the large ones'
weights. Batch norm uses batch statistics in training; before a candidate is evaluated its own statistics are
measured on a few batches of calibration images, as its shared weights give every candidate different ones.

The forward pass is written once, over plain tf.Variables and tf.nn ops, for one candidate at a time: training,
calibration and evaluation run it eagerly, except for the two candidates every batch trains (the largest and
the smallest), whose gradient steps are traced once each in longer runs, as they cost the most. A graph that
covers every candidate at once (switch_case and cond per stage) took minutes to trace and was abandoned.
`export` copies a candidate's weights into `build_keras`'s model (same layers, same names), ready to fine-tune
and quantize.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import InputDataError
from tinyml.nas.data import Labelled, resized
from tinyml.nas.model import build_keras
from tinyml.nas.space import Arch, SearchSpace, StageSpace, scaled_channels
from tinyml.nas.train import EVAL_BATCH, Recipe, augment_batch, batches, check_finite, seed_everything

#: Keras' batch-norm epsilon, so exported models compute what the supernet computed
EPS = 1e-3
#: images whose batch statistics set a candidate's batch norms, in batches of CALIB_BATCH
CALIB_SAMPLES = 512
CALIB_BATCH = 128
#: runs of at least this many steps trace the largest and smallest candidates' gradient steps (tracing one costs
#: about as much CPU as ten eager steps; a traced step of the largest runs about three times faster)
TRACE_STEPS = 40


@dataclass(frozen=True)
class _Choice:
    """One stage of a candidate as the forward pass reads it."""

    block: str
    kernel: int
    expand: int
    depth: int


class _Norm:
    """What batch norm does in one forward pass: normalise by the batch's statistics (training), also record them
    (calibration), or use recorded ones (evaluation)."""

    def __init__(self, mode: str, stats: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        self.mode = mode
        self.stats = stats or {}
        self.seen: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}

    def __call__(self, tf: Any, x: Any, gamma: Any, beta: Any, name: str) -> Any:
        if self.mode == "eval":
            mean, var = self.stats[name]
        else:
            mean, var = tf.nn.moments(x, axes=[0, 1, 2])
            if self.mode == "calibrate":
                self.seen.setdefault(name, []).append((mean.numpy(), var.numpy()))
        return tf.nn.batch_normalization(x, mean, var, beta, gamma, EPS)

    def averaged(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The recorded statistics, averaged over the batches."""
        return {
            k: (np.mean([m for m, _ in v], axis=0), np.mean([s for _, s in v], axis=0)) for k, v in self.seen.items()
        }


class Supernet:
    """Shared weights for every candidate of `space` (restricted to one width and one resolution)."""

    def __init__(self, space: SearchSpace, channels: int, classes: int, seed: int = 0) -> None:
        if len(space.widths) != 1 or len(space.resolutions) != 1:
            raise ValueError("a supernet covers one width and one resolution: pass space.restrict(width, resolution)")
        import tensorflow as tf

        self.space = space
        self.channels = channels
        self.classes = classes
        self.seed = seed
        self.width = float(space.widths[0])
        self.resolution = int(space.resolutions[0])
        self.stem = scaled_channels(space.stem_channels, self.width)
        self.stage_channels = [scaled_channels(s.base_channels, self.width) for s in space.stages]
        #: training images kept to calibrate candidates' batch norms (set by `fit`, saved with the weights)
        self.calib: np.ndarray | None = None
        rng = np.random.default_rng(seed)
        self.vars: dict[str, Any] = {}
        for name, shape, init in self._layout():
            if init == "zeros":
                value = np.zeros(shape, np.float32)
            elif init == "ones":
                value = np.ones(shape, np.float32)
            elif init == "dense":
                limit = np.sqrt(6.0 / (shape[0] + shape[1]))
                value = rng.uniform(-limit, limit, shape).astype(np.float32)
            else:  # He normal over the kernel's fan-in (a depthwise kernel's is k x k)
                fan_in = shape[0] * shape[1] * (1 if init == "depthwise" else shape[2])
                value = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
            self.vars[name] = tf.Variable(value, name=name.replace("/", "."))

    # --- the weights ------------------------------------------------------------------------------------------------

    def _layout(self) -> list[tuple[str, tuple[int, ...], str]]:
        """Every variable: name, shape, initialiser. Names are the Keras layers' names, prefixed by the block type
        for the stages' blocks."""
        out: list[tuple[str, tuple[int, ...], str]] = []

        def conv_bn(name: str, k: int, cin: int, cout: int) -> None:
            out.append((f"{name}_conv", (k, k, cin, cout), "conv"))
            out.extend([(f"{name}_bn/gamma", (cout,), "ones"), (f"{name}_bn/beta", (cout,), "zeros")])

        conv_bn("stem", 3, self.channels, self.stem)
        c_prev = self.stem
        for i, (s, c) in enumerate(zip(self.space.stages, self.stage_channels, strict=True)):
            k, e = max(s.kernels), max(s.expands)
            for block in s.blocks:
                for j in range(max(s.depths)):
                    cin, stride = (c_prev, s.stride) if j == 0 else (c, 1)
                    name = f"{block}/s{i}b{j}"
                    if block == "conv":
                        conv_bn(name, k, cin, c)
                    elif block == "res":
                        conv_bn(f"{name}_a", k, cin, c)
                        conv_bn(f"{name}_b", k, c, c)
                        if stride != 1 or cin != c:
                            conv_bn(f"{name}_s", 1, cin, c)
                    else:
                        mid = cin * e
                        if e > 1:
                            conv_bn(f"{name}_expand", 1, cin, mid)
                        out.append((f"{name}_dw", (k, k, mid, 1), "depthwise"))
                        out.extend([(f"{name}_dw_bn/gamma", (mid,), "ones"), (f"{name}_dw_bn/beta", (mid,), "zeros")])
                        conv_bn(f"{name}_project", 1, mid, c)
            c_prev = c
        out.extend(
            [("classifier/kernel", (c_prev, self.classes), "dense"), ("classifier/bias", (self.classes,), "zeros")]
        )
        return out

    def choices(self, arch: Arch) -> list[_Choice]:
        """`arch` as the forward pass reads it; a ValueError when it is not a candidate of this supernet's space."""
        if (arch.width, arch.resolution, arch.stem) != (self.width, self.resolution, self.stem) or len(
            arch.stages
        ) != len(self.space.stages):
            raise ValueError(f"{arch.describe()} is not in the supernet's space (w{self.width:g} r{self.resolution})")
        out = []
        for st, s, c in zip(arch.stages, self.space.stages, self.stage_channels, strict=True):
            expand = st.expand if st.block == "mb" else min(s.expands)
            if (
                st.block not in s.blocks
                or st.kernel not in s.kernels
                or expand not in s.expands
                or st.depth not in s.depths
                or st.channels != c
                or st.stride != s.stride
            ):
                raise ValueError(f"{arch.describe()} is not in the supernet's space")
            out.append(_Choice(st.block, st.kernel, expand, st.depth))
        return out

    # --- the forward pass -------------------------------------------------------------------------------------------

    def _forward(self, x: Any, choices: list[_Choice], norm: _Norm) -> Any:
        """Logits of the candidate `choices` for images `x`."""
        import tensorflow as tf

        v = self.vars

        def conv_bn(x: Any, name: str, key: str, k: Any, stride: int, relu: bool, cout: Any = None) -> Any:
            """Conv `name` (centre k x k, first `cout` filters), batch norm recorded as `key`."""
            w = v[f"{name}_conv"]
            o = (w.shape[0] - k) // 2
            w = w[o : o + k, o : o + k, :, :cout] if cout is not None else w[o : o + k, o : o + k]
            y = tf.nn.conv2d(x, w, stride, "SAME")
            gamma, beta = v[f"{name}_bn/gamma"], v[f"{name}_bn/beta"]
            if cout is not None:
                gamma, beta = gamma[:cout], beta[:cout]
            y = norm(tf, y, gamma, beta, f"{key}_bn")
            return tf.nn.relu(y) if relu else y

        def block(x: Any, s: StageSpace, i: int, j: int, kind: str, ch: _Choice, cin: int, c: int) -> Any:
            stride = s.stride if j == 0 else 1
            name, key = f"{kind}/s{i}b{j}", f"s{i}b{j}"
            if kind == "conv":
                return conv_bn(x, name, key, ch.kernel, stride, True)
            if kind == "res":
                y = conv_bn(x, f"{name}_a", f"{key}_a", ch.kernel, stride, True)
                y = conv_bn(y, f"{name}_b", f"{key}_b", ch.kernel, 1, False)
                short = x if stride == 1 and cin == c else conv_bn(x, f"{name}_s", f"{key}_s", 1, stride, False)
                return tf.nn.relu(y + short)
            mid = cin * ch.expand

            y = x
            if ch.expand > 1:  # expansion 1 has no expand convolution, as in build_keras
                y = tf.nn.conv2d(x, v[f"{name}_expand_conv"][:, :, :, :mid], 1, "SAME")
                gamma, beta = v[f"{name}_expand_bn/gamma"][:mid], v[f"{name}_expand_bn/beta"][:mid]
                y = tf.nn.relu(norm(tf, y, gamma, beta, f"{key}_expand_bn"))
            w = v[f"{name}_dw"]
            o = (w.shape[0] - ch.kernel) // 2
            y = tf.nn.depthwise_conv2d(y, w[o : o + ch.kernel, o : o + ch.kernel, :mid], [1, stride, stride, 1], "SAME")
            y = tf.nn.relu(norm(tf, y, v[f"{name}_dw_bn/gamma"][:mid], v[f"{name}_dw_bn/beta"][:mid], f"{key}_dw_bn"))
            w = v[f"{name}_project_conv"][:, :, :mid]
            y = norm(
                tf,
                tf.nn.conv2d(y, w, 1, "SAME"),
                v[f"{name}_project_bn/gamma"],
                v[f"{name}_project_bn/beta"],
                f"{key}_project_bn",
            )
            return y + x if stride == 1 and cin == c else y

        x = conv_bn(x, "stem", "stem", 3, self.space.stem_stride, True)
        c_prev = self.stem
        for i, (s, c, ch) in enumerate(zip(self.space.stages, self.stage_channels, choices, strict=True)):
            for j in range(ch.depth):
                x = block(x, s, i, j, ch.block, ch, c_prev if j == 0 else c, c)
            c_prev = c
        x = tf.reduce_mean(x, axis=[1, 2])
        return tf.matmul(x, v["classifier/kernel"]) + v["classifier/bias"]

    # --- training ---------------------------------------------------------------------------------------------------

    def sandwich(self, rng: np.random.Generator) -> list[Arch]:
        """One batch's candidates: the largest, the smallest (both of each stage's first block type) and two
        random ones."""
        largest = self.space.largest(self.width, self.resolution)
        smallest = Arch(
            self.resolution,
            self.width,
            self.stem,
            self.space.stem_stride,
            tuple(
                self.space._stage(s, self.width, s.blocks[0], min(s.kernels), min(s.expands), min(s.depths))
                for s in self.space.stages
            ),
        )
        return [largest, smallest, self.space.sample(rng), self.space.sample(rng)]

    def fit(self, train: Labelled, epochs: int, recipe: Recipe | None = None, progress: bool = False) -> None:
        """Train the shared weights on `train` for `epochs` epochs, four candidates per batch (the sandwich rule),
        with the recipe's optimiser settings, augmentation and seed. Keeps a seeded sample of the training images
        to calibrate candidates' batch norms later (saved with the weights)."""
        import tensorflow as tf

        from tinyml.quant.progress import meter

        recipe = recipe or Recipe(epochs=epochs)
        seed_everything(recipe.seed)
        data = resized(train, self.resolution)
        if data.channels != self.channels:
            raise InputDataError(
                f"{train.path}: the images have {data.channels} channels, the search's models take {self.channels}",
                "search and train on the same images",
            )
        rng = np.random.default_rng(recipe.seed)
        self.calib = data.x[np.sort(rng.permutation(data.n)[:CALIB_SAMPLES])]
        steps = epochs * len(batches(data.n, recipe.batch_size, rng))
        variables = list(self.vars.values())
        velocity = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        fixed = self.sandwich(rng)[:2]
        trace = steps >= TRACE_STEPS
        traced = {a.key: self._gradients_fn(a, recipe, data.x.shape[1:], traced=trace) for a in fixed}

        @tf.function
        def apply(grads: list[Any], lr: Any) -> None:
            """SGD with Nesterov momentum and decoupled weight decay, as train()'s Keras optimiser."""
            for var, grad, vel in zip(variables, grads, velocity, strict=True):
                vel.assign(recipe.momentum * vel + grad)
                var.assign_sub(lr * (grad + recipe.momentum * vel + recipe.weight_decay * var))

        done_steps, loss = 0, 0.0
        with meter(steps * min(recipe.batch_size, data.n), "supernet", progress) as done:
            for _ in range(epochs):
                for idx in batches(data.n, recipe.batch_size, rng):
                    x = augment_batch(data.x[idx], rng) if recipe.augment else data.x[idx]
                    y = data.y[idx]
                    total, loss = None, 0.0
                    for arch in [*fixed, *self.sandwich(rng)[2:]]:
                        fn = traced.get(arch.key) or self._gradients_fn(arch, recipe, x.shape[1:], traced=False)
                        part, grads = fn(tf.constant(x), tf.constant(y))
                        total = grads if total is None else [t + g for t, g in zip(total, grads, strict=True)]
                        loss += float(part) / 4
                    lr = 0.5 * recipe.lr * (1 + np.cos(np.pi * done_steps / max(1, steps)))
                    apply(total, tf.constant(lr, tf.float32))
                    done_steps += 1
                    done(len(idx))
                check_finite(loss, data)

    def _gradients_fn(self, arch: Arch, recipe: Recipe, shape: tuple[int, ...], traced: bool) -> Any:
        """(loss, gradients of every variable) of `arch` on one batch: a traced function, or an eager one."""
        import tensorflow as tf

        choices, variables, smoothing = self.choices(arch), list(self.vars.values()), recipe.label_smoothing

        def fn(x: Any, y: Any) -> Any:
            labels = tf.one_hot(y, self.classes) * (1 - smoothing) + smoothing / self.classes
            with tf.GradientTape() as tape:
                logits = self._forward(x, choices, _Norm("train"))
                loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels, logits))
            return loss, tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)

        if not traced:
            return fn
        signature = [tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec((None,), tf.int64)]
        return tf.function(fn, input_signature=signature)

    # --- evaluating and exporting candidates ------------------------------------------------------------------------

    def calibrate(self, arch: Arch, calib: Labelled | np.ndarray | None = None) -> dict[str, tuple[Any, Any]]:
        """`arch`'s batch-norm statistics, averaged over batches of up to CALIB_SAMPLES images of `calib` (default:
        the training images `fit` kept), keyed by the Keras layer's name."""
        x = self._images(calib) if calib is not None else self.calib
        if x is None:
            raise ValueError("calibrating a supernet that was not fitted needs calibration images")
        x = x[:CALIB_SAMPLES]
        norm = _Norm("calibrate")
        choices = self.choices(arch)
        for i in range(0, len(x), CALIB_BATCH):
            self._forward(x[i : i + CALIB_BATCH], choices, norm)
        return norm.averaged()

    def _images(self, data: Labelled | np.ndarray) -> np.ndarray:
        if isinstance(data, np.ndarray):
            return data
        return resized(data, self.resolution).x

    def logits(self, arch: Arch, x: np.ndarray, stats: dict[str, tuple[Any, Any]]) -> np.ndarray:
        """`arch`'s logits for images `x` (at the supernet's resolution), batch norms set to `stats`."""
        choices, norm = self.choices(arch), _Norm("eval", stats)
        return np.concatenate(
            [self._forward(x[i : i + EVAL_BATCH], choices, norm).numpy() for i in range(0, len(x), EVAL_BATCH)]
        )

    def accuracy(self, arch: Arch, val: Labelled, calib: Labelled | None = None) -> float:
        """Top-1 accuracy of `arch` with inherited weights on `val`, its batch norms calibrated on `calib` (default:
        the training images `fit` kept)."""
        stats = self.calibrate(arch, calib)
        return float(np.mean(self.logits(arch, self._images(val), stats).argmax(axis=1) == val.y))

    def export(self, arch: Arch, calib: Labelled | None = None) -> Any:
        """`build_keras(arch)` with `arch`'s inherited weights and calibrated batch-norm statistics."""
        import keras

        stats = self.calibrate(arch, calib)
        model = build_keras(arch, self.channels, self.classes)
        v = {k: var.numpy() for k, var in self.vars.items()}

        def source(layer_name: str) -> str:
            if layer_name.startswith("stem"):
                return layer_name
            return f"{arch.stages[int(layer_name[1 : layer_name.index('b')])].block}/{layer_name}"

        def cut(w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
            """The centre of the spatial axes and the leading channels: the candidate's share of `w`."""
            if len(shape) == 4:
                o = (w.shape[0] - shape[0]) // 2
                return w[o : o + shape[0], o : o + shape[1], : shape[2], : shape[3]]
            return w[tuple(slice(0, n) for n in shape)]

        for layer in model.layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
                (kernel,) = layer.get_weights()
                layer.set_weights([cut(v[source(layer.name)], kernel.shape)])
            elif isinstance(layer, keras.layers.BatchNormalization):
                n = layer.get_weights()[0].shape[0]
                mean, var = stats[layer.name]
                layer.set_weights(
                    [v[f"{source(layer.name)}/gamma"][:n], v[f"{source(layer.name)}/beta"][:n], mean, var]
                )
            elif isinstance(layer, keras.layers.Dense):
                layer.set_weights([v["classifier/kernel"], v["classifier/bias"]])
        return model

    # --- files ------------------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """The weights, the space and the calibration images in one .npz (written whole or not at all), for a
        worker process or a Ray task to evaluate candidates from."""
        path = Path(path)
        meta = {
            "space": self.space.to_dict(),
            "channels": self.channels,
            "classes": self.classes,
            "seed": self.seed,
        }
        arrays = {f"var:{k}": var.numpy() for k, var in self.vars.items()}
        if self.calib is not None:
            arrays["calib"] = self.calib
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path) -> Supernet:
        """A supernet `save` wrote."""
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            net = cls(SearchSpace.from_dict(meta["space"]), meta["channels"], meta["classes"], meta["seed"])
            for k, var in net.vars.items():
                var.assign(f[f"var:{k}"])
            if "calib" in f.files:
                net.calib = f["calib"]
        return net
