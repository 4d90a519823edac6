"""Models with stateful ops, written as TFLite flatbuffers directly: the TFLite converter makes no SVDF from Keras.

Weights are seeded random integers with scales chosen so that every stage (state, output) uses much of its range;
TFLite Micro runs the files and is the oracle, nothing here computes an expected output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: TFLite TensorType numbers
_TYPES = {np.dtype(np.float32): 0, np.dtype(np.int32): 2, np.dtype(np.int16): 7, np.dtype(np.int8): 9}


@dataclass
class _Model:
    """Tensors and ops of a single-subgraph model, added in order."""

    tensors: list[Any] = field(default_factory=list)
    buffers: list[Any] = field(default_factory=list)

    def tensor(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: Any,
        scale: float | None = None,
        zero_point: int = 0,
        data: np.ndarray | None = None,
        variable: bool = False,
    ) -> int:
        import ai_edge_litert.schema_py_generated as fb

        t = fb.TensorT()
        t.name, t.shape, t.type, t.isVariable = name, list(shape), _TYPES[np.dtype(dtype)], variable
        if scale is not None:
            q = fb.QuantizationParametersT()
            q.scale, q.zeroPoint = [scale], [zero_point]
            t.quantization = q
        buf = fb.BufferT()
        if data is not None:
            buf.data = np.asarray(data, dtype=dtype).reshape(shape).tobytes()
        self.buffers.append(buf)
        t.buffer = len(self.buffers)  # buffer 0 stays the empty sentinel
        self.tensors.append(t)
        return len(self.tensors) - 1

    def write(self, path: Path, op_code: int, options_type: int, options: Any, ins: list[int], outs: list[int]) -> Path:
        """One op of builtin `op_code` from `ins` to `outs`; the model's inputs are the non-constant, non-variable
        inputs of the op."""
        import ai_edge_litert.schema_py_generated as fb
        import flatbuffers

        code = fb.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = op_code
        code.version = 1
        op = fb.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, ins, outs
        op.builtinOptionsType, op.builtinOptions = options_type, options
        sub = fb.SubGraphT()
        sub.tensors = self.tensors
        sub.operators = [op]
        sub.inputs = [i for i in ins if i >= 0 and not self.buffers[i].data and not self.tensors[i].isVariable]
        sub.outputs = outs
        model = fb.ModelT()
        model.version, model.description = 3, "tinyml test"
        model.operatorCodes, model.subgraphs = [code], [sub]
        empty = fb.BufferT()
        model.buffers = [empty, *self.buffers]
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        path.write_bytes(bytes(builder.Output()))
        return path


def svdf_model(
    path: Path,
    *,
    batches: int = 1,
    input_size: int = 12,
    filters: int = 8,
    rank: int = 2,
    memory: int = 5,
    state: Any = np.int16,
    activation: int = 0,
    state_zero_point: int = 0,
    seed: int = 0,
) -> Path:
    """An int8 SVDF with `state` (int16 or int8) state and time weights, as TFLM's integer kernel runs it."""
    import ai_edge_litert.schema_py_generated as fb

    rng = np.random.default_rng(seed)
    units = filters // rank
    info = np.iinfo(state)
    s_in, zp_in = 0.05, 3
    s_wf = 0.01
    # the projection spans ~1/4 of the state type: |acc| reaches ~ sqrt(input_size) * 128 * 64
    s_state = s_in * s_wf * (np.sqrt(input_size) * 128 * 64) / (info.max / 4)
    wt_max = 2000 if state == np.int16 else 100
    s_wt = 0.002
    typical = np.sqrt(memory * rank) * (wt_max / 2) * (info.max / 8)
    s_out = float(np.float32(s_state * s_wt * typical / 48))
    m = _Model()
    x = m.tensor("input", (batches, input_size), np.int8, s_in, zp_in)
    wf = m.tensor(
        "weights_feature", (filters, input_size), np.int8, s_wf, 0, rng.integers(-127, 128, (filters, input_size))
    )
    wt = m.tensor(
        "weights_time", (filters, memory), state, s_wt, 0, rng.integers(-wt_max, wt_max + 1, (filters, memory))
    )
    bias_scale = float(np.float32(np.float32(s_state) * np.float32(s_wt)))
    b = m.tensor("bias", (units,), np.int32, bias_scale, 0, rng.integers(-int(typical), int(typical), units))
    st = m.tensor("state", (batches, memory * filters), state, float(s_state), state_zero_point, variable=True)
    out = m.tensor("output", (batches, units), np.int8, s_out, -5)
    opts = fb.SVDFOptionsT()
    opts.rank, opts.fusedActivationFunction = rank, activation
    return m.write(path, fb.BuiltinOperator.SVDF, fb.BuiltinOptions.SVDFOptions, opts, [x, wf, wt, b, st], [out])


def stream_inputs(model: Path, steps: int, seed: int = 0) -> list[list[np.ndarray]]:
    """`steps` inferences' seeded random inputs, one list of arrays per inference."""
    from tinyml.reference.inputs import random_inputs

    return [random_inputs(model, seed * 1000 + k) for k in range(steps)]


def assert_streams_bit_exact(model: Path, work: Path, steps: int = 5, seed: int = 0, backend: Any = None) -> Any:
    """Compile `model` for the host (with `backend`'s kernels, else the portable ones), stream `steps` inferences
    through one run of the program (its state carries from each to the next) and compare every output byte with
    TFLM invoked as many times; returns the plan."""
    from support import compile_host

    from tinyml.kernels.backends import PORTABLE
    from tinyml.reference.tflm import tflm_stream
    from tinyml.target.build import run_host

    app, planned = compile_host(model, work / "project", backend or PORTABLE)
    inferences = stream_inputs(model, steps, seed)
    expected = b"".join(o.tobytes() for outs in tflm_stream(model, inferences) for o in outs)
    got = run_host(app, b"".join(x.tobytes() for inputs in inferences for x in inputs))
    per = len(expected) // steps
    for k in range(steps):
        assert got[k * per : (k + 1) * per] == expected[k * per : (k + 1) * per], f"{model.name}: inference {k} differs"
    return planned


_RESET_DRIVER = r"""
#include <stdio.h>
#include "model.h"
/* Streams inferences from stdin to stdout like the host program, calling model_reset() before inference RESET_AT. */
int main(void) {
  for (int k = 0;; ++k) {
    if (fread(model_input(0), 1, (size_t)model_inputs[0].bytes, stdin) != (size_t)model_inputs[0].bytes) {
      return 0;
    }
    if (k == RESET_AT) {
      model_reset();
    }
    if (model_invoke() != 0) {
      return 4;
    }
    fwrite(model_output(0), 1, (size_t)model_outputs[0].bytes, stdout);
  }
}
"""


def assert_reset_restarts(model: Path, work: Path, steps: int = 3) -> None:
    """Build the generated model with a driver that calls model_reset() after `steps` inferences, stream the same
    `steps` inputs twice: the outputs equal TFLM's with a reset at the same point, so the second half repeats the
    first; without the reset TFLM's second half differs (the test would prove nothing otherwise)."""
    import subprocess

    from support import compile_host

    from tinyml.reference.tflm import tflm_stream

    project = work / "project"
    compile_host(model, project)
    (project / "driver.c").write_text(_RESET_DRIVER)
    kernels = sorted(str(p) for p in (project / "tinyml" / "kernels").glob("*.c"))
    app = project / "driver"
    flags = [
        "-std=c99",
        "-Wall",
        "-Werror",
        f"-DRESET_AT={steps}",
        f"-I{project}",
        f"-I{project / 'tinyml' / 'include'}",
    ]
    sources = [str(project / "driver.c"), str(project / "model.c"), *kernels]
    subprocess.run(["gcc", *flags, "-o", str(app), *sources, "-lm"], check=True)
    first = stream_inputs(model, steps)
    inferences = first + first
    expected = tflm_stream(model, inferences, reset_before={steps})
    got = subprocess.run([str(app)], input=b"".join(x.tobytes() for i in inferences for x in i), capture_output=True)
    assert got.returncode == 0, got.stderr
    want = b"".join(o.tobytes() for outs in expected for o in outs)
    assert got.stdout == want
    half = len(want) // 2
    assert got.stdout[:half] == got.stdout[half:]
    assert tflm_stream(model, inferences)[steps][0].tobytes() != expected[steps][0].tobytes()


def assert_streams_on_emulated_m7(model: Path, work: Path, *extra: str, steps: int = 5) -> None:
    """`tinyml run` on mps2-an500 (QEMU): `steps` inferences streamed through the firmware, as TFLM runs them."""
    from support import tinyml

    from tinyml.reference.tflm import tflm_stream

    inferences = stream_inputs(model, steps)
    (work / "in.bin").write_bytes(b"".join(x.tobytes() for i in inferences for x in i))
    files = ("--input", str(work / "in.bin"), "--output", str(work / "out.bin"))
    proc = tinyml("run", str(model), "--board", "mps2-an500", *extra, *files, cache=work / "cache")
    assert proc.returncode == 0, proc.stderr
    want = b"".join(o.tobytes() for outs in tflm_stream(model, inferences) for o in outs)
    assert (work / "out.bin").read_bytes() == want


def lstm_model(
    path: Path,
    *,
    batches: int = 1,
    steps: int = 8,
    input_size: int = 6,
    units: int = 16,
    time_major: bool = False,
    cell_clip: float = 0.0,
    cell_scale_log2: int = -11,
    hidden_zero_point: int = 2,
    activation: int = 4,
    seed: int = 0,
) -> Path:
    """An int8 UNIDIRECTIONAL_SEQUENCE_LSTM with an int16 cell state (TFLite's "8x8_16" integer LSTM, as the
    converter lays it out: 24 inputs, no peepholes, projection or layer norm), per-tensor weights."""
    import ai_edge_litert.schema_py_generated as fb

    rng = np.random.default_rng(seed)
    s_in, zp_in = 0.04, -3
    s_hidden = 1 / 128
    m = _Model()
    shape = (steps, batches, input_size) if time_major else (batches, steps, input_size)
    x = m.tensor("input", shape, np.int8, s_in, zp_in)
    gates = ("input", "forget", "cell", "output")
    w_in, w_rec, biases = [], [], []
    for g in gates:
        s_w = 0.6 / 127 / np.sqrt(input_size)
        w_in.append(
            m.tensor(f"{g}_w", (units, input_size), np.int8, s_w, 0, rng.integers(-127, 128, (units, input_size)))
        )
    for g in gates:
        s_r = 0.9 / 127 / np.sqrt(units)
        w_rec.append(m.tensor(f"{g}_r", (units, units), np.int8, s_r, 0, rng.integers(-127, 128, (units, units))))
    for g in gates:
        s_b = float(np.float32(s_in * 0.6 / 127 / np.sqrt(input_size)))
        biases.append(m.tensor(f"{g}_b", (units,), np.int32, s_b, 0, rng.integers(-(2**13), 2**13, units)))
    h = m.tensor("hidden", (batches, units), np.int8, s_hidden, hidden_zero_point, variable=True)
    c = m.tensor("cell", (batches, units), np.int16, 2.0**cell_scale_log2, 0, variable=True)
    out_shape = (steps, batches, units) if time_major else (batches, steps, units)
    out = m.tensor("output", out_shape, np.int8, s_hidden, hidden_zero_point)
    ins = [x, *w_in, *w_rec, -1, -1, -1, *biases, -1, -1, h, c, -1, -1, -1, -1]
    opts = fb.UnidirectionalSequenceLSTMOptionsT()
    opts.fusedActivationFunction, opts.cellClip, opts.timeMajor = activation, cell_clip, time_major
    op_code = fb.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    return m.write(path, op_code, fb.BuiltinOptions.UnidirectionalSequenceLSTMOptions, opts, ins, [out])
