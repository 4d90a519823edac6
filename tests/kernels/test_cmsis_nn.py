"""The CMSIS-NN kernel backend: scratch sizes equal CMSIS-NN's own, outputs equal TFLite Micro's.

Everything that needs CMSIS-NN is skipped, naming where tinyml looked, when
`tinyml.target.packs.find_cmsis()` finds no CMSIS-NN and CMSIS trees (set
CMSIS_NN_ROOT and CMSIS_ROOT, or `tinyml packs install`). One module-wide
cache holds the CMSIS-NN library built per core, so each core's is built once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from keras_models import convert
from support import (
    CMSIS,
    assert_bit_exact,
    assert_runs_bit_exact,
    cmsis_args,
    mlperf_dir,
    needs_cmsis,
    suite_cache,
    tinyml,
)

from tinyml.frontend.tflite import load_model
from tinyml.ir.graph import Graph
from tinyml.kernels import REGISTRY
from tinyml.kernels import cmsis_nn as cn
from tinyml.kernels.backends import Backend, CoreFeatures, select_backend
from tinyml.passes import optimize
from tinyml.plan import ALIGNMENT, Planned, PlanOptions, PlanTarget, plan_memory, plan_model
from tinyml.plan.choice import TIE
from tinyml.target.boards import list_boards, load_board
from tinyml.target.build import build_cmsis_library

MODELS = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "str_ww_ref_model", "vww_96_int8"]
BOARDS = ["mps2-an500", "mps2-an386", "mps3-an547"]
CORES: dict[cn.Core, CoreFeatures] = {
    "plain": CoreFeatures(),
    "dsp": CoreFeatures(dsp=True),
    "mve": CoreFeatures(dsp=True, mve=True),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One TINYML_CACHE for the module, in this process too: the CMSIS-NN library is built once per core."""
    path = suite_cache(tmp_path_factory)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TINYML_CACHE", str(path))
        yield path


def _graph(name: str) -> Graph:
    return optimize(load_model(mlperf_dir() / f"{name}.tflite"))


def _graphs(name: str) -> list[Graph]:
    """The model layer by layer, and as --prefer memory runs it (early layers patch by patch, when chosen)."""
    graph = _graph(name)
    backend = Backend("cmsis-nn", cn.cmsis_kernels(CORES["dsp"]), CMSIS)
    return [graph, plan_model(graph, backend, PlanOptions(prefer="memory")).graph]


def _covered(backend: Backend, planned: Planned) -> list[str]:
    """Op types CMSIS-NN covers that the plan runs on the portable kernel anyway."""
    ops = zip(planned.graph.ops, planned.plan.kernels, strict=True)
    return [op.type for op, k in ops if op.type in backend.overrides and k is REGISTRY[op.type]]


def _slower(backend: Backend, planned: Planned, core: str) -> list[str]:
    """Ops the plan runs on the portable kernel though a CMSIS-NN kernel that accepts them is estimated faster, by
    more than the planner's tie margin."""
    ops = zip(planned.graph.ops, planned.plan.kernels, strict=True)
    return [
        op.type
        for op, k in ops
        if k is REGISTRY[op.type] and any(c.cost(op, core) * (1 + TIE) < k.cost(op, core) for c in backend.choices(op))
    ]


def _cmsis_first(backend: Backend) -> Backend:
    """`backend` with CMSIS-NN's kernels priced to win wherever they accept an op, so the kernel tests run every
    variant on CMSIS-NN (the planner takes the portable kernel where the cost model finds it faster)."""

    def first(kernel: cn.CmsisKernel) -> cn.CmsisKernel:
        base = type(kernel)
        return type(base.__name__, (base,), {"cost": lambda self, op, core, in_place=False: 0})(kernel.core)

    return Backend(backend.name, {t: tuple(map(first, ks)) for t, ks in backend.overrides.items()}, backend.cmsis)


# --- scratch: the Python twins against CMSIS-NN's C, for every layer of every MLPerf Tiny model ---

#: geometries the MLPerf models do not reach: 1xN (odd padding, negative total padding), one-input-channel
#: depthwise (MVE runs it as a conv), batches, dilation, groups, 3x3 depthwise with padding 2
EXTRA_CONV = [
    cn.ConvGeometry((1, 1), (1, 0), (1, 1), (1, 1, 16, 4), (8, 1, 3, 4), (1, 1, 16, 8)),
    cn.ConvGeometry((2, 1), (0, 0), (1, 1), (1, 1, 10, 2), (8, 1, 3, 2), (1, 1, 4, 8)),
    cn.ConvGeometry((2, 1), (2, 0), (1, 1), (1, 1, 21, 8), (8, 1, 5, 8), (1, 1, 11, 8)),
    cn.ConvGeometry((1, 1), (0, 0), (1, 1), (1, 1, 7, 12), (3, 1, 1, 12), (1, 1, 7, 3)),
    cn.ConvGeometry((1, 1), (1, 1), (2, 2), (2, 9, 9, 8), (4, 3, 3, 8), (2, 9, 9, 4)),
    cn.ConvGeometry((1, 1), (0, 0), (1, 1), (1, 6, 6, 8), (8, 3, 3, 4), (1, 4, 4, 8)),
]
EXTRA_DW = [
    cn.ConvGeometry((1, 1), (1, 1), (1, 1), (1, 8, 8, 1), (1, 3, 3, 4), (1, 8, 8, 4), 4),
    cn.ConvGeometry((1, 1), (0, 0), (1, 1), (1, 8, 8, 1), (1, 1, 1, 6), (1, 8, 8, 6), 6),
    cn.ConvGeometry((1, 1), (2, 2), (1, 1), (1, 7, 7, 16), (1, 5, 5, 16), (1, 7, 7, 16)),
    cn.ConvGeometry((1, 1), (1, 1), (1, 1), (2, 7, 7, 16), (1, 3, 3, 16), (2, 7, 7, 16)),
    cn.ConvGeometry((2, 2), (1, 1), (2, 2), (1, 9, 9, 8), (1, 3, 3, 16), (1, 5, 5, 16), 2),
    cn.ConvGeometry((1, 1), (0, 0), (1, 1), (1, 5, 5, 1), (1, 3, 3, 1), (1, 3, 3, 1)),
]


def _c_dims(d: tuple[int, ...]) -> str:
    return "{" + ", ".join(map(str, d)) + "}"


def _c_conv_call(function: str, g: cn.ConvGeometry, depthwise: bool) -> str:
    tiles = f"{_c_dims(g.stride)}, {_c_dims(g.padding)}, {_c_dims(g.dilation)}, {{-128, 127}}"
    params = f"{{0, 0, {g.ch_mult}, {tiles}}}" if depthwise else f"{{0, 0, {tiles}}}"
    kind = "cmsis_nn_dw_conv_params" if depthwise else "cmsis_nn_conv_params"
    return (
        f"{{ const {kind} p = {params}; const cmsis_nn_dims i = {_c_dims(g.input)}, f = {_c_dims(g.filter)}, "
        f"o = {_c_dims(g.output)}; SIZES({function}, &p, &i, &f, &o); }}"
    )


def _buffer_size_cases() -> list[tuple[str, dict[cn.Core, int], str]]:
    """(label, Python size per core, C statement printing CMSIS-NN's plain, _dsp and _mve sizes)."""
    cases = []
    for name in MODELS:
        for i, op in enumerate(op for graph in _graphs(name) for op in graph.ops):
            kernels = {core: cn.cmsis_kernels(f, fast=False).get(op.type, (None,))[0] for core, f in CORES.items()}
            k = kernels["plain"]
            if k is None:
                continue
            if op.type == "CONV_2D":
                call = _c_conv_call("arm_convolve_wrapper_s8_get_buffer_size", k.geometry(op), False)
            elif op.type == "DEPTHWISE_CONV_2D":
                call = _c_conv_call("arm_depthwise_conv_wrapper_s8_get_buffer_size", k.geometry(op), True)
            elif op.type == "FULLY_CONNECTED":
                f = _c_dims(k.geometry(op).filter)
                call = f"{{ const cmsis_nn_dims f = {f}; SIZES(arm_fully_connected_s8_get_buffer_size, &f); }}"
            elif op.type == "AVERAGE_POOL_2D":
                g = k.geometry(op)
                call = f"SIZES(arm_avgpool_s8_get_buffer_size, {g.output[2]}, {g.output[3]});"
            else:
                call = 'printf("0 0 0\\n");'  # no get_buffer_size: CMSIS-NN needs no scratch for it
            sizes = {core: kern.buffer_size(op) for core, kern in kernels.items() if kern is not None}
            cases.append((f"{name} op {i} {op.type}", sizes, call))
    for g in EXTRA_CONV:
        sizes = {core: cn.conv_wrapper_buffer_size(core, g) for core in CORES}
        cases.append((f"conv {g}", sizes, _c_conv_call("arm_convolve_wrapper_s8_get_buffer_size", g, False)))
    for g in EXTRA_DW:
        sizes = {core: cn.depthwise_wrapper_buffer_size(core, g) for core in CORES}
        cases.append((f"depthwise {g}", sizes, _c_conv_call("arm_depthwise_conv_wrapper_s8_get_buffer_size", g, True)))
    return cases


@needs_cmsis
def test_scratch_equals_cmsis_nn_get_buffer_size(tmp_path, cache):
    """Python's buffer sizes equal CMSIS-NN's plain, _dsp and _mve get_buffer_size, called from C.

    The program is built for the host, so the un-suffixed functions give the
    plain-C sizes; the _dsp and _mve ones are what DSP and MVE builds return.
    """
    assert CMSIS is not None
    cases = _buffer_size_cases()
    body = "\n".join(f"  {call}" for _, _, call in cases)
    (tmp_path / "sizes.c").write_text(
        '#include <stdio.h>\n#include "arm_nnfunctions.h"\n'
        '#define SIZES(f, ...) printf("%d %d %d\\n", (int)f(__VA_ARGS__), (int)f##_dsp(__VA_ARGS__), '
        "(int)f##_mve(__VA_ARGS__))\n"
        f"int main(void) {{\n{body}\n  return 0;\n}}\n"
    )
    lib = build_cmsis_library(CMSIS, load_board("host"))
    includes = [f"-I{d}" for d in CMSIS.include_dirs]
    subprocess.run(
        ["gcc", "-std=c99", "-O1", *includes, "-o", str(tmp_path / "sizes"), str(tmp_path / "sizes.c"), str(lib)],
        check=True,
    )
    lines = subprocess.run([str(tmp_path / "sizes")], capture_output=True, text=True, check=True).stdout.splitlines()
    mismatches = []
    for (label, sizes, _), line in zip(cases, lines, strict=True):
        c_sizes = dict(zip(CORES, map(int, line.split()), strict=True))
        if any(sizes[core] != c_sizes[core] for core in sizes):
            mismatches.append(f"{label}: python {sizes}, CMSIS-NN {c_sizes}")
    assert not mismatches, "\n".join(mismatches)
    assert len(cases) > 60  # every layer of the five models was compared


@needs_cmsis
def test_planned_scratch_is_the_cores_buffer_size():
    """Each op's scratch is its CMSIS-NN buffer size on that core, except MVE fully connected kernel sums (flash)."""
    seen_nonzero = set()
    for core, features in CORES.items():
        backend = Backend("cmsis-nn", cn.cmsis_kernels(features, fast=False), CMSIS)
        target = PlanTarget("cortex-m55" if features.mve else "cortex-m7")  # kernels priced on their core
        for name in MODELS:
            graph = _graph(name)
            plan = plan_memory(graph, backend, PlanOptions(prefer="speed"), target)
            for i, op in enumerate(graph.ops):
                kernel = plan.kernels[i]
                if not isinstance(kernel, cn.CmsisKernel):
                    continue
                want = 0 if op.type == "FULLY_CONNECTED" else kernel.buffer_size(op)
                assert kernel.scratch_bytes(op) == want, (core, name, i)
                assert plan.scratch.get(i, (0, 0))[1] == -(-want // ALIGNMENT) * ALIGNMENT, (core, name, i)
                if want:
                    seen_nonzero.add((core, op.type))
    assert {("dsp", "CONV_2D"), ("dsp", "AVERAGE_POOL_2D"), ("mve", "DEPTHWISE_CONV_2D")} <= seen_nonzero
    assert cn.cmsis_kernels(CORES["mve"])["FULLY_CONNECTED"][0].buffer_size(_graph("ad01_int8").ops[0]) == 128 * 4


def test_board_core_features_match_the_compiler():
    """The scratch sizes follow each board's `dsp`/`mve` flags; CMSIS-NN follows what GCC defines for its flags."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    for board in list_boards():
        if board.kind != "mcu":
            continue
        flags = board.raw["cpu"]["gcc_flags"]
        macros = subprocess.run(
            ["arm-none-eabi-gcc", *flags, "-dM", "-E", "-"], input="", capture_output=True, text=True, check=True
        ).stdout
        features = CoreFeatures.of(board)
        assert ("__ARM_FEATURE_DSP 1" in macros) == features.dsp, board.name
        assert any(f"__ARM_FEATURE_MVE {v}" in macros for v in (1, 3)) == features.mve, board.name


# --- bit-exact on the host ---


def _host_backend() -> Backend:
    assert CMSIS is not None
    backend = select_backend(load_board("host"), "cmsis-nn", str(CMSIS.nn), str(CMSIS.core))
    assert backend.name == "cmsis-nn" and backend.cmsis is not None
    return backend


def _assert_host_bit_exact(
    model: Path, work: Path, patches: str = "auto", prefer: str = "memory", backend: Backend | None = None
) -> Planned:
    """Compile `model` for the host with CMSIS-NN kernels, as the CLI does, and compare every output byte with TFLM."""
    options = PlanOptions(patches=patches, prefer=prefer)
    planned = assert_bit_exact(model, work, backend=backend or _host_backend(), options=options)
    assert "arm_nnfunctions.h" in (work / "project" / "model.c").read_text()
    return planned


@needs_cmsis
@pytest.mark.parametrize("name", MODELS)
def test_mlperf_on_host_is_bit_exact_with_the_fastest_kernels(name, tmp_path, cache):
    planned = _assert_host_bit_exact(mlperf_dir() / f"{name}.tflite", tmp_path, "off", "speed")
    assert _slower(_host_backend(), planned, "host") == []  # CMSIS-NN wherever it is the faster kernel


@needs_cmsis
@pytest.mark.parametrize("name", MODELS)
def test_mlperf_on_host_is_bit_exact_in_the_least_memory(name, tmp_path, cache):
    """--prefer memory: CMSIS-NN gives way to in-place portable kernels where they lower the peak: never above the
    portable kernels' smallest plan."""
    model = mlperf_dir() / f"{name}.tflite"
    planned = _assert_host_bit_exact(model, tmp_path, "auto", "memory")
    assert planned.plan.peak <= plan_model(optimize(load_model(model)), options=PlanOptions(prefer="memory")).plan.peak


def _conv_variants():
    """Per-channel weights: 1x1 (unit and strided), 3x3 SAME, strided VALID, grouped, 1xN, depthwise with
    multiplier 1 (3x3 and 5x5), 2, and from one input channel (MVE turns that into a conv)."""
    import tensorflow as tf

    L = tf.keras.layers
    x = tf.keras.Input((10, 9, 8))
    row = tf.keras.Input((1, 16, 4))
    mono = tf.keras.Input((8, 8, 1))
    outputs = [
        L.Conv2D(12, 1)(x),
        L.Conv2D(4, 1, strides=2, activation="relu")(x),
        L.Conv2D(8, 3, padding="same")(x),
        L.Conv2D(6, 3, strides=2, padding="valid", activation="relu")(x),
        L.Conv2D(8, 3, groups=2)(x),
        L.Conv2D(8, (1, 3), padding="same")(row),
        L.DepthwiseConv2D(3, padding="same", activation="relu6")(x),
        L.DepthwiseConv2D(5, padding="same")(x),
        L.DepthwiseConv2D((3, 5), strides=2, depth_multiplier=2, padding="same")(x),
        L.DepthwiseConv2D(3, depth_multiplier=4, padding="same")(mono),
    ]
    return tf.keras.Model([x, row, mono], outputs)


CONV_SHAPES = [(10, 9, 8), (1, 16, 4), (8, 8, 1)]


def _other_ops():
    """Per-tensor weights: conv, FC, SOFTMAX, both pools, ADD and MUL of equal shapes, and a broadcasting
    ADD (CMSIS-NN has none: the portable kernel runs it)."""
    import tensorflow as tf

    L = tf.keras.layers
    x = tf.keras.Input((8, 8, 6))
    c = L.Conv2D(6, 3, padding="same")(x)
    added = L.ReLU()(L.Add()([x, c]))
    multiplied = L.Multiply()([x, c])
    pooled = L.AveragePooling2D(2)(added)
    probs = L.Softmax()(L.Dense(10)(L.Flatten()(pooled)))
    return tf.keras.Model(
        x,
        [
            probs,
            L.MaxPooling2D(2)(multiplied),
            L.AveragePooling2D(3, strides=2, padding="same")(x),
            x + tf.constant(np.linspace(-1, 1, 6, dtype=np.float32)),
        ],
    )


@pytest.fixture(scope="module")
def op_models(tmp_path_factory) -> dict[str, Path]:
    """Two multi-branch models covering the kernel variants; run layer by layer (no patches): they test kernels."""
    folder = tmp_path_factory.mktemp("models")
    return {
        "conv_variants": convert(_conv_variants, CONV_SHAPES, folder / "conv_variants.tflite"),
        "other_ops": convert(_other_ops, [(8, 8, 6)], folder / "other_ops.tflite", per_tensor=True),
    }


@needs_cmsis
def test_conv_variants_on_host_are_bit_exact(op_models, tmp_path, cache):
    backend = _cmsis_first(_host_backend())
    planned = _assert_host_bit_exact(op_models["conv_variants"], tmp_path, "off", "speed", backend)
    graph = planned.graph
    assert _covered(backend, planned) == []
    geometries = [backend.kernel(op).geometry(op) for op in graph.ops]  # type: ignore[attr-defined]
    assert any(cn.is_conv_1_x_n(g) for g in geometries) and {g.ch_mult for g in geometries} >= {2, 4}


@needs_cmsis
def test_other_ops_on_host_are_bit_exact(op_models, tmp_path, cache):
    backend = _cmsis_first(_host_backend())
    planned = _assert_host_bit_exact(op_models["other_ops"], tmp_path, "off", "speed", backend)
    graph = planned.graph
    assert _covered(backend, planned) == ["ADD"]  # the broadcasting one: CMSIS-NN has no such kernel
    types = [op.type for op in graph.ops]
    for t in ("CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MUL"):
        assert t in types, types
    assert types.count("ADD") == 2
    fc = next(op for op in graph.ops if op.type == "FULLY_CONNECTED")
    assert not fc.input(1).quant.per_channel  # type: ignore[union-attr]


# --- bit-exact on emulated Cortex-M cores, through the CLI ---


@needs_cmsis
@pytest.mark.parametrize("board", BOARDS)
def test_mlperf_on_emulated_cores_is_bit_exact(board, tmp_path, cache):
    """Every MLPerf Tiny model on the M7 and M4 (DSP) and the M55 (MVE), with CMSIS-NN wherever it covers an op."""
    models = {name: mlperf_dir() / f"{name}.tflite" for name in MODELS}
    assert_runs_bit_exact(board, models, tmp_path, cache, CMSIS, "--prefer", "speed")


@needs_cmsis
@pytest.mark.parametrize("board", ["mps2-an500", "mps3-an547"])
def test_op_variants_on_emulated_cores_are_bit_exact(board, op_models, tmp_path, cache):
    """The DSP and MVE code paths of the per-op models (1xN, multipliers, one-channel depthwise, pools...)."""
    assert_runs_bit_exact(board, op_models, tmp_path, cache, CMSIS, "--patches", "off", "--prefer", "speed")


# --- the report shows CMSIS-NN's scratch ---


@needs_cmsis
def test_report_includes_cmsis_scratch(cache):
    """With every layer on its fastest kernel (what the roomy emulated boards get by default)."""
    model = str(mlperf_dir() / "kws_ref_model.tflite")
    layers = {}
    for board in ("mps2-an500", "mps3-an547"):
        proc = tinyml("report", model, "--board", board, *cmsis_args(CMSIS), "--prefer", "speed", "--json", cache=cache)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        layers[board] = {(layer["index"], layer["op"]): layer["scratch_bytes"] for layer in report["layers"]}
        assert report["kernels"] == "cmsis-nn" and max(layers[board].values()) > 0
    # the first conv (10x4 window, one channel) im2cols through int16 columns on DSP, int8 ones on MVE
    # on the M7 the conv and depthwise run tinyml's fast DSP kernels (tests/kernels/test_fast.py), whose
    # scratch is their own; the M55 keeps CMSIS-NN's MVE kernels and their buffer sizes
    assert layers["mps2-an500"][(0, "CONV_2D")] == 208 and layers["mps3-an547"][(0, "CONV_2D")] == 192
    # DSP: 3x3 depthwise needs nothing, average pooling an int32 per channel; MVE the reverse
    dsp, mve = layers["mps2-an500"], layers["mps3-an547"]
    assert dsp[(1, "DEPTHWISE_CONV_2D")] == 496 and dsp[(9, "AVERAGE_POOL_2D")] == 256
    assert mve[(1, "DEPTHWISE_CONV_2D")] == 4 * 124 * 9 and mve[(9, "AVERAGE_POOL_2D")] == 0
    portable = tinyml("report", model, "--board", "mps2-an500", "--kernels", "portable", "--json", cache=cache)
    assert json.loads(portable.stdout)["layers"][0]["scratch_bytes"] == 0
    # over a budget nothing fits, the plan is the smallest (not the fastest, which needs 20 KB) and says so
    over = tinyml("report", model, "--board", "mps3-an547", *cmsis_args(CMSIS), "--sram-budget", "16K", cache=cache)
    assert over.returncode == 3 and "the smallest plan tinyml finds" in over.stderr, over.stderr
    smallest = tinyml("report", model, "--board", "mps3-an547", *cmsis_args(CMSIS), "--prefer", "memory", "--json")
    assert f"its peak is {json.loads(smallest.stdout)['sram']['peak_bytes']:,} bytes" in over.stderr


# --- without CMSIS (runs everywhere) ---


def test_without_cmsis(tmp_path):
    """`--kernels cmsis-nn` fails with exit 20 and one line; `auto` on a board warns once and builds portable."""
    env = {"CMSIS_NN_ROOT": "", "CMSIS_ROOT": ""}
    model = str(mlperf_dir() / "ad01_int8.tflite")
    cache = tmp_path / "cache"
    args = ("compile", model, "--board", "mps2-an500", "--kernels", "cmsis-nn", "-o", str(tmp_path / "a"))
    proc = tinyml(*args, cache=cache, env=env)
    assert proc.returncode == 20, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinyml: error: --kernels cmsis-nn: CMSIS-NN not found")
    assert "CMSIS_NN_ROOT" in lines[0] and "(fix: " in lines[0] and not (tmp_path / "a").exists()

    proc = tinyml("compile", model, "--board", "mps2-an500", "-o", str(tmp_path / "b"), cache=cache, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinyml: warning: CMSIS-NN not found, using the portable kernels")
    assert (tmp_path / "b" / "firmware.elf").is_file()
    assert "arm_nnfunctions.h" not in (tmp_path / "b" / "model.c").read_text()
