"""Shared test machinery: compile with tinyml, run on the host, compare with TFLite Micro."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tinyml import pipeline
from tinyml.errors import ToolchainError
from tinyml.kernels.backends import PORTABLE, Backend
from tinyml.plan import Planned, PlanOptions, check_plan
from tinyml.reference.inputs import random_inputs
from tinyml.reference.tflm import tflm_outputs
from tinyml.target.boards import load_board
from tinyml.target.build import build_cmsis_library, run_host
from tinyml.target.packs import CmsisPaths, find_cmsis

REPO = Path(__file__).resolve().parent.parent


def mlperf_dir() -> Path:
    """The MLPerf Tiny models: $TINYML_MODELS, else ../shared/models/mlperf-tiny beside the repo."""
    path = Path(os.environ.get("TINYML_MODELS", REPO.parent / "shared" / "models" / "mlperf-tiny"))
    if not path.is_dir():
        raise FileNotFoundError(f"MLPerf Tiny models not found at {path}; set TINYML_MODELS")
    return path


def compile_host(
    model: Path, out_dir: Path, backend: Backend = PORTABLE, options: PlanOptions | None = None
) -> tuple[Path, Planned]:
    """tinyml's whole pipeline for the host board, stage by stage through the library API, with the given backend
    (which may be a test's own); returns the built app and the plan behind it."""
    board = pipeline.target("host")
    planned = pipeline.plan(pipeline.load(model), board, backend, options)
    assert check_plan(planned.plan) == []
    code = pipeline.render(planned, board, backend)
    compiled = pipeline.Compiled(
        model, board, backend, planned, code, pipeline.CompileOptions(plan=options or PlanOptions())
    )
    return pipeline.build(compiled, out_dir, force=True), planned


def host_outputs(app: Path, inputs: list[np.ndarray], like: list[np.ndarray]) -> list[np.ndarray]:
    raw = run_host(app, b"".join(x.tobytes() for x in inputs))
    outs, pos = [], 0
    for ref in like:
        n = ref.nbytes
        outs.append(np.frombuffer(raw[pos : pos + n], dtype=ref.dtype).reshape(ref.shape))
        pos += n
    assert pos == len(raw), f"app wrote {len(raw)} bytes, expected {pos}"
    return outs


def assert_bit_exact(
    model: Path,
    work: Path,
    seeds: range = range(3),
    backend: Backend = PORTABLE,
    options: PlanOptions | None = None,
) -> Planned:
    """Compile `model` for the host, run it on seeded random inputs, compare every byte with TFLM."""
    app, planned = compile_host(model, work / "project", backend, options)
    for seed in seeds:
        inputs = random_inputs(model, seed)
        ref = tflm_outputs(model, inputs)
        got = host_outputs(app, inputs, ref)
        for k, (g, r) in enumerate(zip(got, ref, strict=True)):
            if not np.array_equal(g, r):
                diff = np.flatnonzero(g.reshape(-1) != r.reshape(-1))
                raise AssertionError(
                    f"{model.name} seed {seed} output {k}: {diff.size} of {r.size} values differ, "
                    f"first at {diff[0]}: got {g.reshape(-1)[diff[0]]}, TFLM {r.reshape(-1)[diff[0]]}"
                )
    return planned


def suite_cache(factory: pytest.TempPathFactory) -> Path:
    """One TINYML_CACHE for the whole test run, shared by the xdist workers (their base temp directories are
    siblings): builds are keyed by their content and the CMSIS-NN libraries are built under a lock, so each
    library is compiled once per run and core, not once per test module. Still fresh: never the user's cache."""
    base = factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "tinyml-cache"
    path.mkdir(exist_ok=True)
    return path


def tinyml(
    *args: str, cache: Path | None = None, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    """The CLI in a subprocess (with its own TINYML_CACHE when given one), tracebacks off as for users."""
    full = {**os.environ, **({"TINYML_CACHE": str(cache)} if cache is not None else {}), **(env or {})}
    full.pop("TINYML_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "tinyml", *args], capture_output=True, text=True, env=full, timeout=timeout
    )


def cmsis_args(cmsis: CmsisPaths) -> list[str]:
    """CLI options for the CMSIS-NN backend from these checkouts."""
    return ["--kernels", "cmsis-nn", "--cmsis-nn", str(cmsis.nn), "--cmsis", str(cmsis.core)]


def assert_runs_bit_exact(
    board: str, models: dict[str, Path], work: Path, cache: Path, cmsis: CmsisPaths, *extra: str
) -> None:
    """`tinyml run` each model with CMSIS-NN on an emulated board (two at a time) on two seeded inputs; compare
    with TFLM. TFLM's expected bytes are computed here first: only the CLI runs in threads."""
    build_cmsis_library(cmsis, load_board(board))  # once, before the parallel runs need it
    expected = {}
    for name, model in models.items():
        inputs = [random_inputs(model, seed) for seed in range(2)]
        (work / name).mkdir()
        (work / name / "in.bin").write_bytes(b"".join(t.tobytes() for x in inputs for t in x))
        expected[name] = b"".join(o.tobytes() for x in inputs for o in tflm_outputs(model, x))

    def run(name: str) -> subprocess.CompletedProcess:
        files = ("--input", str(work / name / "in.bin"), "--output", str(work / name / "out.bin"))
        return tinyml("run", str(models[name]), "--board", board, *cmsis_args(cmsis), *extra, *files, cache=cache)

    with ThreadPoolExecutor(2) as pool:
        procs = dict(zip(models, pool.map(run, models), strict=True))
    for name, proc in procs.items():
        assert proc.returncode == 0, (name, proc.stderr)
        assert (work / name / "out.bin").read_bytes() == expected[name], f"{name} on {board} differs from TFLite Micro"


def find_cmsis_or_where() -> tuple[CmsisPaths | None, str]:
    """CMSIS-NN and CMSIS where tinyml finds them, or None and where it looked (tests that need them skip)."""
    try:
        return find_cmsis()
    except ToolchainError as e:
        return None, e.message


CMSIS, CMSIS_WHERE = find_cmsis_or_where()
#: for tests of CMSIS-NN kernels: skipped, saying where tinyml looked, when the packs are not installed
needs_cmsis = pytest.mark.skipif(CMSIS is None, reason=f"CMSIS-NN not found (looked for {CMSIS_WHERE})")
