"""16x8 definitions: the int64 requantization TFLite Micro's int16 convolutions use (one rounding, the multiplier
cut to 16 bits), which variants are refused by name, and ADD's int16 left shift."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT8, INT16, INT32, INT64
from tinyml.ops import Unsupported
from tinyml.ops.arith import multiply_by_quantized_multiplier
from tinyml.ops.int16 import multiply_by_quantized_multiplier_int64
from tinyml.ops.requant import add_left_shift, add_requant, conv_requant
from tinyml.passes import check_op
from tinyml.reference import run

RNG = np.random.default_rng(16)


def test_int64_requantization_rounds_ties_up_not_away():
    """x / 4 at the ties: the int64 path rounds halves up (-1.5 to -1), the int32 path away from zero (to -2)."""
    x = np.array([-6, -2, 2, 6, 10, -10])
    assert multiply_by_quantized_multiplier_int64(x, 1 << 30, -1).tolist() == [-1, 0, 1, 2, 3, -2]
    assert multiply_by_quantized_multiplier(x, 1 << 30, -1).tolist() == [-2, -1, 1, 2, 3, -3]


def test_int64_requantization_cuts_the_multiplier_to_16_bits():
    """(m + 2^15) >> 16, and 0x7FFF from 0x7FFF0000 up (where the rounding would carry into bit 16)."""
    x = np.array([1 << 40])
    for m, reduced in [(0x40008000, 0x4001), (0x40007FFF, 0x4000), (0x7FFEFFFF, 0x7FFF), (0x7FFFFFFF, 0x7FFF)]:
        assert multiply_by_quantized_multiplier_int64(x, m, -10).tolist() == [((1 << 40) * reduced) >> 25]
    # accumulators far beyond int32: within the 16-bit multiplier's relative error of the real product
    acc = RNG.integers(-(1 << 46), 1 << 46, 1000)
    got = multiply_by_quantized_multiplier_int64(acc, 1518500250, -20)
    real = acc * (1518500250 / 2.0**31) * 2.0**-20
    assert (np.abs(got - real) <= np.abs(real) * 2.0**-15 + 1).all()


def _conv16(b: GraphBuilder, bias_type=INT64, zero_point: int = 0, weights_type=INT8, out_type=INT16):
    x = b.input((1, 5, 5, 3), type=INT16, scale=1e-3, zero_point=zero_point, name="x")
    w = b.const(RNG.integers(-127, 128, (4, 3, 3, 3)), type=weights_type, scale=0.01, name="w")
    bias = b.const(RNG.integers(-(1 << 20), 1 << 20, 4), type=bias_type, name="bias")
    return b.conv2d(x, w, bias, padding="SAME", activation="RELU", scale=2e-3, type=out_type, name="y")


def test_conv_reference_accumulates_in_int64():
    """The reference against the formula: int64 sum of products plus the int64 bias, then the int64 path."""
    b = GraphBuilder()
    _conv16(b)
    op = b.ops[0]
    check_op(op)
    xs = RNG.integers(-32768, 32768, (1, 5, 5, 3)).astype(np.int16)
    (got,) = run(b.graph(), [xs])
    assert got.dtype == np.int16
    w, bias = op.input(1).data.astype(np.int64), op.input(2).data.astype(np.int64)
    padded = np.pad(xs.astype(np.int64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    r = conv_requant(op)
    for y, x in [(0, 0), (2, 3), (4, 4)]:
        acc = np.einsum("hwc,ohwc->o", padded[0, y : y + 3, x : x + 3], w) + bias
        want = multiply_by_quantized_multiplier_int64(acc, r.multipliers, r.shifts)
        assert np.array_equal(got[0, y, x], np.clip(want, r.act[0], r.act[1]))
    assert r.act[0] == 0 and r.act[1] == 32767


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bias_type": INT32}, "bias 'bias' of an int16 CONV_2D is int32; int64 expected"),
        ({"zero_point": 4}, "int16 tensor 'x' has zero point 4; 16x8 needs 0"),
        ({"weights_type": INT16}, "'w' is int16; int8 expected"),
        ({"out_type": INT8}, "'y' is int8; int16 expected"),
    ],
    ids=["int32_bias", "zero_point", "int16_weights", "int8_output"],
)
def test_conv_variants_refused_by_name(kwargs, message):
    b = GraphBuilder()
    _conv16(b, **kwargs)
    with pytest.raises(Unsupported, match=message):
        check_op(b.ops[0])


def test_add_shifts_int16_by_15():
    """TFLM's int16 ADD is its int8 formula with a left shift of 15, zero points allowed; MUL needs them 0."""
    b = GraphBuilder()
    x = b.input((2, 50), type=INT16, scale=3e-4, zero_point=2)
    y = b.input((2, 50), type=INT16, scale=1e-4)
    b.add(x, y, scale=5e-4)
    op = b.ops[0]
    check_op(op)
    assert add_left_shift(op) == 15
    r = add_requant(op)
    (m1, s1), (m2, s2), (mo, so) = r.quant
    xs = RNG.integers(-32768, 32768, (2, 2, 50)).astype(np.int16)
    (got,) = run(b.graph(), [xs[0], xs[1]])
    scaled = multiply_by_quantized_multiplier((xs[0].astype(np.int64) - 2) << 15, m1, s1)
    scaled += multiply_by_quantized_multiplier(xs[1].astype(np.int64) << 15, m2, s2)
    want = multiply_by_quantized_multiplier(scaled, mo, so) + r.output_offset
    assert r.output_offset == 2 and np.array_equal(got, np.clip(want, -32768, 32767))

    b = GraphBuilder()
    b.mul(b.input((2, 5), type=INT16, scale=1e-3, zero_point=1, name="a"), b.input((2, 5), type=INT16))
    with pytest.raises(Unsupported, match="int16 tensor 'a' has zero point 1; 16x8 needs 0"):
        check_op(b.ops[0])
