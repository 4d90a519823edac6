"""LOG_SOFTMAX definition: the fixed-point log against float, the reference against float log softmax, and the
variants TFLM refuses (output quantization, rows too long for its Q12 sum)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ops import Unsupported
from tinyml.ops.logsoftmax import OUTPUT_SCALE, OUTPUT_ZERO_POINT, log_softmax_params, log_x_for_x_ge_1
from tinyml.passes import check_op
from tinyml.reference import run


def test_fixed_point_log():
    """log of Q12.19 values from 1 to 4000, in Q5.26, within a few units of 2^-26 of the float log."""
    z = np.unique(np.geomspace(1, 4000, 500) * 2**19).astype(np.int64)
    got = log_x_for_x_ge_1(z, 12, 5) / 2**26
    assert np.abs(got - np.log(z / 2**19)).max() < 1e-6


def log_softmax_graph(shape, scale=0.1, out_scale=OUTPUT_SCALE, out_zero_point=OUTPUT_ZERO_POINT):
    b = GraphBuilder()
    x = b.input(shape, scale=scale, zero_point=-5)
    b.op("LOG_SOFTMAX", [x], {}, scale=out_scale, zero_point=out_zero_point)
    return b


def test_reference_follows_log_softmax():
    b = log_softmax_graph((6, 20))
    check_op(b.ops[0])
    p = log_softmax_params(b.ops[0])
    assert p.diff_min < 0 and p.reverse_shift <= 0
    x = np.random.default_rng(3).integers(-128, 128, (6, 20)).astype(np.int8)
    (got,) = run(b.graph(), [x])
    logits = (x.astype(np.float64) + 5) * 0.1
    want = logits - logits.max(axis=1, keepdims=True)
    want = want - np.log(np.exp(want).sum(axis=1, keepdims=True))
    want = np.clip(np.round(want / OUTPUT_SCALE) + OUTPUT_ZERO_POINT, -128, 127)
    assert np.abs(got.astype(np.int64) - want).max() <= 1 and (got == 127).sum() <= 6


def test_refused_variants():
    with pytest.raises(Unsupported, match="scale 16/256 and zero point 127"):
        check_op(log_softmax_graph((2, 5), out_scale=1 / 256, out_zero_point=-128).ops[0])
    with pytest.raises(Unsupported, match="over 5000 values"):
        check_op(log_softmax_graph((1, 5000)).ops[0])
