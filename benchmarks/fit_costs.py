"""Fit the kernel cost model (tinyml/kernels/costs.json) from per-layer counts measured on emulated cores.

For each board (mps2-an386: Cortex-M4, mps2-an500: Cortex-M7, mps3-an547: Cortex-M55),
every model (the five MLPerf Tiny models, and seeded synthetic Keras models that widen
the range of layer shapes) is compiled with every kernel mix the planner can pick: the
portable kernels (in place and not), the CMSIS-NN backend under --prefer speed and
memory; and, so that every kernel gets measured on many layers and not only where
the planner happens to pick it, CMSIS-NN without tinyml's fast kernels and with the fast
kernels first; each with patches off and auto. Identical generated code is measured
once. Each image runs one inference under QEMU (`-icount shift=0`: instruction counts,
deterministic), whose bench protocol reports every layer's count in SysTick ticks of 40
instructions (31.25 on the M55): a layer's count is exact to within a tick, so layers
of a few ticks weigh little in the fit and are left out of the relative errors printed.

Per core and cost key (tinyml.costmodel.cost_key), the coefficients of the key's
features are fitted by non-negative least squares over its distinct layer shapes,
weighted by 1/sqrt(count + 1000) to balance absolute and relative error. The per-layer
overhead (the call and profiling hooks outside each layer's own count) is the median of
(total - sum of layers) / layers over the images. The script then prints, for every
distinct image, the estimated and measured totals; per core and key, the distribution of
per-layer errors; and, for each MLPerf Tiny model, its total errors when it is left out
of the fit (how the model does on networks it has not seen).

Measurements are cached in the user cache (`$TINYML_CACHE/costs`, keyed by the generated
code, the C kernels and the compiler), so a rerun only plans and fits. The first run takes
about 15 minutes on 2 cores (720 images, about 250 of them distinct; converting the synthetic
models needs TensorFlow, about a minute); a cached rerun about 2 minutes. Needs CMSIS-NN
and CMSIS (`tinyml packs install`, or CMSIS_NN_ROOT and CMSIS_ROOT).

    python benchmarks/fit_costs.py [--boards mps2-an386,mps2-an500,mps3-an547] [--jobs 2] [--output FILE] [--no-write]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from tinyml import pipeline
from tinyml.codegen.project import write_project
from tinyml.ir.graph import Graph
from tinyml.kernels import Kernel
from tinyml.kernels import costs as costmodel
from tinyml.kernels.backends import PORTABLE, Backend, CoreFeatures
from tinyml.kernels.cmsis_nn import cmsis_kernels
from tinyml.kernels.fast import FAST_KERNELS
from tinyml.measure.session import infer_all, session
from tinyml.plan import PlanOptions
from tinyml.reference.inputs import random_inputs
from tinyml.resources import cache_root, data_dir
from tinyml.target.boards import Board, load_board
from tinyml.target.build import build, build_cmsis_library
from tinyml.target.packs import CmsisPaths, find_cmsis
from tinyml.target.qemu import instructions_per_cycle

REPO = Path(__file__).resolve().parent.parent
MLPERF = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8", "str_ww_ref_model"]
BOARDS = ["mps2-an386", "mps2-an500", "mps3-an547"]
#: (label, backend kind, --prefer, in place); backend kinds: portable, cmsis-nn, cmsis-only (no fast kernels),
#: fast-first (tinyml's fast kernels before CMSIS-NN's, as on DSP cores: on the M55 they would rarely run)
MIXES = [
    ("portable", "portable", "memory", True),
    ("portable, not in place", "portable", "speed", False),
    ("cmsis-nn speed", "cmsis-nn", "speed", True),
    ("cmsis-nn memory", "cmsis-nn", "memory", True),
    ("cmsis-nn without fast kernels", "cmsis-only", "speed", True),
    ("fast kernels first", "fast-first", "speed", True),
    ("fast kernels first, memory", "fast-first", "memory", True),
]
PATCHES = ["off", "auto"]
#: layers below this many instructions are left out of the relative-error figures (a tick is 40)
SMALL = 2000


# --- synthetic models: many layer shapes per model, so few images cover them ---


def _convs(tf):  # type: ignore[no-untyped-def]
    L = tf.keras.layers
    a, b, c = tf.keras.Input((20, 20, 8)), tf.keras.Input((32, 32, 3)), tf.keras.Input((12, 16, 16))
    d, e = tf.keras.Input((1, 40, 12)), tf.keras.Input((25, 8, 1))
    outputs = [
        L.Conv2D(16, 3, padding="same")(a),
        L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(a),
        L.Conv2D(12, 5, padding="valid")(a),
        L.Conv2D(24, 1)(a),
        L.Conv2D(10, 1, strides=2)(a),
        L.Conv2D(6, 1, strides=2)(b),
        L.Conv2D(24, 1, strides=(2, 1))(c),
        L.Conv2D(16, 3, strides=2, padding="same")(b),
        L.Conv2D(8, 3, padding="same", activation="relu6")(b),
        L.Conv2D(6, 7, strides=2, padding="same")(b),
        L.Conv2D(32, 1)(c),
        L.Conv2D(20, 3, padding="same")(c),
        L.Conv2D(16, (3, 1), padding="same")(c),
        L.Conv2D(7, 3, padding="valid")(c),
        L.Conv2D(5, 2, strides=2, padding="valid")(c),
        L.Conv2D(16, (1, 3), padding="same")(d),
        L.Conv2D(24, (1, 5), strides=2, padding="valid")(d),
        L.Conv2D(8, (5, 3), strides=2, padding="same")(e),
        L.Conv2D(12, (10, 4), padding="same")(e),
        L.Conv2D(8, 3, dilation_rate=2, padding="same")(a),
    ]
    return tf.keras.Model([a, b, c, d, e], outputs), [(20, 20, 8), (32, 32, 3), (12, 16, 16), (1, 40, 12), (25, 8, 1)]


def _conv_chain(tf):  # type: ignore[no-untyped-def]
    """Convolutions whose input dies at them, so the in-place variants run (shapes kept, 1x1 and KxK)."""
    L = tf.keras.layers
    x = tf.keras.Input((22, 18, 12))
    y = L.Conv2D(12, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(12, 1, activation="relu")(y)
    y = L.Conv2D(24, 1)(y)
    y = L.Conv2D(24, (5, 5), padding="same", activation="relu")(y)
    y = L.Conv2D(8, 1)(y)
    y = L.Conv2D(8, (3, 3), padding="same")(y)
    y = L.Conv2D(8, (1, 5), padding="same")(y)
    y = L.Conv2D(6, 1, activation="relu6")(y)
    y = L.Conv2D(6, 3, padding="same")(y)
    y = L.Conv2D(16, 3, strides=2, padding="same")(y)
    y = L.Conv2D(16, 3, padding="same")(y)
    y = L.Conv2D(40, 1)(y)
    y = L.Conv2D(40, 3, padding="same")(y)
    return tf.keras.Model(x, L.Conv2D(10, 1)(y)), [(22, 18, 12)]


def _depthwise(tf):  # type: ignore[no-untyped-def]
    L = tf.keras.layers
    a, b, c = tf.keras.Input((24, 24, 16)), tf.keras.Input((10, 10, 32)), tf.keras.Input((48, 6, 8))
    d, e = tf.keras.Input((5, 40, 12)), tf.keras.Input((16, 16, 8))
    outputs = [
        L.DepthwiseConv2D(3, padding="same")(a),
        L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(a),
        L.DepthwiseConv2D(3, padding="valid")(a),
        L.DepthwiseConv2D(5, padding="same")(a),
        L.DepthwiseConv2D(3, padding="same", activation="relu6")(b),
        L.DepthwiseConv2D(3, strides=2, padding="same")(b),
        L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(b),
        L.DepthwiseConv2D(3, padding="same")(c),
        L.DepthwiseConv2D(3, strides=2, padding="same")(c),
        L.DepthwiseConv2D((3, 1), padding="same")(c),
        L.DepthwiseConv2D(3, padding="same")(d),
        L.DepthwiseConv2D(7, strides=2, padding="same")(d),
        L.DepthwiseConv2D(3, padding="same")(e),
        L.DepthwiseConv2D(3, dilation_rate=2, padding="same")(e),
        L.DepthwiseConv2D(2, strides=2, padding="valid")(e),
    ]
    return tf.keras.Model([a, b, c, d, e], outputs), [(24, 24, 16), (10, 10, 32), (48, 6, 8), (5, 40, 12), (16, 16, 8)]


def _depthwise_chain(tf):  # type: ignore[no-untyped-def]
    """Depthwise layers whose input dies at them: the in-place variants."""
    L = tf.keras.layers
    x = tf.keras.Input((30, 26, 8))
    y = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    y = L.DepthwiseConv2D(5, padding="same")(y)
    y = L.DepthwiseConv2D(3, strides=2, padding="same")(y)
    y = L.Conv2D(24, 1)(y)
    y = L.DepthwiseConv2D(3, padding="same", activation="relu6")(y)
    y = L.DepthwiseConv2D(3, strides=2, padding="valid")(y)
    y = L.DepthwiseConv2D((1, 5), padding="same")(y)
    y = L.Conv2D(48, 1)(y)
    y = L.DepthwiseConv2D(3, padding="same")(y)
    return tf.keras.Model(x, L.DepthwiseConv2D(3, padding="same")(y)), [(30, 26, 8)]


def _dense(tf):  # type: ignore[no-untyped-def]
    L = tf.keras.layers
    a, b, c, d = tf.keras.Input((64,)), tf.keras.Input((250,)), tf.keras.Input((33,)), tf.keras.Input((6, 20))
    outputs = [
        L.Dense(128)(a),
        L.Dense(3)(a),
        L.Dense(50, activation="relu")(b),
        L.Dense(640)(b),
        L.Dense(17)(c),
        L.Dense(4)(c),
        L.Dense(200)(c),
        L.Dense(10)(d),
        L.Dense(7, activation="relu")(L.Flatten()(d)),
    ]
    return tf.keras.Model([a, b, c, d], outputs), [(64,), (250,), (33,), (6, 20)]


def _pools_elementwise(tf):  # type: ignore[no-untyped-def]
    L = tf.keras.layers
    a, b = tf.keras.Input((16, 16, 12)), tf.keras.Input((16, 16, 12))
    c, d = tf.keras.Input((9, 7, 40)), tf.keras.Input((1, 1, 40))
    outputs = [
        L.MaxPooling2D(2)(a),
        L.MaxPooling2D(3, strides=1, padding="same")(a),
        L.AveragePooling2D(2)(b),
        L.AveragePooling2D(3, strides=2, padding="same")(b),
        L.AveragePooling2D((9, 7))(c),
        L.MaxPooling2D((3, 2), strides=(2, 1))(c),
        L.GlobalAveragePooling2D()(a),
        L.Add()([a, b]),
        L.Add()([c, d]),
        L.Multiply()([a, b]),
        L.Multiply()([c, d]),
        L.Add()([c, c]),
    ]
    return tf.keras.Model([a, b, c, d], outputs), [(16, 16, 12), (16, 16, 12), (9, 7, 40), (1, 1, 40)]


def _misc(tf):  # type: ignore[no-untyped-def]
    L = tf.keras.layers
    a, b, c = tf.keras.Input((12, 10, 8)), tf.keras.Input((12, 10, 4)), tf.keras.Input((100,))
    d = tf.keras.Input((5, 30))
    outputs = [
        L.Concatenate()([a, b]),
        L.Concatenate(axis=2)([b, b]),
        L.ReLU()(a),
        L.ReLU(max_value=6.0)(b),
        L.Activation("sigmoid")(c),
        L.Softmax()(c),
        L.Softmax()(d),
        L.Activation("sigmoid")(a),
        tf.keras.ops.mean(a, axis=[1, 2], keepdims=True),
        tf.keras.ops.mean(d, axis=1),
    ]
    return tf.keras.Model([a, b, c, d], outputs), [(12, 10, 8), (12, 10, 4), (100,), (5, 30)]


def _pads(tf):  # type: ignore[no-untyped-def]
    """PAD over rows and columns, and over channels (a single chain: the converter keeps PAD int8 there)."""
    L = tf.keras.layers
    x = tf.keras.Input((12, 10, 8))
    y = L.ZeroPadding2D(2)(x)
    y = L.Conv2D(4, 3, activation="relu")(y)
    y = L.ZeroPadding2D(((1, 0), (3, 1)))(y)
    y = L.Lambda(lambda t: tf.keras.ops.pad(t, [[0, 0], [0, 0], [0, 0], [2, 2]]))(y)
    return tf.keras.Model(x, L.Conv2D(4, 1)(y)), [(12, 10, 8)]


def _float_io(tf):  # type: ignore[no-untyped-def]
    """Float inputs and outputs: QUANTIZE and DEQUANTIZE at the edges."""
    L = tf.keras.layers
    a, b = tf.keras.Input((24, 24, 3)), tf.keras.Input((300,))
    y = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(a)
    return tf.keras.Model([a, b], [y, L.Dense(40)(b)]), [(24, 24, 3), (300,)]


#: name -> (Keras model builder, float inputs and outputs, per-tensor weights)
SYNTHETIC: dict[str, tuple[Callable, bool, bool]] = {  # type: ignore[type-arg]
    "convs": (_convs, False, False),
    "conv_chain": (_conv_chain, False, False),
    "depthwise": (_depthwise, False, False),
    "depthwise_chain": (_depthwise_chain, False, False),
    "dense": (_dense, False, False),
    "dense_per_tensor": (_dense, False, True),
    "pools_elementwise": (_pools_elementwise, False, False),
    "misc": (_misc, False, False),
    "pads": (_pads, False, False),
    "float_io": (_float_io, True, False),
}


def synthetic_model(name: str) -> Path:
    """The seeded int8 TFLite file of one synthetic model, converted once into the cache."""
    build_fn, float_io, per_tensor = SYNTHETIC[name]
    digest = hashlib.sha256(inspect.getsource(build_fn).encode()).hexdigest()[:12]
    path = cache_root() / "costs" / "models" / f"{name}-{digest}.tflite"
    if path.is_file():
        return path
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore")  # TensorFlow's deprecation notices, once per conversion
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model, shapes = build_fn(tf)
    rng = np.random.default_rng(0)
    names = [t.name for t in model.inputs]

    def representative():  # type: ignore[no-untyped-def]
        for _ in range(32):
            yield {
                n: rng.uniform(-1.5, 1.5, size=(1, *s)).astype(np.float32) for n, s in zip(names, shapes, strict=True)
            }

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if per_tensor:
        converter._experimental_disable_per_channel = True
    data = converter.convert()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


# --- measuring ---


@dataclass
class Measured:
    """One image: what ran (graph, kernels, in-place ops) and its counts, in instructions."""

    model: str
    board: Board
    mix: str
    patches: str
    graph: Graph
    kernels: list[Kernel]
    in_place: set[int]
    total: float
    layers: list[float]
    #: the generated code's hash: images with equal code are one measurement
    code: str

    @property
    def core(self) -> str:
        return costmodel.core_name(self.board)


@functools.cache
def firmware_fingerprint() -> str:
    """What the counts depend on besides the generated files: the C kernels and runtime, the board files and
    the compiler. (Not tinyml's Python: editing the cost model must not invalidate the measurements.)"""
    h = hashlib.sha256(subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True).stdout)
    for root in (data_dir("firmware"), data_dir("boards")):
        for path in sorted(root.rglob("*")):
            if path.is_file():
                h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def backend_for(kind: str, board: Board, cmsis: CmsisPaths) -> Backend:
    if kind == "portable":
        return PORTABLE
    kernels = cmsis_kernels(CoreFeatures.of(board), fast=kind == "cmsis-nn")
    if kind == "fast-first":
        kernels = {t: (*FAST_KERNELS.get(t, ()), *ks) for t, ks in kernels.items()}
    return Backend("cmsis-nn", kernels, cmsis)


def measure(model: Path, board: Board, cmsis: CmsisPaths, mix: tuple[str, str, str, bool], patches: str) -> Measured:
    """Plan and render `model`; run it (or read the cached counts of the same code) and return the counts."""
    label, kind, prefer, in_place = mix
    backend = backend_for(kind, board, cmsis)
    graph = pipeline.load(model)
    planned = pipeline.plan(graph, board, backend, PlanOptions(in_place=in_place, patches=patches, prefer=prefer))
    code = pipeline.render(planned, board, backend)
    h = hashlib.sha256(f"{board.name}|{firmware_fingerprint()}|{cmsis.nn}|{cmsis.core}".encode())
    for name, text in sorted(code.files.items()):
        h.update(name.encode() + b"\0" + text.encode())
    code_hash = h.hexdigest()[:24]
    record = cache_root() / "costs" / "measurements" / f"{code_hash}.json"
    if record.is_file():
        counts = json.loads(record.read_text())
    else:
        with tempfile.TemporaryDirectory(prefix="tinyml-costs-") as tmp:
            write_project(code, Path(tmp))
            elf = build(Path(tmp), board, backend.cmsis)
            data = b"".join(x.tobytes() for x in random_inputs(model, 0))
            with session(board, elf, planned.graph) as client:
                result = infer_all(client, [data])[0]
        scale = instructions_per_cycle(board)
        counts = {"total": result.total_cycles * scale, "layers": [c * scale for c in result.layer_cycles]}
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp_record = record.with_suffix(".part")
        tmp_record.write_text(json.dumps(counts))
        tmp_record.replace(record)
    return Measured(
        model.stem.split("-")[0] if model.parent.name == "models" else model.stem,
        board,
        label,
        patches,
        planned.graph,
        list(planned.plan.kernels),
        set(planned.plan.in_place),
        counts["total"],
        counts["layers"],
        code_hash,
    )


# --- fitting ---


@dataclass
class Sample:
    key: str
    features: dict[str, float]
    measured: float


def samples(runs: list[Measured]) -> dict[str, dict[str, list[Sample]]]:
    """Per core and key, every layer that ran code."""
    out: dict[str, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for i, (op, kernel) in enumerate(zip(run.graph.ops, run.kernels, strict=True)):
            if not costmodel.runs_code(op, kernel):
                continue
            key = costmodel.cost_key(op, kernel, i in run.in_place)
            out[run.core][key].append(Sample(key, costmodel.features(op, kernel, i in run.in_place), run.layers[i]))
    return out


def _shapes(rows: list[Sample], names: list[str]) -> dict[tuple[float, ...], list[float]]:
    """The measured counts of each distinct shape (its values of the features `names`)."""
    groups: dict[tuple[float, ...], list[float]] = defaultdict(list)
    for r in rows:
        groups[tuple(r.features[n] for n in names)].append(r.measured)
    return groups


def fit_key(rows: list[Sample]) -> dict[str, float]:
    """Non-negative least squares over the key's distinct shapes (mean count of each), weighted by
    1/sqrt(count + 1000): between absolute error (which the big layers, and so the totals, need) and relative
    error (which the small layers need); repeated shapes weigh sqrt(repeats).

    With fewer distinct shapes than features (a key met on one layer), the fit cannot tell a fixed cost per call
    from one that grows with the layer, and a solution all in `calls` prices every other size as that layer:
    such a key is fitted without `calls`, so its estimate scales with the layer's size."""
    names = list(rows[0].features)
    groups = _shapes(rows, names)
    if len(groups) < len(names) and "calls" in names and len(names) > 1:
        names = [n for n in names if n != "calls"]
        groups = _shapes(rows, names)
    x = np.array(list(groups), dtype=float)
    y = np.array([statistics.fmean(v) for v in groups.values()])
    w = np.sqrt([len(v) for v in groups.values()]) / np.sqrt(y + 1000.0)
    a = x * w[:, None]
    scale = np.linalg.norm(a, axis=0)
    scale[scale == 0] = 1.0
    coefs, _ = nnls(a / scale, y * w, maxiter=50 * len(names))
    return {n: float(c / s) for n, c, s in zip(names, coefs, scale, strict=True) if c > 0}


def distinct(runs: list[Measured]) -> list[Measured]:
    """One run per distinct image (mixes often generate the same code)."""
    return list({run.code: run for run in runs}.values())


def fit(runs: list[Measured]) -> costmodel.CostModel:
    runs = distinct(runs)
    cores = {}
    for core, keys in samples(runs).items():
        kernels = {key: fit_key(rows) or {"calls": 0.0} for key, rows in keys.items()}
        gaps = []
        for run in runs:
            if run.core == core:
                ran = sum(1 for op, k in zip(run.graph.ops, run.kernels, strict=True) if costmodel.runs_code(op, k))
                gaps.append((run.total - sum(run.layers)) / max(ran, 1))
        cores[core] = costmodel.CoreCosts(kernels, statistics.median(gaps))
    meta = {
        "unit": "instructions under QEMU -icount shift=0, the stand-in for cycles",
        "fitted_by": "benchmarks/fit_costs.py",
        "boards": {costmodel.core_name(r.board): r.board.name for r in runs},
    }
    return costmodel.CostModel(cores, meta)


# --- reporting ---


def total_error(model: costmodel.CostModel, run: Measured) -> float:
    """(estimated - measured) / measured for the image's whole inference."""
    estimate = model.plan_cycles(run.graph, run.kernels, run.in_place, run.core)
    return (estimate - run.total) / run.total


def report(model: costmodel.CostModel, runs: list[Measured]) -> float:
    """Print estimated against measured totals per image and the per-layer errors; returns the worst total error."""
    mixes: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        mixes[run.code].append(f"{run.mix}, patches {run.patches}")
    worst = 0.0
    print(f"{'model':<24} {'board':<11} {'measured':>12} {'estimated':>12} {'error':>7}  mixes (same code)")
    for run in sorted(distinct(runs), key=lambda r: (r.board.name, r.model, r.total)):
        error = total_error(model, run)
        worst = max(worst, abs(error))
        estimate = model.plan_cycles(run.graph, run.kernels, run.in_place, run.core)
        print(
            f"{run.model:<24} {run.board.name:<11} {run.total:>12,.0f} {estimate:>12,.0f} {100 * error:>+6.1f}%  "
            + "; ".join(mixes[run.code])
        )
    for core in sorted({r.core for r in runs}):
        errors: dict[str, list[float]] = defaultdict(list)
        for run in distinct(runs):
            if run.core != core:
                continue
            estimates = model.layer_cycles(run.graph, run.kernels, run.in_place, core)
            for i, (op, kernel) in enumerate(zip(run.graph.ops, run.kernels, strict=True)):
                if costmodel.runs_code(op, kernel) and run.layers[i] >= SMALL:
                    key = costmodel.cost_key(op, kernel, i in run.in_place)
                    errors[key].append((estimates[i] - run.layers[i]) / run.layers[i])
        print(f"\nper-layer error on {core} (layers of {SMALL:,}+ instructions): |error| median, 90th percentile, max")
        every = [abs(e) for es in errors.values() for e in es]
        for key, es in sorted(errors.items()):
            print(f"  {key:<34} {len(es):>5} layers {_distribution([abs(e) for e in es])}")
        print(f"  {'all':<34} {len(every):>5} layers {_distribution(every)}")
    return worst


def holdout(runs: list[Measured]) -> None:
    """Each MLPerf Tiny model's total errors when its own images are left out of the fit: how the model does on
    networks it has not seen."""
    print("\nleft out of the fit: worst |total error| over the model's images, per core")
    for name in MLPERF:
        without = fit([r for r in runs if r.model != name])
        worst: dict[str, float] = defaultdict(float)
        for run in distinct(runs):
            if run.model == name:
                worst[run.core] = max(worst[run.core], abs(total_error(without, run)))
        print(f"  {name:<24} " + "  ".join(f"{core} {100 * e:.1f}%" for core, e in sorted(worst.items())))


def _distribution(values: list[float]) -> str:
    v = np.array(values)
    return f"{100 * np.median(v):>6.1f}% {100 * np.percentile(v, 90):>6.1f}% {100 * v.max():>6.1f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", default=",".join(BOARDS))
    default_models = os.environ.get("TINYML_MODELS", REPO.parent / "shared" / "models" / "mlperf-tiny")
    parser.add_argument("--models", type=Path, default=Path(default_models), help="the MLPerf Tiny models")
    parser.add_argument("--jobs", type=int, default=2, help="images built and run at a time")
    parser.add_argument("--output", type=Path, default=costmodel.COEFFICIENTS)
    parser.add_argument("--no-write", action="store_true", help="fit and print, but leave the coefficients alone")
    args = parser.parse_args()
    cmsis, where = find_cmsis()
    if cmsis is None:
        print(f"fit_costs: CMSIS-NN not found (looked for {where}); set CMSIS_NN_ROOT and CMSIS_ROOT", file=sys.stderr)
        return 2
    start = time.monotonic()
    models = [args.models / f"{m}.tflite" for m in MLPERF] + [synthetic_model(name) for name in SYNTHETIC]
    boards = [load_board(b) for b in args.boards.split(",")]
    for board in boards:
        build_cmsis_library(cmsis, board)
    jobs = [(m, b, mix, p) for b in boards for m in models for mix in MIXES for p in PATCHES]
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(lambda job: measure(job[0], job[1], cmsis, *job[2:]), jobs))
    measured = time.monotonic()
    model = fit(runs)
    worst = report(model, runs)
    holdout(runs)
    took = f"measured in {measured - start:.0f} s, fitted and checked in {time.monotonic() - measured:.0f} s"
    print(f"\n{len(runs)} images ({len(distinct(runs))} distinct); {took}")
    print(f"worst model total error: {100 * worst:.1f}%")
    if not args.no_write:
        args.output.write_text(model.to_json())
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
