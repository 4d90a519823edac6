"""The oracle: TensorFlow Lite Micro's own interpreter (reference kernels), via its Python package.

Used to check generated code bit for bit and to read TFLM's planned arena.
Imported lazily: it loads a native library that plain compilation never needs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

#: TFLM's arena for the oracle: its Python package's default (ten times the file) is too small for models whose
#: activations outweigh their weights (a 6 KB fingerprint network needs 94 KB)
ARENA_BYTES = 64 * 1024 * 1024


def _interpreter(model: Path):  # type: ignore[no-untyped-def]
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_file(str(model), arena_size=ARENA_BYTES)


def tflm_outputs(model: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """TFLM's output tensors for one inference."""
    return tflm_stream(model, [inputs])[0]


def tflm_stream(
    model: Path, inferences: list[list[np.ndarray]], reset_before: set[int] | None = None
) -> list[list[np.ndarray]]:
    """TFLM's output tensors for inferences run one after another on one interpreter, as a device runs them: a
    stateful model's state (SVDF, LSTM) carries from each to the next, except that the interpreter is reset before
    the inferences whose positions `reset_before` holds."""
    from tinyml.frontend.tflite import load_model

    n_outputs = len(load_model(model).outputs)
    interp = _interpreter(model)
    results = []
    for k, inputs in enumerate(inferences):
        if k in (reset_before or set()):
            interp.reset()
        for i, x in enumerate(inputs):
            interp.set_input(x, i)
        interp.invoke()
        results.append([np.array(interp.get_output(i)) for i in range(n_outputs)])
    return results


def tflm_arena_bytes(model: Path) -> int:
    """The non-persistent ("head") arena TFLM's planner needs for this model.

    TFLM prints its allocation report from C++ to the process's stdout, so it
    is read from a child process.
    """
    code = (
        "import sys\n"
        "from tflite_micro.python.tflite_micro import runtime\n"
        "runtime.Interpreter.from_file(sys.argv[1], arena_size=int(sys.argv[2])).print_allocations()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(model), str(ARENA_BYTES)], capture_output=True, text=True, check=True
    )
    match = re.search(r"Arena allocation head (\d+) bytes", proc.stdout + proc.stderr)
    if match is None:
        raise RuntimeError(f"no arena figure in TFLM's allocation report for {model}")
    return int(match.group(1))
