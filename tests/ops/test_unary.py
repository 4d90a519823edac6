"""TANH and RSQRT definitions: roles, patching, validation, and the tables their references look up (against
float tanh and 1/sqrt, and TFLM's inverse square root multiplier where it is known exactly)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT16
from tinyml.ops import Region, Role, Unsupported, definition
from tinyml.ops.unary import (
    INT8_VALUES,
    fixed_tanh,
    inv_sqrt_multiplier,
    rsqrt_table,
    sigmoid_s16_params,
    sigmoid_table,
    tanh_table,
)
from tinyml.passes import check_op
from tinyml.reference import run


@pytest.mark.parametrize("op_type", ["TANH", "RSQRT"])
def test_shapes_roles_in_place_patching(op_type):
    b = GraphBuilder()
    x = b.input((1, 5, 4, 3), scale=0.05, zero_point=0)
    y = b.op(op_type, [x], scale=1 / 128, zero_point=0)
    op = b.ops[0]
    d = definition(op)
    assert y.shape == x.shape and d.roles(op) == (Role.FEATURE,) and d.macs(op) == 0
    assert d.patchable(op) and d.receptive_field(op, Region(1, 3, 2, 4), 0) == Region(1, 3, 2, 4)
    check_op(op)


def test_fixed_tanh_is_tanh_in_q0():
    """gemmlowp's tanh on Q4.27 inputs is within a few Q0 units of the float function, odd, and 0 at 0."""
    xs = np.linspace(-7.9, 7.9, 301)
    raw = np.round(xs * 2**27).astype(np.int64)
    got = fixed_tanh(raw, 4) / 2**31
    assert np.abs(got - np.tanh(raw / 2**27)).max() < 1e-6
    assert np.array_equal(fixed_tanh(-raw, 4), -fixed_tanh(raw, 4)) and fixed_tanh(np.array([0]), 4)[0] == 0


@pytest.mark.parametrize(("scale", "zero_point"), [(0.05, 0), (0.02, -30), (0.3, 17)])
def test_tanh_table_follows_tanh(scale, zero_point):
    b = GraphBuilder()
    x = b.input((256,), scale=scale, zero_point=zero_point)
    b.op("TANH", [x], scale=1 / 128, zero_point=0)
    table = tanh_table(b.ops[0]).astype(np.int64)
    want = np.clip(np.round(np.tanh((INT8_VALUES - zero_point) * scale) * 128), -128, 127)
    assert np.abs(table - want).max() <= 1 and np.all(np.diff(table) >= 0)
    (got,) = run(b.graph(), [INT8_VALUES.astype(np.int8)])
    assert np.array_equal(got, table)


def test_tanh_output_quantization_refused():
    b = GraphBuilder()
    x = b.input((4,), scale=0.05, zero_point=0)
    b.op("TANH", [x], scale=1 / 256, zero_point=0)
    with pytest.raises(Unsupported, match="scale 1/128 and zero point 0"):
        check_op(b.ops[0])
    b = GraphBuilder()
    x = b.input((4,), scale=2**-12, zero_point=0, type=INT16)
    b.op("TANH", [x], scale=2**-14, zero_point=0)
    with pytest.raises(Unsupported, match=r"int16 TANH output scale 6.10352e-05; 2\^-15 expected"):
        check_op(b.ops[0])
    b = GraphBuilder()
    x = b.input((4,), scale=2**-12, zero_point=3, type=INT16)
    b.op("TANH", [x], scale=2**-15, zero_point=0)
    with pytest.raises(Unsupported, match="zero points 3, 0"):
        check_op(b.ops[0])


def test_sigmoid_table():
    """256 entries of sigmoid(i / 24) in 0.16 format, rising from one half to the saturated 65535."""
    table = sigmoid_table().astype(np.int64)
    assert table[0] == 32768 and table[-1] == 65535 and np.all(np.diff(table) >= 0)
    assert np.abs(table[:-1] / 65536 - 1 / (1 + np.exp(-np.arange(255) / 24))).max() < 2e-5


@pytest.mark.parametrize(("scale", "pot"), [(2**-12, True), (2**-11, True), (1.7e-4, False), (9e-4, False)])
def test_int16_tanh_follows_tanh(scale, pot):
    """Power-of-two input scales (2^-12: left shift 0, 2^-11: 1) take TFLM's multiplier-3 path, others a
    multiplier of at most 15 bits; both land within a few Q0.15 steps of tanh."""
    b = GraphBuilder()
    x = b.input((1024,), scale=scale, zero_point=0, type=INT16)
    b.op("TANH", [x], scale=2**-15, zero_point=0)
    op = b.ops[0]
    check_op(op)
    p = sigmoid_s16_params(op)
    assert (p.left_shift == 0 and p.multiplier % 3 == 0) == pot and p.multiplier <= 32767
    xs = np.linspace(-32768, 32767, 1024).astype(np.int16)
    (got,) = run(b.graph(), [xs])
    assert np.abs(got / 2**15 - np.tanh(xs * scale)).max() < 2e-3


@pytest.mark.parametrize("value", [2, 3, 4, 17, 100, 255, 1 << 20, (1 << 30) + 5])
def test_inv_sqrt_multiplier(value):
    """multiplier * 2^(shift - 31) is 1/sqrt(value) to within the Newton-Raphson precision."""
    multiplier, shift = inv_sqrt_multiplier(value)
    assert math.isclose(multiplier * 2.0 ** (shift - 31), 1 / math.sqrt(value), rel_tol=1e-5)


def test_inv_sqrt_multiplier_of_one_and_zero():
    assert inv_sqrt_multiplier(1) == inv_sqrt_multiplier(0) == ((1 << 31) - 1, 0)


def test_rsqrt_table_and_negative_inputs():
    """Entries from the zero point up follow 1/sqrt (127 at the zero point itself, as TFLM); the reference
    refuses inputs below the zero point, as TFLM's Eval does."""
    b = GraphBuilder()
    x = b.input((256,), scale=0.01, zero_point=-100)
    b.op("RSQRT", [x], scale=0.05, zero_point=-128)
    op = b.ops[0]
    table = rsqrt_table(op).astype(np.int64)
    values = INT8_VALUES[INT8_VALUES > -100]
    want = np.clip(np.round(1 / np.sqrt((values + 100) * 0.01) / 0.05) - 128, -128, 127)
    assert np.abs(table[values + 128] - want).max() <= 1 and table[-100 + 128] == 127
    assert definition(op).min_input(op) == -100
    (got,) = run(b.graph(), [np.clip(INT8_VALUES, -100, 127).astype(np.int8)])
    assert np.array_equal(got, table[np.clip(INT8_VALUES, -100, 127) + 128])
    with pytest.raises(ValueError, match="input below -100"):
        run(b.graph(), [INT8_VALUES.astype(np.int8)])


@pytest.mark.parametrize(("scale", "pot"), [(2**-12, True), (2**-11, False), (3.3e-4, False)])
def test_int16_logistic_follows_sigmoid(scale, pot):
    """LOGISTIC takes the multiplier-3 path only at left shift 0 (TANH also at 1)."""
    b = GraphBuilder()
    x = b.input((1024,), scale=scale, zero_point=0, type=INT16)
    b.logistic(x, type=INT16, scale=2**-15, zero_point=0)
    op = b.ops[0]
    check_op(op)
    p = sigmoid_s16_params(op)
    assert (p.left_shift == 0 and p.multiplier % 3 == 0) == pot
    xs = np.linspace(-32768, 32767, 1024).astype(np.int16)
    (got,) = run(b.graph(), [xs])
    assert np.abs(got / 2**15 - 1 / (1 + np.exp(-(xs * scale)))).max() < 2e-3
