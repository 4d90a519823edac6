"""UNIDIRECTIONAL_SEQUENCE_LSTM's portable kernel on the host: streamed inferences and resets bit-exact with TFLite
Micro, both states outside the arena, and one emulated Cortex-M7 run."""

from __future__ import annotations

import pytest
from state_models import assert_reset_restarts, assert_streams_bit_exact, assert_streams_on_emulated_m7, lstm_model

from tinyml import pipeline
from tinyml.measure.report.formats import format_text

#: each changes a code path of the kernel: batch rows, the time-major layout, the cell clip, tanh's input scaling
#: (the cell scale), odd sizes and a hidden zero point
VARIANTS = {
    "default": {},
    "batches2": {"batches": 2},
    "time_major": {"time_major": True, "batches": 3, "steps": 5},
    "cell_clip": {"cell_clip": 0.5},
    "cell_scale_2e-14": {"cell_scale_log2": -14},
    "cell_scale_2e-9": {"cell_scale_log2": -9},
    "odd_sizes": {"steps": 3, "input_size": 5, "units": 7, "hidden_zero_point": -9},
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_streaming_is_bit_exact(name, tmp_path):
    assert_streams_bit_exact(lstm_model(tmp_path / "lstm.tflite", **VARIANTS[name]), tmp_path, steps=5)


def test_reset_starts_a_new_stream(tmp_path):
    """model_reset() restores both states (the int8 hidden state to its zero point, the cell state to 0)."""
    assert_reset_restarts(lstm_model(tmp_path / "lstm.tflite", hidden_zero_point=5, steps=4), tmp_path)


def test_states_are_outside_the_arena(tmp_path):
    compiled = pipeline.compile_model(lstm_model(tmp_path / "lstm.tflite", batches=2, units=16), "stm32f746")
    plan = compiled.plan
    hidden, cell = compiled.planned.graph.variables()
    assert (hidden.nbytes, cell.nbytes) == (2 * 16, 2 * 16 * 2)
    assert plan.state_bytes == 32 + 64 and not {id(hidden), id(cell)} & set(plan.tensor_offsets)
    assert plan.scratch and max(size for _, size in plan.scratch.values()) == 3 * 16 * 2
    report = pipeline.report(compiled)
    assert report["sram"]["state_bytes"] == 96
    assert report["layers"][0]["input_shapes"] == [[2, 8, 6]]  # the states are not the layer's inputs
    assert any(line.split()[:2] == ["state", "96"] for line in format_text(report).splitlines())


def test_streams_on_the_emulated_cortex_m7(tmp_path):
    """`tinyml run` on mps2-an500 (QEMU): five calls of an 8-step, 16-unit LSTM, as TFLM runs them."""
    assert_streams_on_emulated_m7(lstm_model(tmp_path / "lstm.tflite", batches=2), tmp_path)
