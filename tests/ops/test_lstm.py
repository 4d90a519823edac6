"""UNIDIRECTIONAL_SEQUENCE_LSTM's definition: its reference streams bit-exact with TFLite Micro, its sigmoid table
is TFLite's, and the variants it refuses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from state_models import lstm_model, stream_inputs

from tinyml.frontend.tflite import load_model
from tinyml.ops import Unsupported, definition
from tinyml.ops.lstm import CELL_STATE, HIDDEN_STATE, lstm_params, sigmoid_int16, sigmoid_table, tanh_int16
from tinyml.reference.interpreter import initial_state, run
from tinyml.reference.tflm import tflm_stream

#: name -> lstm_model arguments: batches, time-major layout, cell clip, cell scale (tanh's input shift), sizes
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
def test_reference_streams_like_tflm(name, tmp_path):
    model = lstm_model(tmp_path / "lstm.tflite", **VARIANTS[name])
    graph = load_model(model)
    inferences = stream_inputs(model, 4)
    state = initial_state(graph)
    expected = tflm_stream(model, inferences)
    for k, (inputs, want) in enumerate(zip(inferences, expected, strict=True)):
        assert np.array_equal(run(graph, inputs, state)[0], want[0]), f"{name}: inference {k}"


def test_state_carries_between_inferences(tmp_path):
    """The same input twice gives different outputs: the hidden and cell states go on from the first call."""
    model = lstm_model(tmp_path / "lstm.tflite", hidden_zero_point=4)
    graph = load_model(model)
    hidden, cell = graph.ops[0].input(HIDDEN_STATE), graph.ops[0].input(CELL_STATE)
    state = initial_state(graph)
    assert np.all(state[id(hidden)] == 4) and np.all(state[id(cell)] == 0)  # int8 state starts at its zero point
    x = stream_inputs(model, 1)[0]
    first, second = run(graph, x, state)[0], run(graph, x, state)[0]
    assert not np.array_equal(first, second)
    assert np.array_equal(run(graph, x)[0], first)  # no state given: from the reset state


def test_sigmoid_table_interpolates_sigmoid_and_tanh():
    """The derived table is increasing from 0.5 to 1 in 0.16; the squashing functions built on it stay within a
    few units of Q0.15 of the real functions."""
    table = sigmoid_table()
    assert table[0] == 32768 and table[-1] == 65535 and np.all(np.diff(table.astype(int)) >= 0)
    x = np.arange(-32768, 32768, 7, dtype=np.int16)
    real = x.astype(np.float64) / 4096
    assert np.max(np.abs(sigmoid_int16(x) / 32768 - 1 / (1 + np.exp(-real)))) < 3e-4
    assert np.max(np.abs(tanh_int16(x, 3, 0) / 32768 - np.tanh(real))) < 3e-4


def _lstm(tmp_path, **kw):
    return load_model(lstm_model(tmp_path / "lstm.tflite", **kw)).ops[0]


def test_definition_sizes(tmp_path):
    op = _lstm(tmp_path, batches=2, steps=8, input_size=6, units=16, cell_scale_log2=-11)
    d = definition(op)
    d.validate(op)
    assert d.infer_shapes(op) == [(2, 8, 16)]
    assert d.macs(op) == 2 * 8 * (4 * 16 * (6 + 16) + 3 * 16)
    p = lstm_params(op)
    assert (p.cell_tanh_multiplier, p.cell_tanh_shift) == (6, 0)  # Q4.11 cell into tanh's Q3.12 input: x 2 x 3


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda op: op.inputs.__setitem__(9, op.inputs[1]), "peepholes, projection or layer normalisation"),
        (lambda op: op.inputs.__setitem__(1, None), "CIFG"),
        (lambda op: setattr(op.input(CELL_STATE), "variable", False), "not a variable tensor"),
        (lambda op: setattr(op, "attrs", dataclasses.replace(op.attrs, activation="RELU")), "cell activation RELU"),
        (
            lambda op: setattr(op.outputs[0], "quant", dataclasses.replace(op.outputs[0].quant, zero_points=(0,))),
            "quantized unlike its hidden state",
        ),
        (
            lambda op: setattr(op.input(2), "quant", dataclasses.replace(op.input(2).quant, zero_points=(3,))),
            "non-zero zero point",
        ),
    ],
)
def test_refused_variants(change, message, tmp_path):
    op = _lstm(tmp_path)
    change(op)
    with pytest.raises(Unsupported, match=message):
        definition(op).validate(op)
