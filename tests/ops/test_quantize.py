"""QUANTIZE and DEQUANTIZE definitions: the types each takes (refused by name otherwise) and the references:
float32 rounding halves away from zero, int8 requantization, dequantization as TFLM computes it."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import FLOAT16, FLOAT32, INT4, INT8, INT16, UINT8
from tinyml.ops import Unsupported, definition
from tinyml.ops.arith import multiply_by_quantized_multiplier
from tinyml.ops.requant import requantize
from tinyml.passes import check_op
from tinyml.reference import run

RNG = np.random.default_rng(19)


def test_float_quantize_rounds_halves_away_from_zero_and_saturates():
    b = GraphBuilder()
    x = b.input((1, 8), type=FLOAT32, scale=None)
    y = b.quantize(x, scale=0.5, zero_point=-3)
    op = b.ops[0]
    assert y.type == INT8 and y.shape == x.shape and definition(op).macs(op) == 0
    check_op(op)
    xs = np.array([[0.25, -0.25, 0.75, -0.75, 1.0, 100.0, -100.0, np.nan]], np.float32)
    (got,) = run(b.graph(), [xs])
    # 0.5 -> 1 and -0.5 -> -1 (not to even); beyond the range saturates; NaN gives the minimum
    assert got.tolist() == [[-2, -4, -1, -5, -1, 127, -128, -128]]


def test_int8_requantize():
    b = GraphBuilder()
    x = b.input((4, 16), scale=0.1, zero_point=7)
    b.quantize(x, scale=0.3, zero_point=-2)
    op = b.ops[0]
    check_op(op)
    r = requantize(op)
    assert (r.input_offset, r.output_offset, r.act) == (-7, -2, (-128, 127))
    xs = RNG.integers(-128, 128, x.shape).astype(np.int8)
    (got,) = run(b.graph(), [xs])
    want = multiply_by_quantized_multiplier(xs.astype(np.int64) - 7, r.multiplier, r.shift) - 2
    assert np.array_equal(got, np.clip(want, -128, 127))
    # within one output step: TFLM rounds twice (the doubling high multiply, then the shift)
    assert np.abs((got.astype(np.int64) + 2) * 0.3 - (xs.astype(np.int64) - 7) * 0.1).max() <= 0.3 + 1e-9


def test_dequantize():
    b = GraphBuilder()
    x = b.input((2, 5), scale=0.25, zero_point=4)
    y = b.dequantize(x)
    check_op(b.ops[0])
    assert y.type == FLOAT32 and y.quant is None
    xs = RNG.integers(-128, 128, x.shape).astype(np.int8)
    (got,) = run(b.graph(), [xs])
    assert got.dtype == np.float32 and np.array_equal(got, ((xs.astype(np.float32) - 4) * np.float32(0.25)))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda b: b.quantize(b.input((1, 4), type=FLOAT16, scale=None, name="x"), 0.1), "QUANTIZE from float16"),
        (lambda b: b.quantize(b.input((1, 4), type=FLOAT32, scale=None), 0.1, type=INT4, name="y"), "'y' is int4"),
        (lambda b: b.dequantize(b.input((1, 4), type=INT4, name="x")), "'x' is int4; int8 or uint8 or int16 expected"),
        (
            lambda b: b.op("DEQUANTIZE", [b.input((1, 4))], type=FLOAT16),
            "DEQUANTIZE to float16; float32 output expected",
        ),
        (
            lambda b: b.quantize(b.input((1, 4), type=INT16), 0.1, type=UINT8),
            "QUANTIZE from int16 to uint8; int8 or int16 output expected",
        ),
        (lambda b: b.quantize(b.input((1, 4), type=FLOAT32, scale=None), 0.1, type=UINT8, name="y"), "'y' is uint8"),
    ],
    ids=["from_float16", "to_int4", "dequantize_int4", "to_float16", "int16_to_uint8", "float_to_uint8"],
)
def test_types_are_refused_by_name(build, message):
    b = GraphBuilder()
    build(b)
    with pytest.raises(Unsupported, match=message):
        check_op(b.ops[0])


def test_float_quantize_to_int16_saturates_at_int16():
    b = GraphBuilder()
    x = b.input((1, 6), type=FLOAT32, scale=None)
    y = b.quantize(x, scale=0.001, type=INT16)
    check_op(b.ops[0])
    assert y.type == INT16
    xs = np.array([[0.0015, -0.0015, 32.767, 32.768, -40.0, np.nan]], np.float32)
    (got,) = run(b.graph(), [xs])
    assert got.dtype == np.int16 and got.tolist() == [[2, -2, 32767, 32767, -32768, -32768]]


@pytest.mark.parametrize(
    ("src", "dst"), [(INT16, INT8), (INT8, INT16), (INT16, INT16), (UINT8, INT8), (INT8, UINT8)], ids=str
)
def test_integer_requantize_pairs(src, dst):
    """Every pair TFLite Micro converts: Requantize's formula, saturated to the output type."""
    b = GraphBuilder()
    x = b.input((3, 40), type=src, scale=0.02, zero_point=0 if src == INT16 else 5)
    b.quantize(x, scale=0.05, zero_point=0 if dst == INT16 else -9, type=dst)
    op = b.ops[0]
    check_op(op)
    r = requantize(op)
    lo, hi = dst.range
    xs = RNG.integers(*src.range, x.shape, endpoint=True).astype(src.np_dtype)
    (got,) = run(b.graph(), [xs])
    want = multiply_by_quantized_multiplier(xs.astype(np.int64) + r.input_offset, r.multiplier, r.shift)
    assert got.dtype == dst.np_dtype and np.array_equal(got, np.clip(want + r.output_offset, lo, hi))


@pytest.mark.parametrize("src", [INT16, UINT8], ids=str)
def test_dequantize_wider_types(src):
    b = GraphBuilder()
    x = b.input((2, 50), type=src, scale=0.003, zero_point=0 if src == INT16 else 128)
    b.dequantize(x)
    check_op(b.ops[0])
    xs = RNG.integers(*src.range, x.shape, endpoint=True).astype(src.np_dtype)
    (got,) = run(b.graph(), [xs])
    zero_point = 0 if src == INT16 else 128
    assert np.array_equal(got, (xs.astype(np.float64) - zero_point).astype(np.float32) * np.float32(0.003))
