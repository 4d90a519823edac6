"""SVDF's portable kernels on the host: streamed inferences and resets bit-exact with TFLite Micro, the state kept
outside the arena, and one emulated Cortex-M7 run."""

from __future__ import annotations

import numpy as np
import pytest
from state_models import assert_reset_restarts, assert_streams_bit_exact, assert_streams_on_emulated_m7, svdf_model
from support import CMSIS, needs_cmsis

from tinyml import pipeline
from tinyml.ir.types import INT16
from tinyml.measure.report.formats import format_text
from tinyml.target.boards import load_board

#: each changes a code path of the kernel (rank, batches, state type and zero point); the fused RELU is ignored
#: by TFLM's integer SVDF, and so by tinyml
VARIANTS = {
    "rank1": {"rank": 1, "filters": 6},
    "rank2": {"rank": 2},
    "rank3_odd": {"rank": 3, "filters": 9, "input_size": 7, "memory": 3},
    "batches2": {"batches": 2},
    "memory1": {"memory": 1},
    "int8_state_zero_point": {"state": np.int8, "state_zero_point": 7},
    "int16_state_zero_point": {"state_zero_point": -3},
    "relu": {"activation": 1},
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_streaming_is_bit_exact(name, tmp_path):
    assert_streams_bit_exact(svdf_model(tmp_path / "svdf.tflite", **VARIANTS[name]), tmp_path, steps=5)


@pytest.mark.parametrize("kw", [{}, {"state": np.int8, "state_zero_point": 7}], ids=["int16", "int8_zero_point"])
def test_reset_starts_a_new_stream(kw, tmp_path):
    """model_reset() between inferences: TFLM reset at the same point, and the same inputs again give the first
    outputs again (an int8 state resets to its zero point, not to 0)."""
    assert_reset_restarts(svdf_model(tmp_path / "svdf.tflite", **kw), tmp_path)


def test_state_is_outside_the_arena_on_its_own_report_line(tmp_path):
    model = svdf_model(tmp_path / "svdf.tflite", batches=2, filters=8, memory=5)
    compiled = pipeline.compile_model(model, "stm32f746")
    planned, plan, code = compiled.planned, compiled.plan, compiled.code
    (state,) = planned.graph.variables()
    assert state.type == INT16 and plan.state_bytes == 2 * 8 * 5 * 2 == state.nbytes
    assert id(state) not in plan.tensor_offsets and all("state" not in b.name for b in plan.buffers)
    assert planned.peak == plan.peak + plan.state_bytes
    assert "static uint8_t model_state[MODEL_STATE_SIZE]" in code.files["model.c"]
    assert (
        "#define MODEL_STATE_SIZE 160" in code.files["model.h"] and "void model_reset(void);" in code.files["model.h"]
    )
    report = pipeline.report(compiled)
    s, ram = report["sram"], report["ram"]
    assert s["state_bytes"] == ram["state_bytes"] == 160 and s["arena_bytes"] == plan.peak
    parts = ("activations_bytes", "scratch_bytes", "io_bytes", "state_bytes", "fragmentation_bytes")
    assert sum(s[k] for k in parts) == s["peak_bytes"] == plan.peak + 160
    parts = ("arena_bytes", "external_io_bytes", "state_bytes", "stack_bytes", "runtime_bytes")
    assert sum(ram[k] for k in parts) == ram["total_bytes"]
    lines = format_text(report).splitlines()
    assert any(line.split()[:2] == ["state", "160"] for line in lines), lines


def test_stateless_models_have_no_state(tmp_path):
    """A model without variable tensors: no state buffer, a reset that does nothing, a report without the line."""
    from keras_models import convert

    def build():
        import tensorflow as tf

        x = tf.keras.Input((8,))
        return tf.keras.Model(x, tf.keras.layers.Dense(4)(x))

    compiled = pipeline.compile_model(convert(build, [(8,)], tmp_path / "dense.tflite"), "host")
    assert compiled.plan.state_bytes == 0 and "model_state" not in compiled.code.files["model.c"]
    assert "void model_reset(void) {\n}" in compiled.code.files["model.c"]
    report = pipeline.report(compiled)
    assert report["sram"]["state_bytes"] == 0 and " state " not in format_text(report)


def test_streams_on_the_emulated_cortex_m7(tmp_path):
    """`tinyml run` on mps2-an500 (QEMU): five inferences streamed through the firmware, as TFLM runs them."""
    assert_streams_on_emulated_m7(svdf_model(tmp_path / "svdf.tflite", rank=2, batches=2), tmp_path)


# --- CMSIS-NN's arm_svdf_state_s16_s8 (skipped without the packs) ---


@needs_cmsis
@pytest.mark.parametrize(
    "kw", [{"rank": 1, "filters": 6}, {"rank": 2, "batches": 2}, {"rank": 3, "filters": 9, "input_size": 7}]
)
def test_cmsis_nn_streams_bit_exact_on_the_host(kw, tmp_path):
    from tinyml.kernels.backends import select_backend
    from tinyml.kernels.cmsis_nn import CmsisSvdf

    backend = select_backend(load_board("host"), "cmsis-nn", str(CMSIS.nn), str(CMSIS.core))
    planned = assert_streams_bit_exact(svdf_model(tmp_path / "svdf.tflite", **kw), tmp_path, backend=backend)
    (kernel,) = planned.plan.kernels
    assert isinstance(kernel, CmsisSvdf) and "arm_svdf_state_s16_s8" in (tmp_path / "project" / "model.c").read_text()
    assert max(size for _, size in planned.plan.scratch.values()) == kernel.buffer_size(planned.graph.ops[0])


@needs_cmsis
def test_cmsis_nn_leaves_other_states_to_the_portable_kernel(tmp_path):
    from tinyml.kernels.backends import select_backend

    backend = select_backend(load_board("host"), "cmsis-nn", str(CMSIS.nn), str(CMSIS.core))
    for name, kw in {"int8": {"state": np.int8}, "zero_point": {"state_zero_point": -3}}.items():
        model = svdf_model(tmp_path / f"{name}.tflite", **kw)
        planned = assert_streams_bit_exact(model, tmp_path / name, backend=backend)
        assert planned.plan.kernels[0].library == "portable"


@needs_cmsis
def test_cmsis_nn_streams_on_the_emulated_cortex_m7(tmp_path):
    """`tinyml run --kernels cmsis-nn` on mps2-an500 (the DSP code path): five streamed inferences."""
    from support import cmsis_args

    model = svdf_model(tmp_path / "svdf.tflite", rank=2, batches=2, memory=6)
    assert_streams_on_emulated_m7(model, tmp_path, *cmsis_args(CMSIS))
