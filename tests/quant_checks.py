"""Shared machinery of the quantization tests: a learnable image task, and the int8 file run by TFLite Micro."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

#: the image shape of the quadrant task
SHAPE = (16, 16, 3)


def quadrants(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images whose class (0..3) is the quadrant a little brighter than the rest."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.uniform(0, 0.8, (n, *SHAPE)).astype(np.float32)
    for i, k in enumerate(y):
        r, c = divmod(int(k), 2)
        x[i, r * 8 : (r + 1) * 8, c * 8 : (c + 1) * 8] += 0.15
    return np.clip(x, 0, 1), y


def quantized_inputs(model: Path, x: np.ndarray) -> list[np.ndarray]:
    """Float samples as the int8 model's input takes them."""
    from tinyml.frontend import load_model

    q = load_model(model).inputs[0].quant
    return [np.clip(np.round(s[None] / q.scales[0]) + q.zero_points[0], -128, 127).astype(np.int8) for s in x]


def tflm_accuracy(model: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 of the TFLite file on (x, y), run by TFLite Micro."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_file(str(model))
    hits = 0
    for sample, label in zip(quantized_inputs(model, x), y, strict=True):
        interp.set_input(sample, 0)
        interp.invoke()
        hits += int(np.argmax(interp.get_output(0)) == label)
    return hits / len(y)


def tflm_levels(model: Path, x: np.ndarray, tensors: list[int]) -> dict[int, set[int]]:
    """Every value each of `tensors` takes while TFLite Micro runs the samples `x`."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_file(str(model), intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    seen: dict[int, set[int]] = {t: set() for t in tensors}
    for sample in quantized_inputs(model, x):
        interp.set_input(sample, 0)
        interp.invoke()
        for t in tensors:
            seen[t] |= set(np.unique(np.asarray(interp.GetTensor(t, 0)["tensor_data"])).tolist())
    return seen


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *words: str) -> None:
    """One line with the fix, the expected status, the given words, and nothing internal."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinyml: error: ") and "(fix: " in lines[0], proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    for internal in ("Traceback", "tinyml/", ".py", "TINYML_"):
        assert internal not in lines[0], (internal, lines[0])
