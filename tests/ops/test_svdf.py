"""SVDF's definition: its reference streams bit-exact with TFLite Micro, and the variants it refuses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from state_models import stream_inputs, svdf_model

from tinyml.frontend.tflite import load_model
from tinyml.ir.types import INT8, INT16
from tinyml.ops import Unsupported, definition
from tinyml.reference.interpreter import initial_state, run
from tinyml.reference.tflm import tflm_stream

#: name -> svdf_model arguments: each changes a code path (rank, batches, state type and zero point, activation)
VARIANTS = {
    "rank1": {"rank": 1, "filters": 6},
    "rank2": {"rank": 2},
    "rank3_odd": {"rank": 3, "filters": 9, "input_size": 7, "memory": 3},
    "batches2": {"batches": 2},
    "memory1": {"memory": 1},
    "int8_state": {"state": np.int8},
    "int8_state_zero_point": {"state": np.int8, "state_zero_point": 7},
    "int16_state_zero_point": {"state_zero_point": -3},
    "relu": {"activation": 1},  # TFLM's integer SVDF ignores its fused activation
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_reference_streams_like_tflm(name, tmp_path):
    model = svdf_model(tmp_path / "svdf.tflite", **VARIANTS[name])
    graph = load_model(model)
    inferences = stream_inputs(model, 6)
    state = initial_state(graph)
    expected = tflm_stream(model, inferences)
    outputs = [run(graph, inputs, state) for inputs in inferences]
    for k, (got, want) in enumerate(zip(outputs, expected, strict=True)):
        assert np.array_equal(got[0], want[0]), f"{name}: inference {k}"
    assert len({o[0].tobytes() for o in outputs}) > 1, "the state must change what the same op computes"


def test_reset_state_and_fresh_run_start_alike(tmp_path):
    """Without a state, `run` starts from the reset state: the same first output as a fresh stream."""
    model = svdf_model(tmp_path / "svdf.tflite", state=np.int8, state_zero_point=5)
    graph = load_model(model)
    (state_tensor,) = graph.variables()
    state = initial_state(graph)
    assert state_tensor.type == INT8 and np.all(state[id(state_tensor)] == 5)  # TFLM fills int8 state with its zp
    x = stream_inputs(model, 1)[0]
    assert np.array_equal(run(graph, x)[0], run(graph, x, state)[0])
    assert not np.all(state[id(state_tensor)] == 5)  # updated in place


def _svdf(tmp_path, **kw):
    graph = load_model(svdf_model(tmp_path / "svdf.tflite", **kw))
    return graph.ops[0]


def test_definition_sizes(tmp_path):
    op = _svdf(tmp_path, batches=2, input_size=12, filters=8, rank=2, memory=5)
    d = definition(op)
    d.validate(op)
    assert d.infer_shapes(op) == [(2, 4)]
    assert d.macs(op) == 2 * 8 * (12 + 5)
    assert op.input(4).type == INT16 and op.input(4).variable


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda op: op.inputs.__setitem__(3, None), "without a bias"),
        (lambda op: setattr(op.input(4), "variable", False), "is not a variable tensor"),
        (lambda op: setattr(op.input(4), "type", INT8), "int16 time weights and int8 state"),
        (lambda op: setattr(op, "attrs", dataclasses.replace(op.attrs, rank=3)), "rank 3 does not divide 8"),
        (lambda op: setattr(op, "attrs", dataclasses.replace(op.attrs, activation="TANH")), "fused activation TANH"),
        (
            lambda op: setattr(op.input(3), "quant", dataclasses.replace(op.input(3).quant, scales=(1.0,))),
            "bias scale",
        ),
    ],
)
def test_refused_variants(change, message, tmp_path):
    op = _svdf(tmp_path)
    change(op)
    with pytest.raises(Unsupported, match=message):
        definition(op).validate(op)
