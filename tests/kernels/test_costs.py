"""The kernel cost model against measurement: every MLPerf Tiny model, every kernel mix the planner can pick,
on the emulated Cortex-M4 (mps2-an386) and Cortex-M7 (mps2-an500).

Each plan is built and run once under QEMU (`-icount shift=0`: instructions, deterministic); the estimate of
the whole inference must be within 15% of the measured count, and every big layer's within 25%. Images are
built and run two at a time, identical generated code once. The CMSIS-NN mixes are skipped, naming where
tinyml looked, when CMSIS-NN is not found (set CMSIS_NN_ROOT and CMSIS_ROOT).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from int16_models import quantize_chain
from support import CMSIS, CMSIS_WHERE, mlperf_dir, suite_cache

from tinyml import pipeline
from tinyml.codegen.project import write_project
from tinyml.codegen.render import ModelCode, render_model
from tinyml.frontend.tflite import load_model
from tinyml.kernels import REGISTRY
from tinyml.kernels import costs as costmodel
from tinyml.kernels.backends import PORTABLE, Backend, select_backend
from tinyml.kernels.cmsis_nn import CmsisConv2D, CmsisDepthwiseConv2D
from tinyml.kernels.fast import FastConv1x1
from tinyml.measure.session import infer_all, session
from tinyml.passes import optimize
from tinyml.plan import Planned, PlanOptions, plan_model
from tinyml.reference.inputs import random_inputs
from tinyml.target.boards import Board, load_board
from tinyml.target.build import build, build_cmsis_library
from tinyml.target.qemu import instructions_per_cycle

MODELS = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "str_ww_ref_model", "vww_96_int8"]
BOARDS = ["mps2-an386", "mps2-an500"]
#: (kernels, --prefer): what the planner can choose between (speed: the fastest; memory: in-place kernels, patches)
MIXES = [("portable", "speed"), ("portable", "memory"), ("cmsis-nn", "speed"), ("cmsis-nn", "memory")]
TOTAL_TOLERANCE = 0.15
#: layers of at least this many instructions must each be estimated within LAYER_TOLERANCE
BIG_LAYER = 50_000
LAYER_TOLERANCE = 0.25


@dataclass
class Case:
    """One plan: the estimate and the measurement of each layer and of the whole inference, in instructions."""

    estimated_layers: list[int]
    measured_layers: list[float]
    estimated: int
    measured: float
    keys: list[str]


@dataclass
class Image:
    """A planned case, ready to build: board, backend, plan and generated code (hashed: equal code runs once)."""

    board: Board
    backend: Backend
    planned: Planned
    code: ModelCode
    key: str


def _plan(name: str, board_name: str, kernels: str, prefer: str) -> Image:
    board = load_board(board_name)
    backend = PORTABLE if kernels == "portable" else select_backend(board, "cmsis-nn", str(CMSIS.nn), str(CMSIS.core))
    graph = optimize(load_model(mlperf_dir() / f"{name}.tflite"))
    planned = plan_model(graph, backend, PlanOptions(prefer=prefer), pipeline.plan_target(board))
    code = render_model(planned.graph, planned.plan, board, backend)
    h = hashlib.sha256(board_name.encode())
    for file, text in sorted(code.files.items()):
        h.update(file.encode() + b"\0" + text.encode())
    return Image(board, backend, planned, code, h.hexdigest()[:16])


def _run(image: Image, model: Path, work: Path) -> list[float]:
    """Build and run one inference; the total, then each layer's count, in instructions."""
    project = work / image.key
    project.mkdir()
    write_project(image.code, project)
    elf = build(project, image.board, image.backend.cmsis)
    data = b"".join(x.tobytes() for x in random_inputs(model, 0))
    with session(image.board, elf, image.planned.graph) as client:
        result = infer_all(client, [data])[0]
    scale = instructions_per_cycle(image.board)
    return [result.total_cycles * scale, *(c * scale for c in result.layer_cycles)]


def _case(image: Image, counts: list[float]) -> Case:
    core = costmodel.core_name(image.board)
    graph, kernels, in_place = image.planned.graph, image.planned.plan.kernels, image.planned.plan.in_place
    ops = enumerate(zip(graph.ops, kernels, strict=True))
    return Case(
        estimated_layers=costmodel.default_model().layer_cycles(graph, kernels, in_place, core),
        measured_layers=counts[1:],
        estimated=costmodel.plan_cycles(graph, kernels, in_place, core),
        measured=counts[0],
        keys=[costmodel.cost_key(op, k, i in in_place) for i, (op, k) in ops],
    )


CASES = [(m, b, k, p) for b in BOARDS for m in MODELS for k, p in MIXES]


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict[tuple[str, str, str, str], Case]:
    """Every case that can run here: planned one by one, then each distinct image built and run, two at a time
    (one TINYML_CACHE: CMSIS-NN is built once per core)."""
    cache = suite_cache(tmp_path_factory)
    work = tmp_path_factory.mktemp("images")
    cases = [c for c in CASES if c[2] == "portable" or CMSIS is not None]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TINYML_CACHE", str(cache))
        if CMSIS is not None:
            for board in BOARDS:
                build_cmsis_library(CMSIS, load_board(board))
        images = {case: _plan(*case) for case in cases}
        distinct = {image.key: (image, mlperf_dir() / f"{case[0]}.tflite") for case, image in images.items()}
        with ThreadPoolExecutor(2) as pool:
            counts = dict(zip(distinct, pool.map(lambda job: _run(*job, work), distinct.values()), strict=True))
    return {case: _case(image, counts[image.key]) for case, image in images.items()}


@pytest.mark.parametrize(("name", "board", "kernels", "prefer"), CASES)
def test_estimate_matches_measurement(name, board, kernels, prefer, measured):
    if kernels != "portable" and CMSIS is None:
        pytest.skip(f"CMSIS-NN not found (looked for {CMSIS_WHERE})")
    case = measured[(name, board, kernels, prefer)]
    error = (case.estimated - case.measured) / case.measured
    assert abs(error) <= TOTAL_TOLERANCE, f"estimate {case.estimated:,} vs measured {case.measured:,.0f} ({error:+.1%})"
    bad = [
        f"layer {i} {key}: estimate {est:,} vs measured {got:,.0f}"
        for i, (key, est, got) in enumerate(zip(case.keys, case.estimated_layers, case.measured_layers, strict=True))
        if got >= BIG_LAYER and abs(est - got) > LAYER_TOLERANCE * got
    ]
    assert not bad, bad
    assert sum(case.estimated_layers) <= case.estimated  # the total adds the per-layer call overhead


def test_error_per_core_is_stated(measured, capsys):
    """The error the cost model reaches, per core: printed with the run (README quotes it), and within tolerance."""
    worst: dict[str, tuple[float, tuple[str, str, str, str]]] = {}
    for case, c in measured.items():
        error = (c.estimated - c.measured) / c.measured
        board = case[1]
        if board not in worst or abs(error) > abs(worst[board][0]):
            worst[board] = (error, case)
    with capsys.disabled():
        for board, (error, (name, _, kernels, prefer)) in sorted(worst.items()):
            print(f"\ncost model on {board}: worst total error {error:+.1%} ({name}, {kernels}, prefer {prefer})")
    assert worst and all(abs(e) <= TOTAL_TOLERANCE for e, _ in worst.values())


def test_requantize_estimate_scales_with_elements(tmp_path):
    """QUANTIZE between integer types (int8 -> int8 -> int16 -> int8, 4,096 elements each) on the Cortex-M7: each
    layer's estimate within LAYER_TOLERANCE of its QEMU count. The key was once fitted on one layer, all of it a
    cost per call, and priced every size as that layer."""
    stages = [("int8", 0.02, 7), ("int8", 0.013, -20), ("int16", 0.0004, 0), ("int8", 0.05, 3)]
    model = quantize_chain(tmp_path / "requantize.tflite", (1, 32, 16, 8), stages)
    board = load_board("mps2-an500")
    planned = plan_model(optimize(load_model(model)), PORTABLE, PlanOptions(), pipeline.plan_target(board))
    image = Image(board, PORTABLE, planned, render_model(planned.graph, planned.plan, board), "requantize")
    work = tmp_path / "images"
    work.mkdir()
    case = _case(image, _run(image, model, work))
    assert case.keys == ["Quantize.requantize"] * 3
    for key, est, got in zip(case.keys, case.estimated_layers, case.measured_layers, strict=True):
        assert abs(est - got) <= LAYER_TOLERANCE * got, f"{key}: estimate {est:,} vs measured {got:,.0f}"


def test_cost_keys_tell_variants_apart():
    """The in-place portable convolutions and CMSIS-NN's wrappers run different C: they get their own keys."""
    graph = optimize(load_model(mlperf_dir() / "kws_ref_model.tflite"))
    pointwise, depthwise = graph.ops[2], graph.ops[1]
    conv = REGISTRY["CONV_2D"]
    assert costmodel.cost_key(pointwise, conv) == "Conv2D"
    assert costmodel.cost_key(pointwise, conv, in_place=True) == "Conv2D.inplace_1x1"
    assert costmodel.cost_key(depthwise, REGISTRY["DEPTHWISE_CONV_2D"], in_place=True) == "DepthwiseConv2D.inplace"
    assert costmodel.cost_key(pointwise, CmsisConv2D("dsp")) == "CmsisConv2D.1x1_fast"
    assert costmodel.cost_key(graph.ops[0], CmsisConv2D("dsp")) == "CmsisConv2D.generic"
    # in place or not, the fast 1x1 kernel runs the same code
    assert costmodel.cost_key(pointwise, FastConv1x1(), in_place=True) == "FastConv1x1"
    # views run no code and cost nothing
    reshape = next(op for op in graph.ops if op.type == "RESHAPE")
    assert costmodel.estimate_cycles(reshape, REGISTRY["RESHAPE"], "cortex-m7") == 0


def test_fast_kernels_are_estimated_faster_than_portable():
    """What the planner will ask: on every KWS conv, tinyml's fast kernel beats the portable one on both cores."""
    graph = optimize(load_model(mlperf_dir() / "kws_ref_model.tflite"))
    for core in ("cortex-m4", "cortex-m7"):
        for op in graph.ops:
            if op.type == "CONV_2D" and op.input(1).shape[1:3] == (1, 1):
                fast = costmodel.estimate_cycles(op, FastConv1x1(), core)
                portable = costmodel.estimate_cycles(op, REGISTRY["CONV_2D"], core)
                assert 0 < 2 * fast < portable, (core, fast, portable)


def test_cores_and_keys_without_coefficients_fall_back():
    """The host borrows the M7's figures, unknown cores the M4's; a key a core never ran borrows its fallback
    core's (CMSIS-NN's DSP 3x3 depthwise never runs on the M55, whose Helium build has none)."""
    model = costmodel.default_model()
    assert {"cortex-m4", "cortex-m7"} <= set(model.cores)
    assert costmodel.core_name(load_board("host")) == "host"
    assert costmodel.core_name(load_board("stm32f746")) == "cortex-m7"
    assert model.core("host") is model.cores["cortex-m7"]
    assert model.core("cortex-m33") is model.cores["cortex-m4"]
    depthwise = optimize(load_model(mlperf_dir() / "kws_ref_model.tflite")).ops[1]
    kernel = CmsisDepthwiseConv2D("dsp")
    assert costmodel.cost_key(depthwise, kernel) == "CmsisDepthwiseConv2D.3x3"
    assert "CmsisDepthwiseConv2D.3x3" not in model.core("cortex-m55").kernels
    m7 = costmodel.estimate_cycles(depthwise, kernel, "cortex-m7")
    assert costmodel.estimate_cycles(depthwise, kernel, "cortex-m55") == m7 > 0


def test_flash_bytes_are_the_constants_codegen_emits():
    """Per layer, the kernel's constant arrays: what codegen puts in flash for it (it may share repeated ones)."""
    graph = optimize(load_model(mlperf_dir() / "kws_ref_model.tflite"))
    board = load_board("host")
    planned = plan_model(graph, PORTABLE, PlanOptions(patches="off"))
    code = render_model(planned.graph, planned.plan, board)
    sizes = [
        sum(k.flash_bytes(op, i in planned.plan.in_place).values())
        for i, (op, k) in enumerate(zip(planned.graph.ops, planned.plan.kernels, strict=True))
    ]
    assert sizes[0] == code.layers[0].const_bytes > 0
    assert all(s >= layer.const_bytes for s, layer in zip(sizes, code.layers, strict=True))
    weights = sum(t.nbytes for op in graph.ops for t in op.inputs[1:2] if t is not None and t.is_const)
    assert weights < sum(sizes)
