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
from tinyml.planner import check_plan, plan_memory

REPO = Path(__file__).resolve().parent.parent


def mlperf_dir() -> Path:
    """The MLPerf Tiny models: $TINYML_MODELS, else ../shared/models/mlperf-tiny beside the repo."""
    path = Path(os.environ.get("TINYML_MODELS", REPO.parent / "shared" / "models" / "mlperf-tiny"))
    if not path.is_dir():
        raise FileNotFoundError(f"MLPerf Tiny models not found at {path}; set TINYML_MODELS")
    return path


def compile_host(model: Path, out_dir: Path) -> Path:
    """tinyml's whole pipeline for the host board; returns the built app."""
    graph = optimize(load_model(model))
    plan = plan_memory(graph)
    assert check_plan(plan) == []
    board = load_board("host")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_project(render_model(graph, plan, board), out_dir)
    return build(out_dir, board)


def random_inputs(model: Path, seed: int) -> list[np.ndarray]:
    """Seeded random data covering each input's full value range."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_file(str(model))
    rng = np.random.default_rng(seed)
    result = []
    i = 0
    while True:
        try:
            d = interp.get_input_details(i)
        except Exception:
            break
        dt = np.dtype(d["dtype"])
        if dt.kind == "f":
            result.append(rng.uniform(-4, 4, size=d["shape"]).astype(dt))
        else:
            info = np.iinfo(dt)
            result.append(rng.integers(info.min, info.max + 1, size=d["shape"], dtype=dt))
        i += 1
    return result


def tflm_outputs(model: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The reference: TFLite Micro's Python interpreter (reference kernels)."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_file(str(model))
    for i, x in enumerate(inputs):
        interp.set_input(x, i)
    interp.invoke()
    outs = []
    i = 0
    while True:
        try:
            interp.get_output_details(i)
        except Exception:
            break
        outs.append(np.array(interp.get_output(i)))
        i += 1
    return outs


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
