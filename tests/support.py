"""Shared test machinery: compile with tinyml, run on the host, compare with TFLite Micro."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinyml.boards import load_board
from tinyml.build import build, run_host
from tinyml.codegen import render_model, write_project
from tinyml.frontend import load_model
from tinyml.optimize import optimize
from tinyml.planner import check_plan, plan_model
from tinyml.reference import random_inputs, tflm_outputs

REPO = Path(__file__).resolve().parent.parent


def mlperf_dir() -> Path:
    """The MLPerf Tiny models: $TINYML_MODELS, else ../shared/models/mlperf-tiny beside the repo."""
    path = Path(os.environ.get("TINYML_MODELS", REPO.parent / "shared" / "models" / "mlperf-tiny"))
    if not path.is_dir():
        raise FileNotFoundError(f"MLPerf Tiny models not found at {path}; set TINYML_MODELS")
    return path


def compile_host(model: Path, out_dir: Path) -> Path:
    """tinyml's whole pipeline for the host board; returns the built app."""
    planned = plan_model(optimize(load_model(model)))
    assert check_plan(planned.plan) == []
    board = load_board("host")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_project(render_model(planned.graph, planned.plan, board), out_dir)
    return build(out_dir, board)


def host_outputs(app: Path, inputs: list[np.ndarray], like: list[np.ndarray]) -> list[np.ndarray]:
    raw = run_host(app, b"".join(x.tobytes() for x in inputs))
    outs, pos = [], 0
    for ref in like:
        n = ref.nbytes
        outs.append(np.frombuffer(raw[pos : pos + n], dtype=ref.dtype).reshape(ref.shape))
        pos += n
    assert pos == len(raw), f"app wrote {len(raw)} bytes, expected {pos}"
    return outs


def assert_bit_exact(model: Path, work: Path, seeds: range = range(3)) -> None:
    """Compile `model`, run it on seeded random inputs, compare every byte with TFLM."""
    app = compile_host(model, work / "project")
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
