"""Fuzzing: random Keras graphs (tests/fuzz_models.py) as int8 TFLite, compiled by tinyml, against TFLite Micro.

Every seed's model is compiled for the host with the portable kernels and run on seeded random inputs,
and tinyml's reference interpreter runs it too; both must give TFLite Micro's bytes. Some seeds are
compiled again with other planner options (patches forced or off, no in-place, I/O outside the arena,
prefer memory or speed), and some run on the emulated Cortex-M7 (mps2-an500) with the CMSIS-NN backend,
two at a time. Models of convolutions, pools, ADD and resizes only run with patch stages forced through their
resizes (the mixed seeds' stages seldom reach one). A coverage test checks that the seeds exercise every
operator tinyml supports, and every attribute the README promises (padding, strides, dilation, groups, depth
multipliers, fused activations, broadcasting, float I/O, residual branches).

The seeds from EXTENDED_FROM may also use the builders of the operators issue 12 added, so the first
seeds keep the bytes they had before. Models are converted once per module. A seed that finds a tinyml bug
stays here, marked xfail (strict) with the bug named, until the bug is fixed.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from fuzz_models import EXTENDED_FROM, fuzz_info, fuzz_model
from support import suite_cache

from tinyml import pipeline
from tinyml.errors import ToolchainError
from tinyml.frontend.tflite import load_model
from tinyml.ir.graph import Graph, Operator
from tinyml.kernels import REGISTRY
from tinyml.plan import PatchConfig, PlanOptions
from tinyml.plan.patches import stage_candidates
from tinyml.reference.inputs import random_inputs
from tinyml.target.build import build_cmsis_library
from tinyml.target.packs import CmsisPaths, find_cmsis

#: seeds whose models use the builders of the first operators only (their bytes predate the others)
FIRST_SEEDS = list(range(40))
#: seeds whose models may use the builders of issue 12's operators too (tests/fuzz_models.py EXTENDED)
EXTENDED_SEEDS = list(range(EXTENDED_FROM, EXTENDED_FROM + 36))
SEEDS = [*FIRST_SEEDS, *EXTENDED_SEEDS]
#: input seeds per model (random_inputs)
INPUT_SEEDS = (0, 1)
#: every supported op must appear in at least this many of the seeds' models
MIN_OP_MODELS = 3
#: ops tinyml supports that no Keras model converts to (TensorFlow's converter turns a static squeeze into
#: RESHAPE), or that tinyml makes itself
UNREACHABLE = {"SQUEEZE", "TINYML_COPY_REGION"}
#: ops no fuzz builder makes: EXP is refused (TFLite Micro runs it on float32 only); SVDF and
#: UNIDIRECTIONAL_SEQUENCE_LSTM keep state between inferences, which a one-inference fuzz run cannot exercise, and
#: have their own streaming tests (tests/kernels/portable/test_svdf.py, test_lstm.py). They count as unreachable.
NOT_YET = {"EXP", "SVDF", "UNIDIRECTIONAL_SEQUENCE_LSTM"}

#: tinyml bugs the fuzzer found, minimised: (case, seed) -> the bug. A case is "host", "reference",
#: "cmsis-nn" or a PLAN_VARIANTS name; a seed that case does not run anyway is added to it. An open bug is a
#: strict xfail (once fixed, the case passes, fails as XPASS, and its entry moves to FIXED_BUGS).
KNOWN_BUGS: dict[tuple[str, int], str] = {}

#: fixed bugs, kept as regression cases: their seeds run in their case like any other
FIXED_BUGS: dict[tuple[str, int], str] = {
    ("patches-forced", 845): (
        "a patch stage cut activations into tiles but passed constant operands whole: the MUL of the "
        "(1,3,11,3) input by a (3,11,3) constant, in 2x2 patches, got a (1,1,7,3) tile and the whole constant; "
        "elementwise ops with a spatially varying constant now end a patch stage"
    ),
}

#: planner options besides the default, each run on every PLAN_EVERY-th of the FIRST_SEEDS and every
#: 2 * PLAN_EVERY-th of the EXTENDED_SEEDS (offset by its index)
PLAN_VARIANTS: dict[str, PlanOptions | None] = {
    "patches-forced": None,  # the deepest patch stage the model has, on a 2x2 grid (see _forced_patches)
    "no-patches-no-in-place": PlanOptions(patches="off", in_place=False),
    "io-external-memory": PlanOptions(io_external=True, prefer="memory"),
    "speed-no-patches": PlanOptions(prefer="speed", patches="off"),
}
PLAN_EVERY = 4

#: seeds run on the emulated Cortex-M7 with the CMSIS-NN backend, and the planner preference for each
EMULATED = {seed: ("speed", "memory")[i % 2] for i, seed in enumerate([*FIRST_SEEDS[::5], *EXTENDED_SEEDS[::12]])}


#: every seed some case runs
ALL_SEEDS = sorted({*SEEDS, *(seed for _, seed in [*KNOWN_BUGS, *FIXED_BUGS])})


def _marks(case: str, seed: int) -> list[pytest.MarkDecorator]:
    reason = KNOWN_BUGS.get((case, seed))
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


def _seeds(case: str, seeds: list[int]) -> list[int]:
    """The seeds a case runs: its own, then those of its known and fixed bugs."""
    extra = [seed for c, seed in [*KNOWN_BUGS, *FIXED_BUGS] if c == case and seed not in seeds]
    return [*seeds, *dict.fromkeys(extra)]


def _params(case: str, seeds: list[int]) -> list:
    return [pytest.param(seed, id=str(seed), marks=_marks(case, seed)) for seed in _seeds(case, seeds)]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One TINYML_CACHE for the module: each program is built once, the CMSIS-NN library once."""
    path = suite_cache(tmp_path_factory)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TINYML_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[int, Path]:
    """Every seed's model, converted once."""
    root = tmp_path_factory.mktemp("fuzz")
    return {seed: fuzz_model(seed, root / f"fuzz{seed}.tflite") for seed in ALL_SEEDS}


def _inputs(model: Path) -> list[bytes]:
    return [b"".join(x.tobytes() for x in random_inputs(model, seed)) for seed in INPUT_SEEDS]


def _describe(model: Path) -> str:
    info = fuzz_info(model)
    return f"fuzz model {info['seed']}, inputs {info['inputs']}:\n  " + "\n  ".join(info["recipe"])


def _assert_same(got: list[bytes], expected: list[bytes], model: Path, what: str) -> None:
    """Byte-for-byte equality per inference; the message names the first differing byte and the model."""
    for k, (g, e) in enumerate(zip(got, expected, strict=True)):
        if g != e:
            a, b = np.frombuffer(g, np.uint8), np.frombuffer(e, np.uint8)
            if a.size != b.size:
                raise AssertionError(f"{what}: {a.size} output bytes, TFLM {b.size}; {_describe(model)}")
            diff = np.flatnonzero(a != b)
            raise AssertionError(
                f"{what}, input seed {INPUT_SEEDS[k]}: {diff.size} of {b.size} output bytes differ from TFLM, "
                f"first at byte {diff[0]} ({a[diff[0]]} vs {b[diff[0]]}); {_describe(model)}"
            )


def _check_host(model: Path, plan: PlanOptions | None = None) -> pipeline.Compiled:
    options = pipeline.CompileOptions(kernels="portable", plan=plan or PlanOptions())
    compiled = pipeline.compile_model(model, "host", options)
    inputs = _inputs(model)
    _assert_same(pipeline.run(compiled, inputs), pipeline.tflm_expected(compiled, inputs), model, "host")
    return compiled


# --- the generator ----------------------------------------------------------------------------------------------


def test_same_seed_same_bytes(models, tmp_path):
    """A seed gives the same bytes again, however many models were built before it in the process."""
    for seed in (SEEDS[0], SEEDS[-1]):
        again = fuzz_model(seed, tmp_path / f"{seed}.tflite")
        assert again.read_bytes() == models[seed].read_bytes(), f"seed {seed} converted differently"
    assert len({hashlib.sha256(p.read_bytes()).digest() for p in models.values()}) == len(models)


def test_ops_limit_the_builders(tmp_path):
    """`ops` restricts the generator to the builders of those ops: here, convolutions and ADD only."""
    model = fuzz_model(7, tmp_path / "m.tflite", ops={"CONV_2D", "ADD"})
    assert set(fuzz_info(model)["ops"]) <= {"CONV_2D", "ADD"}
    assert set(fuzz_info(model)["builders"]) <= {"conv", "add", "add_const"}


# --- coverage ---------------------------------------------------------------------------------------------------


def _weights_in(op: Operator) -> int:
    return op.inputs[1].shape[3]


def _producers(graph: Graph) -> dict[int, Operator]:
    return {id(t): op for op in graph.ops for t in op.outputs}


def _ancestors(graph: Graph, tensor) -> set[int]:
    """ids of every tensor `tensor` is computed from (itself included)."""
    producers, seen, todo = _producers(graph), set(), [tensor]
    while todo:
        t = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        op = producers.get(id(t))
        if op is not None:
            todo.extend(i for i in op.inputs if i is not None)
    return seen


def _residual(graph: Graph, op: Operator) -> bool:
    """An ADD or MUL of two tensors where one is computed from the other: a residual or gated branch."""
    a, b = (t for t in op.inputs[:2])
    return not a.is_const and not b.is_const and (id(a) in _ancestors(graph, b) or id(b) in _ancestors(graph, a))


def _windowed(op: Operator) -> bool:
    return op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D")


#: what the README promises beyond op types, as predicates on an op of the model as converted
FEATURES: dict[str, Callable[[Graph, Operator], bool]] = {
    "SAME padding": lambda g, op: _windowed(op) and op.attrs.padding == "SAME",
    "VALID padding": lambda g, op: _windowed(op) and op.attrs.padding == "VALID",
    "strides > 1": lambda g, op: _windowed(op) and max(op.attrs.stride) > 1,
    "dilated CONV_2D": lambda g, op: op.type == "CONV_2D" and op.attrs.dilation[0] > 1,
    "dilated DEPTHWISE_CONV_2D": lambda g, op: op.type == "DEPTHWISE_CONV_2D" and op.attrs.dilation[0] > 1,
    "grouped CONV_2D": lambda g, op: op.type == "CONV_2D" and _weights_in(op) < op.inputs[0].shape[3],
    "depth multiplier > 1": lambda g, op: (
        op.type == "DEPTHWISE_CONV_2D" and op.outputs[0].shape[3] > op.inputs[0].shape[3]
    ),
    "per-tensor weights": lambda g, op: (
        op.type in ("CONV_2D", "FULLY_CONNECTED") and op.inputs[1].shape[0] > 1 and not op.inputs[1].quant.per_channel
    ),
    "FULLY_CONNECTED keep_num_dims": lambda g, op: op.type == "FULLY_CONNECTED" and op.attrs.keep_num_dims,
    "fused RELU": lambda g, op: getattr(op.attrs, "activation", None) == "RELU",
    "fused RELU6": lambda g, op: getattr(op.attrs, "activation", None) == "RELU6",
    "fused RELU_N1_TO_1": lambda g, op: getattr(op.attrs, "activation", None) == "RELU_N1_TO_1",
    "broadcasting ADD/MUL": lambda g, op: (
        op.type in ("ADD", "MUL") and op.inputs[0].shape != op.inputs[1].shape and not op.inputs[1].is_const
    ),
    "ADD/MUL with a constant": lambda g, op: op.type in ("ADD", "MUL") and op.inputs[1].is_const,
    "residual or gated ADD/MUL": lambda g, op: op.type in ("ADD", "MUL") and _residual(g, op),
    "CONCATENATION of 3": lambda g, op: op.type == "CONCATENATION" and len(op.inputs) > 2,
    "run-time reshape (SHAPE)": lambda g, op: op.type == "SHAPE",
    "float inputs": lambda g, op: op.type == "QUANTIZE" and op.inputs[0] in g.inputs,
    "float outputs": lambda g, op: op.type == "DEQUANTIZE" and op.outputs[0] in g.outputs,
    "two model inputs": lambda g, op: op is g.ops[0] and len(g.inputs) > 1,
    "two model outputs": lambda g, op: op is g.ops[0] and len(g.outputs) > 1,
}


def test_coverage(models):
    """Every op tinyml supports, and every promised attribute, appears in several of the seeds' models."""
    ops: Counter[str] = Counter()
    features: Counter[str] = Counter()
    for seed in SEEDS:
        model = models[seed]
        graph = load_model(model)
        assert [op.type for op in graph.ops] == fuzz_info(model)["ops"]
        ops.update({op.type for op in graph.ops})
        features.update({name for name, has in FEATURES.items() if any(has(graph, op) for op in graph.ops)})
    table = "\n".join(f"  {n:3d}  {name}" for name, n in [*sorted(ops.items()), *sorted(features.items())])
    print(f"models with each op and feature, of {len(SEEDS)}:\n{table}")
    missing = {op: ops[op] for op in sorted(set(REGISTRY) - UNREACHABLE - NOT_YET) if ops[op] < MIN_OP_MODELS}
    assert not missing, f"ops in fewer than {MIN_OP_MODELS} models: {missing}\n{table}"
    rare = {name: features[name] for name in FEATURES if features[name] < 2}
    assert not rare, f"features in fewer than 2 models: {rare}\n{table}"


# --- tinyml against TFLite Micro ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", _params("host", SEEDS))
def test_host(seed, models, cache):
    """The portable kernels on the host, with the default planner options."""
    _check_host(models[seed])


@pytest.mark.parametrize("seed", _params("reference", SEEDS))
def test_reference(seed, models):
    """tinyml's own IR interpreter."""
    model = models[seed]
    inputs = _inputs(model)
    graph = pipeline.load(model)
    compiled = pipeline.compile_model(model, "host", pipeline.CompileOptions(kernels="portable"))
    _assert_same(pipeline.run_reference(graph, inputs), pipeline.tflm_expected(compiled, inputs), model, "reference")


def _forced_patches(model: Path) -> PlanOptions | None:
    """Patches over the deepest stage the model allows, on the largest grid up to 2x2 its output takes."""
    graph = pipeline.load(model)
    splits = stage_candidates(graph)
    if not splits:
        return None
    split = splits[-1]
    _, h, w, _ = graph.ops[split - 1].outputs[0].shape
    return PlanOptions(patches=PatchConfig(split, min(2, h), min(2, w)))


PLAN_CASES = [
    pytest.param(seed, variant, id=f"{seed}-{variant}", marks=_marks(variant, seed))
    for i, variant in enumerate(PLAN_VARIANTS)
    for seed in _seeds(variant, [*FIRST_SEEDS[i::PLAN_EVERY], *EXTENDED_SEEDS[i :: 2 * PLAN_EVERY]])
]


@pytest.mark.parametrize(("seed", "variant"), PLAN_CASES)
def test_plan_options(seed, variant, models, cache):
    """Other planner options on the host give TFLM's bytes too; a forced patch stage is really used."""
    model = models[seed]
    options = PLAN_VARIANTS[variant] if variant != "patches-forced" else _forced_patches(model)
    if options is None:
        pytest.skip(f"fuzz model {seed} has no patch stage")
    compiled = _check_host(model, options)
    if variant == "patches-forced":
        assert compiled.planned.patches is not None


#: builders of models whose patch stages reach resizes (the mixed seeds rarely have one: an earlier op ends it)
RESIZE_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MAX_POOL_2D", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"}
#: seeds (with RESIZE_OPS) whose deepest patch stage holds resizes of both kinds and several coordinate modes
RESIZE_SEEDS = [2000, 2001, 2006, 2007]


@pytest.mark.parametrize("seed", RESIZE_SEEDS)
def test_patches_through_resizes(seed, cache, tmp_path):
    """Forced patches over stages with resizes (a resize's patch copy reads the whole image's tables cut to
    its tile) give TFLM's bytes."""
    model = fuzz_model(seed, tmp_path / f"resize{seed}.tflite", ops=RESIZE_OPS)
    options = _forced_patches(model)
    assert options is not None and isinstance(options.patches, PatchConfig)
    stage = pipeline.load(model).ops[: options.patches.split]
    assert any(op.type.startswith("RESIZE_") for op in stage)
    assert _check_host(model, options).planned.patches is not None


# --- CMSIS-NN on the emulated Cortex-M7 -------------------------------------------------------------------------


def _find() -> tuple[CmsisPaths | None, str]:
    try:
        return find_cmsis()
    except ToolchainError as e:  # a variable pointing at something that is not a CMSIS tree
        return None, e.message


#: found before the module's TINYML_CACHE hides the packs installed in the user's cache
CMSIS, WHERE = _find()


@pytest.fixture(scope="module")
def emulated(models, cache) -> dict[int, tuple[list[bytes], list[bytes]] | Exception]:
    """Each EMULATED seed compiled for mps2-an500 with CMSIS-NN and run under QEMU, two at a time:
    (outputs, TFLM's outputs) per seed, or what went wrong. TFLM runs here, outside the threads."""
    if CMSIS is None:
        pytest.skip(f"CMSIS-NN not found (looked for {WHERE})")
    board = pipeline.target("mps2-an500")
    build_cmsis_library(CMSIS, board)  # once, before the parallel builds need it
    jobs: dict[int, tuple[pipeline.Compiled, list[bytes]]] = {}
    results: dict[int, tuple[list[bytes], list[bytes]] | Exception] = {}
    for seed in _seeds("cmsis-nn", list(EMULATED)):
        prefer = EMULATED.get(seed, "speed")
        options = pipeline.CompileOptions(
            kernels="cmsis-nn", cmsis_nn=str(CMSIS.nn), cmsis=str(CMSIS.core), plan=PlanOptions(prefer=prefer)
        )
        try:
            jobs[seed] = (pipeline.compile_model(models[seed], board, options), _inputs(models[seed]))
        except Exception as e:  # reported by the seed's own test
            results[seed] = e

    def run(seed: int) -> list[bytes] | Exception:
        compiled, inputs = jobs[seed]
        try:
            return pipeline.run(compiled, inputs)
        except Exception as e:
            return e

    with ThreadPoolExecutor(2) as pool:
        outputs = dict(zip(jobs, pool.map(run, jobs), strict=True))
    for seed, out in outputs.items():
        compiled, inputs = jobs[seed]
        results[seed] = out if isinstance(out, Exception) else (out, pipeline.tflm_expected(compiled, inputs))
    return results


@pytest.mark.parametrize("seed", _params("cmsis-nn", list(EMULATED)))
def test_cmsis_nn_emulated(seed, models, emulated):
    """The CMSIS-NN backend (and tinyml's fast kernels) on mps2-an500, under QEMU."""
    result = emulated[seed]
    if isinstance(result, Exception):
        raise result
    got, expected = result
    _assert_same(got, expected, models[seed], f"mps2-an500 with CMSIS-NN, prefer {EMULATED.get(seed, 'speed')}")
