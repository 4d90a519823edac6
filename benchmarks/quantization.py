"""Quantization on CIFAR-10 (real JPEG photos): float, int8, 4-bit weights and mixed precision, as they run.

Two classifiers are trained in float on CPU and cached: ResNet-8 (the MLPerf Tiny image-classification topology:
three residual stacks of 16, 32 and 64 channels) and a MobileNetV2-style network (inverted residual blocks with
ReLU6, linear bottlenecks, 32x32 input). Each is then quantized through tinyml's library API, as `tinyml quantize`
does: int8 post-training quantization, quantization-aware training at int8 and at w4a8 (INT4 weights), and mixed
precision (`--board`, bits per layer chosen by measured sensitivity, then fine-tuned at those bits) under two flash
budgets and one SRAM budget, each a fraction of the int8 model's own footprint on the board.

Every quantized row is compiled by tinyml and measured as it runs: top-1 on the test photos through the compiled C
on the host (pipeline.evaluate, what `tinyml eval` runs), peak SRAM, weight flash and total flash by tinyml's report
for the board (code size estimated by the report's cost model, the same figure mixed precision budgets against),
and the first photos' outputs compared byte for byte with TFLite Micro. The table's time is what making the row
took when it was made (training or quantizing; "cached" when it came from the cache) plus measuring it now.

The MLPerf Tiny anomaly-detection model (AD, a dense autoencoder over 5 frames of 128 log-mel bands) is published
only as int8 TFLite, so its float original cannot be quantized again. Its 4-bit weights are requantized from the
published file itself, as `tinyml quantize ad01_int8.tflite -o OUT --bits w4a8` does (tinyml.quant.requant): int8
(published), 4-bit weights, the plain requantization for comparison (scale max|q8| * s8 / 7, rounded to nearest),
and Rusci's rule choosing the layers under 0.55x int8's flash (`--board --flash-budget`). Each row's "accuracy" is
the AD score of the real sample shipped with the models (ad01_sample_normal_id_01_00000000.bin: 200 frames, 196
vectors): the mean squared error of the dequantized output against the input, in dB², through the compiled C on the
host, every output compared with TFLite Micro. One normal clip cannot give the MLPerf AUC, which needs the ToyADMOS
recordings, normal and anomalous.

Recipe (defaults): 1,500 training photos per class (15,000), pixels scaled to 0..1, random flips and 4-pixel
shifts; Adam with cosine decay from 2e-3, batch 64; 20 float epochs for ResNet-8 (12 minutes on 2 cores shared
with other work) and 15 for the MobileNetV2 (9 minutes); quantization-aware training 2 epochs at 2e-4 from the
float weights (2 to 6 minutes a row, mixed precision's sensitivity included), ranges and calibration from 500
training photos; 2,000 test photos (200 per class), of which the first 50 are compared with TFLite Micro. The first
run takes about an hour on 2 cores shared with other work; a cached run only measures, in about 4 minutes (most of
it the compiled C running 2,000 photos per row, and TFLite Micro). On 2,000 photos one standard error of a top-1
near 70% is 1.0 point, so differences of a point are at the edge of what this test set resolves.

    python benchmarks/quantization.py [--cifar DIR] [--models DIR] [--only cifar|ad] [--board stm32f746]
                                      [--test 2000] [--check 50]

Everything is cached in tinyml's cache folder (benchmarks/quantization), keyed by the recipe. The exit status is 1
when a requirement of the table's "Required" section fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from cifar import cifar_dir, photos, write_atomic

from tinyml import pipeline
from tinyml.errors import BudgetExceededError
from tinyml.quant import QuantOptions
from tinyml.quant.mixed import MixedOptions
from tinyml.quant.options import QatOptions
from tinyml.resources import cache_root

#: bump when a model's architecture, its training or the way a row is made changes: part of every cache key
RECIPE_VERSION = 1


@dataclass(frozen=True)
class Recipe:
    """How one float classifier is built and trained."""

    name: str
    #: builds the uncompiled Keras model
    build: Callable[[], Any]
    epochs: int
    learning_rate: float = 2e-3
    batch_size: int = 64

    def key(self, train: Path) -> str:
        parts = [RECIPE_VERSION, self.name, train.name, self.epochs, self.learning_rate, self.batch_size]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


def resnet8() -> Any:
    """ResNet-8 as MLPerf Tiny's image-classification benchmark defines it: a 16-channel stem, three residual stacks
    (16, 32 and 64 channels, the last two with stride 2 and a 1x1 shortcut), average pooling and a softmax layer."""
    import keras

    L = keras.layers
    reg = keras.regularizers.L2(1e-4)

    def conv(h: Any, filters: int, kernel: int, stride: int, name: str) -> Any:
        h = L.Conv2D(filters, kernel, strides=stride, padding="same", kernel_regularizer=reg, name=name)(h)
        return L.BatchNormalization(name=f"{name}_bn")(h)

    inputs = keras.Input((32, 32, 3))
    x = L.ReLU(name="stem_relu")(conv(inputs, 16, 3, 1, "stem"))
    for i, (filters, stride) in enumerate([(16, 1), (32, 2), (64, 2)]):
        y = L.ReLU(name=f"s{i}a_relu")(conv(x, filters, 3, stride, f"s{i}a"))
        y = conv(y, filters, 3, 1, f"s{i}b")
        shortcut = x if stride == 1 else L.Conv2D(filters, 1, strides=stride, kernel_regularizer=reg, name=f"s{i}s")(x)
        x = L.ReLU(name=f"s{i}_relu")(L.Add(name=f"s{i}_add")([shortcut, y]))
    x = L.Flatten(name="flatten")(L.AveragePooling2D(8, name="pool")(x))
    return keras.Model(inputs, L.Dense(10, activation="softmax", kernel_regularizer=reg, name="fc")(x))


def mobilenet_v2() -> Any:
    """A MobileNetV2 for 32x32 inputs: a 16-channel stem with stride 2 (training on 2 cores stays short), inverted
    residual blocks (1x1 expansion by 4, 3x3 depthwise, linear 1x1 projection, a residual Add where shape allows),
    ReLU6, a 1x1 head of 128, pooling, dense."""
    import keras

    L = keras.layers

    def conv_bn(h: Any, filters: int, name: str, relu: bool = True) -> Any:
        h = L.BatchNormalization(name=f"{name}_bn")(L.Conv2D(filters, 1, use_bias=False, name=name)(h))
        return L.ReLU(6.0, name=f"{name}_relu6")(h) if relu else h

    inputs = keras.Input((32, 32, 3))
    h = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    h = L.ReLU(6.0, name="stem_relu6")(L.BatchNormalization(name="stem_bn")(h))
    blocks = [(1, 16, 1), (4, 24, 2), (4, 24, 1), (4, 32, 2), (4, 32, 1), (4, 64, 2), (4, 64, 1)]
    for i, (expansion, filters, stride) in enumerate(blocks):
        x = h
        if expansion > 1:
            h = conv_bn(h, h.shape[-1] * expansion, f"b{i}_expand")
        h = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"b{i}_dw")(h)
        h = L.ReLU(6.0, name=f"b{i}_dw_relu6")(L.BatchNormalization(name=f"b{i}_dw_bn")(h))
        h = conv_bn(h, filters, f"b{i}_project", relu=False)
        if stride == 1 and x.shape[-1] == filters:
            h = L.Add(name=f"b{i}_add")([x, h])
    h = conv_bn(h, 128, "head")
    h = L.Dropout(0.2, name="drop")(L.GlobalAveragePooling2D(name="pool")(h))
    return keras.Model(inputs, L.Dense(10, name="fc")(h))


RECIPES = [Recipe("ResNet-8", resnet8, epochs=20), Recipe("MobileNetV2", mobilenet_v2, epochs=15)]


def trained(recipe: Recipe, train: Path, cache: Path) -> tuple[Path, float, bool]:
    """The float model trained by `recipe` on `train` (the cache's copy when there is one), the seconds its training
    took, and whether it came from the cache."""
    path = cache / f"{recipe.name}-float-{recipe.key(train)}.keras"
    stamp = path.with_suffix(".json")
    if path.is_file() and stamp.is_file():
        return path, json.loads(stamp.read_text())["seconds"], True
    import keras
    import tensorflow as tf

    started = time.monotonic()
    with np.load(train) as t:
        x, y = t["x"], t["y"]
    keras.utils.set_random_seed(0)

    def augment(image: Any, label: Any) -> tuple[Any, Any]:
        image = tf.image.random_flip_left_right(tf.cast(image, tf.float32) / 255)
        image = tf.image.random_crop(tf.pad(image, [[4, 4], [4, 4], [0, 0]], mode="REFLECT"), (32, 32, 3))
        return image, label

    data = (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=0)
        .map(augment, num_parallel_calls=2)
        .batch(recipe.batch_size)
        .prefetch(2)
    )
    model = recipe.build()
    steps = recipe.epochs * -(-len(x) // recipe.batch_size)
    model.compile(
        keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(recipe.learning_rate, steps)),
        keras.losses.SparseCategoricalCrossentropy(from_logits=model.layers[-1].activation.__name__ != "softmax"),
        metrics=["accuracy"],
    )
    model.fit(data, epochs=recipe.epochs, verbose=2)
    seconds = time.monotonic() - started
    write_atomic(path, lambda tmp: model.save(tmp))
    stamp.write_text(json.dumps({"seconds": seconds}))
    return path, seconds, False


@dataclass
class Row:
    """One variant of a model, as measured."""

    variant: str
    #: top-1 on the test photos (the float row: in Keras; the others: the compiled C on the host)
    top1: float
    #: by tinyml's report for the board; None for the float row
    peak_sram: int | None = None
    weight_flash: int | None = None
    total_flash: int | None = None
    #: outputs equal to TFLite Micro's, of those compared
    exact: tuple[int, int] | None = None
    #: seconds making the row took (when it was made), whether it came from the cache, and seconds measuring it now
    made: float = 0.0
    cached: bool = False
    measured: float = 0.0
    #: the bits it holds, for mixed precision ("w8: 5, w4: 3; a4: 2")
    bits: str = ""
    #: the SRAM budget it was planned for, when it was
    sram_budget: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: why mixed precision found no bits that meet the row's budget, when it did not
    refused: str = ""


@dataclass(frozen=True)
class Variant:
    """How one quantized row is made from the float model."""

    name: str
    #: "ptq", "qat" or "mixed"
    method: str
    bits: tuple[int, int] = (8, 8)
    #: mixed precision: weight flash as a fraction of int8's, or peak SRAM as a fraction of int8's smallest peak
    weights_fraction: float | None = None
    sram_fraction: float | None = None


VARIANTS = [
    Variant("int8 PTQ", "ptq"),
    Variant("int8 QAT", "qat"),
    Variant("w4a8 QAT", "qat", bits=(4, 8)),
    Variant("mixed, weights 0.75x", "mixed", weights_fraction=0.75),
    Variant("mixed, weights 0.58x", "mixed", weights_fraction=0.58),
    Variant("mixed, SRAM 0.6x", "mixed", sram_fraction=0.6),
]


@dataclass
class Bench:
    """What every row of one model shares."""

    args: argparse.Namespace
    cache: Path
    train: Path
    test: Path
    quant: QuantOptions
    qat: QatOptions

    def key(self, *parts: object) -> str:
        text = json.dumps([RECIPE_VERSION, *[str(p) for p in parts], self.quant.as_dict(), self.qat.as_dict()])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def made(target: Path, make: Callable[[], bytes]) -> tuple[Path, float, bool]:
    """The quantized file at `target` in the cache, made by `make` when it is not there; the seconds making it took
    (then or now) and whether it came from the cache."""
    stamp = target.with_suffix(".json")
    if target.is_file() and stamp.is_file():
        return target, json.loads(stamp.read_text())["seconds"], True
    started = time.monotonic()
    raw = make()
    seconds = time.monotonic() - started
    write_atomic(target, lambda tmp: tmp.write_bytes(raw))
    stamp.write_text(json.dumps({"seconds": seconds}))
    return target, seconds, False


def footprint(model: Path, board: str, sram_budget: int | None = None) -> dict[str, Any]:
    """tinyml's report of `model` compiled for `board` (planned within `sram_budget` when given)."""
    from tinyml.plan import PlanOptions

    options = pipeline.CompileOptions(plan=PlanOptions(sram_budget=sram_budget), progress=False)
    return pipeline.report(pipeline.compile_model(model, board, options))


def measure(model: Path, bench: Bench, row: Row) -> Row:
    """Top-1 through the compiled C on the host, the first --check photos against TFLite Micro, and the memory the
    report gives on the board."""
    from tinyml.measure.eval import encode

    started = time.monotonic()
    compiled = pipeline.compile_model(model, "host", pipeline.CompileOptions(progress=False))
    row.top1 = pipeline.evaluate(compiled, bench.test, progress=False).accuracy.rate
    with np.load(bench.test) as t:
        x = t["x"][: bench.args.check].astype(np.float32) / 255
    inputs = [encode(compiled.graph.inputs[0], sample) for sample in x]
    ours, theirs = pipeline.run(compiled, inputs), pipeline.tflm_expected(compiled, inputs)
    row.exact = (sum(a == b for a, b in zip(ours, theirs, strict=True)), len(inputs))
    report = footprint(model, bench.args.board, row.sram_budget)
    row.peak_sram = report["sram"]["peak_bytes"]
    row.weight_flash = report["flash"]["weights_bytes"]
    row.total_flash = report["flash"]["total_bytes"]
    row.extra["smallest_peak"] = report["sram"]["smallest_peak_bytes"]
    row.measured = time.monotonic() - started
    return row


def bits_summary(raw: bytes) -> str:
    """What the metadata of a mixed-precision file says each layer got, counted: "w8 3, w4 5; a4 2"."""
    from tinyml.quant.metadata import read

    layers = (read(raw) or {}).get("mixed", {}).get("layers", {})
    weights: dict[int, int] = {}
    activations: dict[int, int] = {}
    for layer in layers.values():
        if layer["weights"] is not None:
            weights[layer["weights"]] = weights.get(layer["weights"], 0) + 1
        if layer["activations"] < 8:
            activations[layer["activations"]] = activations.get(layer["activations"], 0) + 1
    text = ", ".join(f"w{b} x{n}" for b, n in sorted(weights.items(), reverse=True))
    if activations:
        text += "; " + ", ".join(f"a{b} x{n}" for b, n in sorted(activations.items(), reverse=True))
    return text


def quantized_rows(float_model: Path, bench: Bench) -> list[Row]:
    """Every variant of one float model, made (or taken from the cache) and measured."""
    rows: list[Row] = []
    int8: dict[str, Any] = {}
    for v in VARIANTS:
        key = bench.key(float_model.name, v)
        target = bench.cache / f"{float_model.stem.split('-float-')[0]}-{v.name.replace(' ', '_')}-{key}.tflite"
        row = Row(v.name, 0.0)
        if v.method == "ptq":
            path, row.made, row.cached = made(
                target, lambda: pipeline.quantize(float_model, bench.train, bench.quant).raw
            )
        elif v.method == "qat":
            options = QatOptions(**{**bench.qat.__dict__, "bits": v.bits})
            path, row.made, row.cached = made(
                target, lambda o=options: pipeline.train_quantized(float_model, bench.train, o, bench.quant).raw
            )
        else:
            mixed = mixed_options(v, int8, bench.args.board)
            row.sram_budget = mixed.sram_budget
            try:
                path, row.made, row.cached = made(
                    target,
                    lambda m=mixed: (
                        pipeline.quantize_mixed(float_model, m, bench.quant, train=bench.train, qat=bench.qat).raw
                    ),
                )
            except BudgetExceededError as e:  # no bits meet the budget: a row that says so
                row.refused = e.message
                rows.append(row)
                print(f"  {v.name}: refused: {e.message}", flush=True)
                continue
            row.bits = bits_summary(path.read_bytes())
        rows.append(measure(path, bench, row))
        print(f"  {v.name}: top-1 {100 * row.top1:.1f}% ({when(row)})", flush=True)
        if v.method == "ptq":
            int8 = {"report": footprint(path, bench.args.board)}
    return rows


def mixed_options(v: Variant, int8: dict[str, Any], board: str) -> MixedOptions:
    """The budgets of a mixed-precision variant, from the int8 model's footprint on the board: a flash budget that
    leaves the weights `weights_fraction` of their int8 bytes (code and constants as at int8; when lower bits shrink
    the code or the constants, the search spends that on weights, so 0.58 keeps them under 0.6), or an SRAM budget
    that leaves the arena `sram_fraction` of int8's peak as `tinyml compile` plans it (stack and runtime as at int8).
    (A fraction of the smallest peak int8 reaches, with patches, cannot be met by ResNet-8 at 0.6: the two 8-bit
    inputs of the second residual Add, 16 KB, are live with the stack's input while its shortcut runs.)"""
    report = int8["report"]
    if v.weights_fraction is not None:
        flash = report["flash"]
        budget = flash["total_bytes"] - round((1 - v.weights_fraction) * flash["weights_bytes"])
        return MixedOptions(board, flash_budget=budget)
    assert v.sram_fraction is not None
    ram, sram = report["ram"], report["sram"]
    budget = ram["total_bytes"] - sram["peak_bytes"] + int(v.sram_fraction * sram["peak_bytes"])
    return MixedOptions(board, sram_budget=budget)


def float_top1(model: Path, test: Path) -> float:
    """The float model's top-1 on the test photos, in Keras."""
    import keras

    with np.load(test) as t:
        x, y = t["x"].astype(np.float32) / 255, t["y"]
    scores = keras.models.load_model(model).predict(x, batch_size=256, verbose=0)
    return float(np.mean(scores.argmax(axis=1) == y))


# --- the anomaly-detection model (MLPerf Tiny AD, published as int8 only) ----------------------------------------


def models_dir() -> Path:
    """The MLPerf Tiny models: $TINYML_MODELS, else ../shared/models/mlperf-tiny beside the repository."""
    beside = Path(__file__).resolve().parent.parent.parent / "shared" / "models" / "mlperf-tiny"
    return Path(os.environ.get("TINYML_MODELS", beside))


def ad_vectors(models: Path) -> np.ndarray:
    """The real sample as the model's inputs: its 200 frames of 128 log-mel bands (float32 dB, frame by frame) cut
    into the 196 vectors of 5 consecutive frames the AD benchmark scores a clip by."""
    frames = np.fromfile(models / "ad01_sample_normal_id_01_00000000.bin", dtype=np.float32).reshape(-1, 128)
    return np.stack([frames[i : i + 5].reshape(-1) for i in range(len(frames) - 4)])


@dataclass
class AdResult:
    rows: list[Row]
    vectors: int


def ad_rows(args: argparse.Namespace, cache: Path) -> AdResult:
    """The published int8 AD model and its weights requantized to 4 bits from it (`tinyml quantize
    ad01_int8.tflite --bits w4a8`), each measured as it runs; for comparison the plain requantization (scale
    max|q8| * s8 / 7, rounded to nearest), and Rusci's rule choosing the layers under 0.55x int8's flash (`--board
    --flash-budget`). Requantizing takes about a second, so the files are made anew on every run."""
    from tinyml.quant.requant import choose_layers, requantize

    published = args.models / "ad01_int8.tflite"
    raw = published.read_bytes()
    vectors = ad_vectors(args.models)
    folder = cache / "ad"
    folder.mkdir(exist_ok=True)
    int8 = measure_ad(published, vectors, args.board, Row("int8 (published)", 0.0, bits="w8 x10"))
    budget = int(0.55 * (int8.total_flash or 0))

    def rusci() -> bytes:
        chosen = choose_layers(raw, published, MixedOptions(args.board, rule="rusci", flash_budget=budget))
        return requantize(raw, published, only=chosen.ops, extra={"mixed": chosen.entry}).raw

    rows = [int8]
    for name, make in (
        ("int4 weights", lambda: requantize(raw, published).raw),
        ("int4, plain rule", lambda: requantize(raw, published, rule="max", sums=False).raw),
        (f"Rusci, flash {budget // 1000}K", rusci),
    ):
        started = time.monotonic()
        data = make()
        target = folder / f"{name.split(',')[0].replace(' ', '-')}-{len(rows)}.tflite"
        write_atomic(target, lambda tmp, data=data: tmp.write_bytes(data))
        row = Row(name, 0.0, made=time.monotonic() - started, bits=requant_bits(data))
        rows.append(measure_ad(target, vectors, args.board, row))
    return AdResult(rows, len(vectors))


def requant_bits(raw: bytes) -> str:
    """The weight bits of each layer the "tinyml" metadata of a requantized file records, counted: "w4 x8, w8 x2"."""
    from tinyml.quant.metadata import read

    layers = (read(raw) or {}).get("requant", {}).get("layers", {})
    counts: dict[int, int] = {}
    for layer in layers.values():
        counts[layer["weights"]] = counts.get(layer["weights"], 0) + 1
    return ", ".join(f"w{b} x{n}" for b, n in sorted(counts.items()))


def measure_ad(model: Path, vectors: np.ndarray, board: str, row: Row) -> Row:
    """The AD score of the real sample (the mean over its vectors of the mean squared difference, in dB², between
    the dequantized output and the input) through the compiled C on the host, every output against TFLite Micro,
    and the board's memory by tinyml's report; `top1` holds the score here."""
    from tinyml.measure.eval import encode

    started = time.monotonic()
    compiled = pipeline.compile_model(model, "host", pipeline.CompileOptions(progress=False))
    inputs = [encode(compiled.graph.inputs[0], vector) for vector in vectors]
    outputs = pipeline.run(compiled, inputs)
    out = compiled.graph.outputs[0]
    scale, zero = float(out.quant.scale), int(out.quant.zero_point)
    decoded = np.stack([(np.frombuffer(o, np.int8).astype(np.float64) - zero) * scale for o in outputs])
    row.top1 = float(np.mean((decoded - vectors) ** 2))
    theirs = pipeline.tflm_expected(compiled, inputs)
    row.exact = (sum(a == b for a, b in zip(outputs, theirs, strict=True)), len(inputs))
    report = footprint(model, board)
    row.peak_sram = report["sram"]["peak_bytes"]
    row.weight_flash = report["flash"]["weights_bytes"]
    row.total_flash = report["flash"]["total_bytes"]
    row.measured = time.monotonic() - started
    return row


# --- the tables -------------------------------------------------------------------------------------------------


def ratio(value: int | None, base: int | None) -> str:
    return "" if value is None or not base else f"{value / base:.2f}x"


def when(row: Row) -> str:
    made = f"{row.made:.0f}s cached" if row.cached else f"{row.made:.0f}s"
    return f"{made} + {row.measured:.0f}s"


def print_table(title: str, rows: list[Row], base: Row, best_int8: Row, accuracy: str = "top-1") -> None:
    """One model's table: figures, and ratios to `base` (int8 PTQ); accuracy deltas against `best_int8`."""
    print(f"\n{title}")
    head = (
        f"  {'variant':<22} {accuracy:>7} {'vs int8':>7} {'peak SRAM':>10} {'x int8':>6} {'weights':>9} {'x int8':>6}"
        f" {'flash':>9} {'x int8':>6} {'bit-exact':>9}  {'time (make + measure)':<22} bits"
    )
    print(head)
    for r in rows:
        if r.refused:
            print(f"  {r.variant:<22} refused: {r.refused}")
            continue
        percent = accuracy == "top-1"
        figure = f"{100 * r.top1:.1f}%" if percent else f"{r.top1:.4f}"
        delta = "" if r is best_int8 or r.peak_sram is None else f"{100 * (r.top1 - best_int8.top1):+.1f}"
        if not percent:
            delta = "" if r is best_int8 else f"{r.top1 / best_int8.top1:.2f}x"

        def size(v: int | None) -> str:
            return "-" if v is None else f"{v:,}"

        exact = "-" if r.exact is None else f"{r.exact[0]}/{r.exact[1]}"
        print(
            f"  {r.variant:<22} {figure:>7} {delta:>7} {size(r.peak_sram):>10} {ratio(r.peak_sram, base.peak_sram):>6}"
            f" {size(r.weight_flash):>9} {ratio(r.weight_flash, base.weight_flash):>6} {size(r.total_flash):>9}"
            f" {ratio(r.total_flash, base.total_flash):>6} {exact:>9}  {when(r):<22} {r.bits}"
        )


@dataclass
class Requirement:
    text: str
    passed: bool
    figures: str


def requirements(results: dict[str, list[Row]], ad: AdResult | None) -> list[Requirement]:
    """The issue's requirements, each with the figures it was judged on. "int8" is the better of int8 PTQ and int8
    QAT by top-1; flash ratios are against int8 PTQ's (int8 QAT's are the same weights)."""
    out = []
    for model, rows in results.items():
        by = {r.variant: r for r in rows}
        int8 = best_int8(rows)
        base = by["int8 PTQ"]
        w4 = by["w4a8 QAT"]
        drop, weights = points(int8.top1 - w4.top1), w4.weight_flash / base.weight_flash
        out.append(
            Requirement(
                f"{model}: w4a8 QAT within 1.5 points of int8 at <= 0.55x weight flash",
                drop <= 1.5 and weights <= 0.55,
                f"{100 * w4.top1:.1f}% vs {100 * int8.top1:.1f}% ({int8.variant}): {drop:.1f} points; "
                f"weights {weights:.2f}x",
            )
        )
        mixed = [r for r in rows if r.variant.startswith("mixed, weights") and not r.refused]
        fits = [r for r in mixed if r.weight_flash / base.weight_flash <= 0.6]
        best = max(fits, key=lambda r: r.top1) if fits else min(mixed, key=lambda r: r.weight_flash)
        drop, weights = points(int8.top1 - best.top1), best.weight_flash / base.weight_flash
        out.append(
            Requirement(
                f"{model}: mixed precision within 1.0 point of int8 at <= 0.6x weight flash",
                bool(fits) and drop <= 1.0,
                f"{best.variant}: {100 * best.top1:.1f}% vs {100 * int8.top1:.1f}%: {drop:.1f} points; "
                f"weights {weights:.2f}x",
            )
        )
        sram = by["mixed, SRAM 0.6x"]
        smallest = base.extra["smallest_peak"]
        drop = points(int8.top1 - sram.top1)
        if sram.refused:
            passed, figures = False, f"refused: {sram.refused}"
        else:
            assert sram.peak_sram is not None and base.peak_sram is not None
            passed = sram.peak_sram <= 0.6 * base.peak_sram and drop <= 2.0
            figures = (
                f"peak {sram.peak_sram:,} bytes = {sram.peak_sram / base.peak_sram:.2f}x int8's ({base.peak_sram:,}), "
                f"{sram.peak_sram / smallest:.2f}x the smallest int8 reaches with patches ({smallest:,}); "
                f"{100 * sram.top1:.1f}% vs {100 * int8.top1:.1f}%: {drop:.1f} points"
            )
        if model == "ResNet-8":
            out.append(
                Requirement(f"{model}: mixed precision in <= 0.6x int8 peak SRAM within 2 points", passed, figures)
            )
        else:
            print(f"\n  (not required) {model} in 0.6x int8 SRAM: {'met' if passed else 'not met'}: {figures}")
    if ad is None:
        return out
    by = {r.variant: r for r in ad.rows}
    int8, w4 = by["int8 (published)"], by["int4 weights"]
    flash = (w4.total_flash or 0) / (int8.total_flash or 1)
    out.append(
        Requirement(
            "AD with int4 weights <= 0.55x its int8 flash",
            flash <= 0.55,
            f"{w4.total_flash:,} vs {int8.total_flash:,} bytes (published int8): {flash:.2f}x; weights {w4.bits}",
        )
    )
    return out


def points(difference: float) -> float:
    """A difference of top-1 rates in percentage points, rounded to 1e-6 so that the sums of 0.05-point steps
    (one photo in 2,000) compare exactly with the requirements' thresholds."""
    return round(100 * difference, 6)


def best_int8(rows: list[Row]) -> Row:
    """The better of int8 PTQ and int8 QAT by top-1: what the requirements compare against."""
    return max((r for r in rows if r.variant in ("int8 PTQ", "int8 QAT")), key=lambda r: r.top1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", type=Path, default=cifar_dir(), help="the CIFAR-10 JPEG tars (train.tar, test.tar)")
    parser.add_argument("--models", type=Path, default=models_dir(), help="the MLPerf Tiny models (ad01_int8.tflite)")
    parser.add_argument("--only", choices=["cifar", "ad"], help="run only the CIFAR-10 classifiers, or only AD")
    parser.add_argument("--board", default="stm32f746", help="the board whose memory the report and budgets use")
    parser.add_argument("--train-per-class", type=int, default=1500, help="training photos per class (of 5,000)")
    parser.add_argument("--test", type=int, default=2000, help="test photos, the same number per class")
    parser.add_argument("--check", type=int, default=50, help="photos per row compared with TFLite Micro")
    parser.add_argument("--qat-epochs", type=int, default=2, help="quantization-aware training epochs")
    parser.add_argument("--learning-rate", type=float, default=2e-4, help="quantization-aware training step size")
    args = parser.parse_args()
    cifar, ad_too = args.only != "ad", args.only != "cifar"
    if cifar and (not (args.cifar / "train.tar").is_file() or not (args.cifar / "test.tar").is_file()):
        raise SystemExit(f"no CIFAR-10 train.tar and test.tar in {args.cifar}: pass --cifar DIR or set TINYML_CIFAR10")
    if ad_too and not (args.models / "ad01_int8.tflite").is_file():
        raise SystemExit(f"no ad01_int8.tflite in {args.models}: pass --models DIR or set TINYML_MODELS")
    cache = cache_root() / "benchmarks" / "quantization"
    cache.mkdir(parents=True, exist_ok=True)
    everything = time.monotonic()

    results: dict[str, list[Row]] = {}
    if cifar:
        results = cifar_results(args, cache)
    ad = ad_rows(args, cache) if ad_too else None

    for name, rows in results.items():
        print_table(
            f"{name} on {args.board} (top-1 on {args.test:,} CIFAR-10 test photos, compiled C on the host; "
            f"'vs int8': points against {best_int8(rows).variant}, the better int8)",
            rows,
            rows[1],
            best_int8(rows),
        )
    if ad is not None:
        print_table(
            f"AD (MLPerf Tiny ad01_int8.tflite, published as int8 only; 4-bit weights requantized from it) on "
            f"{args.board}: reconstruction error (MSE, dB^2) of the real sample's {ad.vectors} vectors, compiled C on "
            "the host, each output compared with TFLite Micro",
            ad.rows,
            ad.rows[0],
            ad.rows[0],
            accuracy="MSE",
        )
    print("\nRequired")
    checks = requirements(results, ad)
    for check in checks:
        print(f"  {'PASS' if check.passed else 'FAIL'}  {check.text}: {check.figures}")
    print(f"\ntotal {time.monotonic() - everything:.0f} s")
    return 0 if all(c.passed for c in checks) else 1


def cifar_results(args: argparse.Namespace, cache: Path) -> dict[str, list[Row]]:
    """Each classifier's rows: float, then every quantized variant."""
    started = time.monotonic()
    train = photos(args.cifar / "train.tar", args.train_per_class, cache / f"train-{args.train_per_class}.npz")
    test = photos(args.cifar / "test.tar", args.test // 10, cache / f"test-{args.test // 10}.npz")
    took = time.monotonic() - started
    print(f"CIFAR-10: {args.train_per_class * 10:,} training and {args.test:,} test photos ({took:.0f} s)")
    bench = Bench(
        args,
        cache,
        train,
        test,
        QuantOptions(samples=500),
        QatOptions(epochs=args.qat_epochs, learning_rate=args.learning_rate, batch_size=64),
    )
    results: dict[str, list[Row]] = {}
    for recipe in RECIPES:
        model, seconds, cached = trained(recipe, train, cache)
        how = f"cached; training took {seconds:.0f} s" if cached else f"trained in {seconds:.0f} s"
        print(f"{recipe.name}: float model {how} ({recipe.epochs} epochs)")
        started = time.monotonic()
        rows = [Row("float (Keras)", float_top1(model, test), made=seconds, cached=cached)]
        rows[0].measured = time.monotonic() - started
        rows += quantized_rows(model, bench)
        results[recipe.name] = rows
    return results


if __name__ == "__main__":
    raise SystemExit(main())
