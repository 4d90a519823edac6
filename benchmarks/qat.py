"""Quantization-aware training against post-training quantization on CIFAR-10 (real JPEG photos).

Trains a small CNN (conv + batch norm + ReLU6 stem, depthwise-separable blocks, global pooling, dense) in float
for a few epochs, then quantizes it: int8 post-training quantization (`tinyml quantize --calib`), and
quantization-aware training (`tinyml quantize --qat`) at 8 bits, w4a8 (INT4 weights), w8a4 and w4a4 (activations
on 16 levels). Quantization-aware training trains the model further, so the float model is also trained as long
without fake quantization ("float, tuned") and quantized after training ("PTQ int8 tuned"): the baseline that
tells what training gained from what quantization cost. Each file's top-1 is measured by TFLite Micro on held-out
test photos; files tinyml compiles (int8 weights) also run as compiled C on the host, every output checked byte
for byte against TFLite Micro.
The table gives weight bytes as stored (INT4 weights take half a byte) and the wall time of each step.

The photos are read from the JPEG tars in place, and the arrays, the float model and the quantized files are kept
in the user cache (tinyml's cache folder, benchmarks/qat), so a second run only measures.

    python benchmarks/qat.py [--cifar DIR] [--train-per-class 1500] [--test 2000] [--epochs 20] [--qat-epochs 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tarfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

from tinyml import pipeline
from tinyml.errors import UnsupportedOpError
from tinyml.quant import QuantOptions
from tinyml.quant.options import QatOptions
from tinyml.resources import cache_root

REPO = Path(__file__).resolve().parent.parent
#: what each row quantizes: the float model or its tuned twin, and None for post-training int8 or the bits of
#: quantization-aware training
ROWS = {
    "PTQ int8": ("float", None),
    "PTQ int8 tuned": ("tuned", None),
    "QAT 8": ("float", (8, 8)),
    "QAT w4a8": ("float", (4, 8)),
    "QAT w8a4": ("float", (8, 4)),
    "QAT w4a4": ("float", (4, 4)),
}
#: TFLite's BuiltinOperator numbers of the ops with weights, and its INT4 TensorType
WEIGHTED_OPS, INT4 = (3, 4, 9), 17


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", type=Path, default=cifar_dir(), help="the CIFAR-10 JPEG tars (train.tar, test.tar)")
    parser.add_argument("--train-per-class", type=int, default=1500, help="training photos per class (of 5,000)")
    parser.add_argument("--test", type=int, default=2000, help="test photos, the same number per class")
    parser.add_argument("--epochs", type=int, default=20, help="float training epochs")
    parser.add_argument("--qat-epochs", type=int, default=2, help="quantization-aware training epochs")
    parser.add_argument("--learning-rate", type=float, default=2e-4, help="quantization-aware training step size")
    args = parser.parse_args()
    if not (args.cifar / "train.tar").is_file() or not (args.cifar / "test.tar").is_file():
        raise SystemExit(f"no CIFAR-10 train.tar and test.tar in {args.cifar}: pass --cifar DIR or set TINYML_CIFAR10")
    cache = cache_root() / "benchmarks" / "qat"
    cache.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    train = photos(args.cifar / "train.tar", args.train_per_class, cache / f"train-{args.train_per_class}.npz")
    test = photos(args.cifar / "test.tar", args.test // 10, cache / f"test-{args.test // 10}.npz")
    with np.load(test) as t:
        x_test, y_test = t["x"].astype(np.float32) / 255, t["y"]
    took = time.monotonic() - started
    print(f"CIFAR-10: {args.train_per_class * 10:,} training and {len(y_test):,} test photos ({took:.0f} s)")

    started = time.monotonic()
    model, float_accuracy = float_model(train, x_test, y_test, args.epochs, cache)
    rows = [("float (Keras)", float_accuracy, None, "-", time.monotonic() - started)]
    started = time.monotonic()
    tuned, tuned_accuracy = fine_tuned(model, train, x_test, y_test, args, cache)
    rows.append(("float, tuned", tuned_accuracy, None, "-", time.monotonic() - started))
    for name, (source, bits) in ROWS.items():
        started = time.monotonic()
        start = tuned if source == "tuned" else model
        path = quantized(start, train, bits, args, cache / f"{name.replace(' ', '-')}-{key(start, args)}.tflite")
        took = time.monotonic() - started
        inputs = [s.tobytes() for s in quantized_inputs(path, x_test)]
        expected = tflm_outputs(path, inputs)
        accuracy = float(np.mean([np.argmax(np.frombuffer(o, np.int8)) for o in expected] == y_test))
        rows.append((name, accuracy, weight_bytes(path.read_bytes()), host_check(path, inputs, expected), took))

    head = f"{'model':<16} {'top-1 (TFLM)':>12} {'vs float':>9} {'weight bytes':>13}  {'tinyml C on the host':<28}"
    print(f"\n{head} {'time':>7}")
    for name, accuracy, weights, host, took in rows:
        delta = f"{100 * (accuracy - float_accuracy):+.1f}" if weights is not None else ""
        size = f"{weights:,}" if weights is not None else "-"
        print(f"{name:<16} {100 * accuracy:>11.1f}% {delta:>9} {size:>13}  {host:<28} {took:>6.0f}s")
    return 0


def cifar_dir() -> Path:
    """$TINYML_CIFAR10, else ../shared/data/cifar10 beside the repo, else beside the MLPerf Tiny models' folder."""
    if os.environ.get("TINYML_CIFAR10"):
        return Path(os.environ["TINYML_CIFAR10"])
    beside_repo = REPO.parent / "shared" / "data" / "cifar10"
    models = os.environ.get("TINYML_MODELS")
    if beside_repo.is_dir() or not models:
        return beside_repo
    return Path(models).resolve().parents[1] / "data" / "cifar10"


def photos(tar: Path, per_class: int, target: Path) -> Path:
    """The first `per_class` photos of each class in a CIFAR-10 tar as an .npz (x uint8 pixels, y labels in the
    usual order, which is the classes' sorted names), kept in the cache."""
    if target.is_file():
        return target
    from PIL import Image

    found: dict[str, list[tuple[int, np.ndarray]]] = {}
    with tarfile.open(tar) as t:
        for member in t:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3 and int(Path(parts[2]).stem) < per_class:
                pixels = np.asarray(Image.open(BytesIO(t.extractfile(member).read())).convert("RGB"))
                found.setdefault(parts[1], []).append((int(Path(parts[2]).stem), pixels))
    classes = sorted(found)
    x = np.stack([p for c in classes for _, p in sorted(found[c], key=lambda item: item[0])])
    y = np.repeat(np.arange(len(classes)), [len(found[c]) for c in classes])
    tmp = target.with_suffix(".partial.npz")
    np.savez(tmp, x=x, y=y)
    tmp.replace(target)
    return target


def float_model(train: Path, x_test: np.ndarray, y_test: np.ndarray, epochs: int, cache: Path) -> tuple[Path, float]:
    """The float CNN trained on `train` (cached by the data, the epochs and this file's architecture), and its
    top-1 on the test photos."""
    import keras

    arch = "v1: stem 16 ReLU6, separable 32/s2, 64/s2, 128/s2, GAP, dense 10"
    digest = hashlib.sha256(f"{arch} {train.name} {epochs}".encode()).hexdigest()[:12]
    path = cache / f"float-{digest}.keras"
    if not path.is_file():
        with np.load(train) as t:
            x, y = t["x"].astype(np.float32) / 255, t["y"]
        keras.utils.set_random_seed(0)
        L = keras.layers

        def separable(h, filters, stride, i):
            h = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"dw{i}")(h)
            h = L.ReLU(name=f"dw{i}_relu")(L.BatchNormalization(name=f"dw{i}_bn")(h))
            h = L.Conv2D(filters, 1, use_bias=False, name=f"pw{i}")(h)
            return L.ReLU(name=f"pw{i}_relu")(L.BatchNormalization(name=f"pw{i}_bn")(h))

        inputs = keras.Input((32, 32, 3))
        h = L.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(inputs)
        h = L.ReLU(6.0, name="stem_relu6")(L.BatchNormalization(name="stem_bn")(h))
        for i, (filters, stride) in enumerate([(32, 2), (64, 2), (128, 2)]):
            h = separable(h, filters, stride, i)
        h = L.GlobalAveragePooling2D(name="pool")(h)
        outputs = L.Dense(10, name="fc")(L.Dropout(0.2, name="drop")(h))
        model = keras.Model(inputs, outputs)
        model.compile(
            keras.optimizers.Adam(2e-3),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(x, y, epochs=epochs, batch_size=64, shuffle=True, verbose=2)
        tmp = path.with_suffix(".partial.keras")
        model.save(tmp)
        tmp.replace(path)
    model = keras.models.load_model(path)
    accuracy = float(np.mean(model.predict(x_test, batch_size=256, verbose=0).argmax(axis=1) == y_test))
    return path, accuracy


def fine_tuned(
    model: Path, train: Path, x_test: np.ndarray, y_test: np.ndarray, args: argparse.Namespace, cache: Path
) -> tuple[Path, float]:
    """The float model trained as long as quantization-aware training trains it (--qat-epochs at its learning rate,
    Adam, batch 64) but without fake quantization: the baseline that tells training from quantization."""
    import keras

    path = cache / f"tuned-{key(model, args)}.keras"
    if not path.is_file():
        with np.load(train) as t:
            x, y = t["x"].astype(np.float32) / 255, t["y"]
        keras.utils.set_random_seed(0)
        tuned = keras.models.load_model(model)
        tuned.compile(
            keras.optimizers.Adam(args.learning_rate),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        tuned.fit(x, y, epochs=args.qat_epochs, batch_size=64, shuffle=True, verbose=2)
        tmp = path.with_suffix(".partial.keras")
        tuned.save(tmp)
        tmp.replace(path)
    tuned = keras.models.load_model(path)
    return path, float(np.mean(tuned.predict(x_test, batch_size=256, verbose=0).argmax(axis=1) == y_test))


def key(model: Path, args: argparse.Namespace) -> str:
    """What decides the quantized files besides the row: the float model and the training settings."""
    parts = [model.name, args.train_per_class, args.qat_epochs, args.learning_rate]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


def quantized(model: Path, train: Path, bits: tuple[int, int] | None, args: argparse.Namespace, target: Path) -> Path:
    """The row's TFLite file, kept in the cache: post-training int8 calibrated on 500 training photos, or
    quantization-aware training at `bits` with ranges started from those photos."""
    if target.is_file():
        return target
    quant = QuantOptions(samples=500)
    if bits is None:
        q = pipeline.quantize(model, train, quant)
    else:
        options = QatOptions(epochs=args.qat_epochs, learning_rate=args.learning_rate, bits=bits, batch_size=64)
        q = pipeline.train_quantized(model, train, options, quant)
    tmp = target.with_suffix(".partial")
    tmp.write_bytes(q.raw)
    tmp.replace(target)
    return target


def quantized_inputs(model: Path, x: np.ndarray) -> list[np.ndarray]:
    from tinyml.frontend import load_model

    q = load_model(model).inputs[0].quant
    return [np.clip(np.round(s[None] / q.scales[0]) + q.zero_points[0], -128, 127).astype(np.int8) for s in x]


def tflm_outputs(model: Path, inputs: list[bytes]) -> list[bytes]:
    """The output bytes of TFLite Micro for each input: the oracle, and what the top-1 is counted on."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_file(str(model))
    outputs = []
    for data in inputs:
        interp.set_input(np.frombuffer(data, np.int8).reshape(1, 32, 32, 3), 0)
        interp.invoke()
        outputs.append(np.asarray(interp.get_output(0)).tobytes())
    return outputs


def host_check(model: Path, inputs: list[bytes], expected: list[bytes]) -> str:
    """Compile with tinyml for the host, run every test photo, and compare every output byte with TFLite Micro's."""
    try:
        c = pipeline.compile_model(model, "host")
    except UnsupportedOpError:
        return "not compiled (INT4 weights)"
    same = sum(a == b for a, b in zip(pipeline.run(c, inputs), expected, strict=True))
    return f"bit-exact {same:,}/{len(inputs):,}"


def weight_bytes(raw: bytes) -> int:
    """Bytes of the conv, depthwise and dense weights as stored: INT4 tensors two values per byte."""
    import tflite

    model = tflite.Model.GetRootAs(raw, 0)
    sub = model.Subgraphs(0)
    total = 0
    for i in range(sub.OperatorsLength()):
        op = sub.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) in WEIGHTED_OPS:
            total += model.Buffers(sub.Tensors(op.Inputs(1)).Buffer()).DataLength()
    return total


if __name__ == "__main__":
    raise SystemExit(main())
