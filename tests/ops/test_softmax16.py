"""int16 SOFTMAX's definition: TFLM's two tables, its Prepare's multiplier and refusals, and the NumPy reference
against TFLite Micro itself (one-op models with exact input scales and beta), no compiler involved."""

from __future__ import annotations

import numpy as np
import pytest
from softmax16_models import softmax16_model

from tinyml.frontend.tflite import load_model
from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT8, INT16
from tinyml.ops import Unsupported, definition
from tinyml.ops.softmax16 import exp_lut, lut_lookup, one_over_one_plus_x_lut, softmax_s16_params
from tinyml.passes import check_op
from tinyml.reference.tflm import tflm_outputs

#: an input scale * beta of 10/65535: the multiplier is exactly 1, an input difference is the exp table's input
UNIT_SCALE = 10 / 65535


def test_tables_sample_exp_and_the_reciprocal():
    """513 entries each, within two steps (2/65535 each) of exp on [-10, 0] and 1/(1 + x) on [0, 1] at their
    sample points (each entry is lowered by half the interpolation error at its step's middle, so it is not exact)."""
    x = np.linspace(-10.0, 0.0, 513)
    assert exp_lut().shape == one_over_one_plus_x_lut().shape == (513,)
    assert np.abs(exp_lut() - np.exp(x) * 32767.5).max() <= 2
    assert np.abs(one_over_one_plus_x_lut() - 32767.5 / (1 + np.linspace(0.0, 1.0, 513))).max() <= 2
    assert exp_lut()[-1] == one_over_one_plus_x_lut()[0] == 32767 and one_over_one_plus_x_lut()[-1] == 16384
    assert (np.diff(exp_lut().astype(int)) >= 0).all() and (np.diff(one_over_one_plus_x_lut().astype(int)) <= 0).all()


def test_lookup_interpolates_between_entries():
    lut = np.zeros(513, np.int16)
    lut[256], lut[257] = 100, 228  # inputs 0..127 interpolate between them in steps of 1
    assert list(lut_lookup(np.array([0, 1, 64, 127]), lut)) == [100, 101, 164, 227]
    assert lut_lookup(np.array([128]), lut)[0] == 228


def _softmax16(shape, scale, beta=1.0, out_type=INT16, out_scale=1 / 32768, zero_point=0):  # type: ignore[no-untyped-def]
    b = GraphBuilder()
    x = b.input(shape, type=INT16, scale=scale, zero_point=zero_point)
    b.softmax(x, beta, type=out_type, scale=out_scale, zero_point=-128 if out_type == INT8 else 0)
    return b.ops[0]


def test_prepare_takes_scale_times_beta_to_the_table_range():
    op = _softmax16((2, 5), UNIT_SCALE)
    check_op(op)
    assert softmax_s16_params(op, 1.0) == softmax_s16_params(_softmax16((2, 5), UNIT_SCALE / 4, 4.0), 4.0)
    p = softmax_s16_params(op, 1.0)
    assert (p.multiplier, p.shift) == (1 << 30, 1)  # 1.0
    big = softmax_s16_params(_softmax16((2, 5), 1.0), 1.0)
    assert big.shift == 13  # 6553.5 = 0.8 * 2^13


def test_refusals_name_the_variant():
    cases = {
        "zero point": _softmax16((1, 4), 0.01, zero_point=3),
        "1/32768 expected": _softmax16((1, 4), 0.01, out_scale=1 / 32000),
        "int16 input with int8 output": _softmax16((1, 4), 0.01, out_type=INT8, out_scale=1 / 256),
        "at most 65538": _softmax16((1, 70000), 0.01),
        "too large": _softmax16((1, 4), 1e6),
    }
    for message, op in cases.items():
        with pytest.raises(Unsupported, match=message):
            check_op(op)


def _reference_and_tflm(tmp_path, shape, scale, beta, x):  # type: ignore[no-untyped-def]
    model = softmax16_model(tmp_path / "m.tflite", shape, scale, beta)
    op = load_model(model).ops[0]
    check_op(op)
    (got,) = definition(op).reference(op, [x])
    (want,) = tflm_outputs(model, [x])
    return got, want


def test_reference_reads_every_exp_entry_as_tflm(tmp_path):
    """Rows (32767, x) for every int16 x: the exp table's input is x - 32767 + 32767 = x, so each entry and each
    of its 128 interpolation points is read once, and the reciprocal table at every second input (from entry 0,
    at sums just over 1, to entry 511, at sums near 2)."""
    x = np.stack([np.full(65536, 32767), np.arange(-32768, 32768)], axis=1).astype(np.int16)
    got, want = _reference_and_tflm(tmp_path, x.shape, UNIT_SCALE, 1.0, x)
    assert got.dtype == np.int16 and np.array_equal(got, want)
    assert want[-1, 0] == want[-1, 1] and (np.abs(want.astype(int).sum(axis=1) - 32767) <= 8).all()


@pytest.mark.parametrize(
    "shape, scale, beta",
    [
        ((4096, 3), UNIT_SCALE, 1.0),  # every odd input of the reciprocal table too
        ((64, 1), 1e-3, 1.0),  # a row of one: probability 1
        ((40, 7), 1e-4, 1.0),
        ((5, 12), 3e-3, 0.5),
        ((2, 3, 300), 2e-2, 2.0),
        ((4, 33), 1.5, 1.0),  # a left shift of 14
        ((4, 33), 8.0, 1.0),  # a left shift of 16: large differences wrap in int32, as in TFLM
        ((2, 20), 5e-6, 1.0),  # a right shift
        ((3, 9), 1e-3, 0.0),  # beta 0: every value the same probability
    ],
)
def test_reference_is_tflm(shape, scale, beta, tmp_path):
    x = np.random.default_rng(len(shape) + shape[-1]).integers(-32768, 32768, size=shape).astype(np.int16)
    x.reshape(-1, shape[-1])[0] = 7  # one row of equal values
    got, want = _reference_and_tflm(tmp_path, shape, scale, beta, x)
    assert np.array_equal(got, want)
