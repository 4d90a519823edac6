"""A TFLite model with INT4 weights: read as INT4, computed by the definitions' references exactly as TFLite Micro
computes it (the oracle the int4 kernels are held to), and taken by the s4 kernels only (tests/kernels/test_int4.py
runs them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from keras_models import int4_weights_model
from reference.test_semantics import assert_matches_tflm

from tinyml.frontend import load_model
from tinyml.ir.types import INT4, INT8
from tinyml.kernels.backends import CoreFeatures
from tinyml.kernels.cmsis_nn import cmsis_kernels
from tinyml.ops import Role, definition
from tinyml.passes import optimize


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return int4_weights_model(tmp_path_factory.mktemp("int4") / "int4.tflite")


def test_loads_int4_weights_unpacked(model):
    graph = load_model(model)
    assert [op.type for op in graph.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE", "FULLY_CONNECTED"]
    for op in graph.ops:
        for t, role in zip(op.inputs, definition(op).roles(op), strict=True):
            if t is not None and role is Role.WEIGHTS:
                assert t.type == INT4 and t.data is not None and t.data.dtype == np.int8
                assert t.data.shape == t.shape and t.data.min() >= -7 and t.data.max() <= 7  # narrow range
                assert len(np.unique(t.data)) > 8  # the values themselves, not their bytes
                assert t.nbytes == (t.num_elements + 1) // 2
            elif t is not None and role is Role.FEATURE:
                assert t.type == INT8
    conv_w = graph.ops[0].input(1)
    assert conv_w.quant is not None and len(conv_w.quant.scales) == 8 and not any(conv_w.quant.zero_points)


def test_reference_matches_tflm(model):
    """Every tensor, on twenty random inputs."""
    assert_matches_tflm(model, {"loaded": load_model(model)}, seeds=range(20))


def test_only_s4_kernels_take_int4_weights(model):
    graph = optimize(load_model(model))
    for features in (CoreFeatures(dsp=True), CoreFeatures(dsp=True, mve=True)):
        kernels = cmsis_kernels(features)
        for op in graph.ops:
            takes = [type(k).__name__ for k in kernels.get(op.type, ()) if k.accepts(op)]
            assert all(name.endswith("S4") for name in takes), (op.type, takes)
    # the definitions themselves accept int4 weights
    for op in graph.ops:
        definition(op).validate(op)
