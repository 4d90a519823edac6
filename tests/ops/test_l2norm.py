"""L2_NORMALIZATION definition: the reference against float normalisation, a row of zeros, refused variants."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ops import Unsupported, definition
from tinyml.ops.base import FusedActivation
from tinyml.passes import check_op
from tinyml.reference import run


def l2_graph(shape, activation="NONE", out_scale=1 / 128, zero_point=4):
    b = GraphBuilder()
    x = b.input(shape, scale=0.05, zero_point=zero_point)
    b.op("L2_NORMALIZATION", [x], FusedActivation(activation), scale=out_scale, zero_point=0)
    return b


def test_reference_follows_l2_normalize():
    b = l2_graph((5, 3, 24))
    op = b.ops[0]
    check_op(op)
    assert definition(op).macs(op) == 360
    x = np.random.default_rng(5).integers(-128, 128, (5, 3, 24)).astype(np.int8)
    x[0, 0] = 4  # a row at the zero point: a zero vector, which TFLM leaves at zero
    (got,) = run(b.graph(), [x])
    v = x.astype(np.float64) - 4
    norm = np.sqrt((v * v).sum(axis=-1, keepdims=True))
    want = np.clip(np.round(np.divide(v, norm, out=np.zeros_like(v), where=norm > 0) * 128), -128, 127)
    assert np.abs(got.astype(np.int64) - want).max() <= 1 and not got[0, 0].any()


def test_refused_variants():
    with pytest.raises(Unsupported, match="fused RELU"):
        check_op(l2_graph((2, 8), activation="RELU").ops[0])
    with pytest.raises(Unsupported, match="scale 1/128 and zero point 0"):
        check_op(l2_graph((2, 8), out_scale=1 / 64).ops[0])
    with pytest.raises(Unsupported, match="over 40000 values"):
        check_op(l2_graph((1, 40000)).ops[0])
