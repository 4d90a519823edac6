"""MAXIMUM, MINIMUM, SUB and SQUARED_DIFFERENCE definitions: broadcasting, roles, patching, validation, the
requantization each computes once (SUB's in float32, SQUARED_DIFFERENCE's in double), and the references."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.kernels import REGISTRY
from tinyml.ops import Region, Role, Unsupported, definition
from tinyml.ops.arith import multiply_by_quantized_multiplier
from tinyml.ops.base import FusedActivation
from tinyml.ops.binary import squared_difference_requant, sub_requant
from tinyml.ops.fixedpoint import f32, quantize_multiplier
from tinyml.ops.requant import add_requant
from tinyml.passes import check_op
from tinyml.reference import run

RNG = np.random.default_rng(12)
OPS = ["MAXIMUM", "MINIMUM", "SUB", "SQUARED_DIFFERENCE"]


def _op(g: GraphBuilder, op_type: str, a, b, activation: str = "NONE", **out):
    attrs = FusedActivation(activation) if op_type == "SUB" else None
    return g.op(op_type, [a, b], attrs, **out)


def _ints(shape) -> np.ndarray:
    return RNG.integers(-128, 128, shape).astype(np.int8)


@pytest.mark.parametrize("op_type", OPS)
@pytest.mark.parametrize(
    ("a", "b", "out"), [((1, 4), (1, 4), (1, 4)), ((2, 3, 4), (4,), (2, 3, 4)), ((2, 1, 4), (1, 3, 1), (2, 3, 4))]
)
def test_broadcast_shapes_roles_and_macs(op_type, a, b, out):
    g = GraphBuilder()
    y = _op(g, op_type, g.input(a), g.input(b))
    op = g.ops[0]
    d = definition(op)
    assert y.shape == out and d.macs(op) == int(np.prod(out)) and d.roles(op) == (Role.FEATURE, Role.FEATURE)
    check_op(op)


@pytest.mark.parametrize("op_type", OPS)
def test_shapes_that_do_not_broadcast_are_refused_by_name(op_type):
    g = GraphBuilder()
    with pytest.raises(Unsupported, match=rf"{op_type}: shapes \(1, 4\) and \(1, 3\) do not broadcast"):
        _op(g, op_type, g.input((1, 4)), g.input((1, 3)))


@pytest.mark.parametrize("op_type", OPS)
def test_patchable_with_constants_that_broadcast_and_kernels_limit_merged_dims(op_type):
    g = GraphBuilder()
    x = g.input((1, 6, 8, 3))
    _op(g, op_type, x, g.const(np.ones((6, 1, 3)), scale=0.1))
    _op(g, op_type, g.input((2, 3, 4, 5, 6)), g.input((1, 3, 1, 5, 1)))
    rows, wide = g.ops
    assert definition(rows).patchable(rows)
    assert definition(rows).receptive_field(rows, Region(2, 4, 1, 5), 1) == Region(2, 4, 0, 1)
    definition(wide).validate(wide)
    with pytest.raises(Unsupported, match="needs 5 dims"):
        REGISTRY[op_type].check(wide)


@pytest.mark.parametrize("op_type", ["MAXIMUM", "MINIMUM"])
def test_maximum_minimum_compare_raw_values_whatever_the_quantization(op_type):
    """TFLM compares the stored int8 values; the converter gives inputs and output one quantization."""
    g = GraphBuilder()
    a, b = g.input((4, 5), scale=0.1, zero_point=3), g.input((1, 5), scale=0.3, zero_point=-9)
    _op(g, op_type, a, b, scale=0.05, zero_point=40)
    xa, xb = _ints(a.shape), _ints(b.shape)
    (got,) = run(g.graph(), [xa, xb])
    assert np.array_equal(got, (np.maximum if op_type == "MAXIMUM" else np.minimum)(xa, xb))


def test_sub_divides_its_scales_in_float32_where_add_uses_double():
    g = GraphBuilder()
    s1, s2, so = 0.017140401527285576, 0.033663276582956314, 0.04
    a, b = g.input((2, 8), scale=s1, zero_point=3), g.input((2, 8), scale=s2, zero_point=-7)
    g.add(a, b, scale=so)
    _op(g, "SUB", a, b, scale=so)
    add, sub = g.ops
    assert sub_requant(sub).quant[0] == quantize_multiplier(f32(s1 / (2 * s2))) == (1093438720, -1)
    assert add_requant(add).quant[0] == quantize_multiplier(s1 / (2 * s2)) == (1093438778, -1)


@pytest.mark.parametrize("activation", ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])
def test_sub_reference_and_fused_activation(activation):
    g = GraphBuilder()
    a, b = g.input((3, 4), scale=0.05, zero_point=3), g.input((4,), scale=0.1, zero_point=-7)
    _op(g, "SUB", a, b, activation, scale=0.02, zero_point=-10)
    op = g.ops[0]
    r = sub_requant(op)
    assert (r.input1_offset, r.input2_offset, r.output_offset, r.left_shift) == (-3, 7, -10, 20)
    xa, xb = _ints(a.shape), _ints(b.shape)
    (got,) = run(g.graph(), [xa, xb])
    (m1, s1), (m2, s2), (mo, so) = r.quant
    sa = multiply_by_quantized_multiplier((xa.astype(np.int64) - 3) << 20, m1, s1)
    sb = multiply_by_quantized_multiplier((xb.astype(np.int64) + 7) << 20, m2, s2)
    want = np.clip(multiply_by_quantized_multiplier(sa - sb, mo, so) - 10, *r.act)
    assert np.array_equal(got, want)
    real = 0.02 * (got.astype(float) + 10)
    bounds = {"NONE": (-99, 99), "RELU": (0, 99), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}[activation]
    exact = np.clip(0.05 * (xa - 3.0) - 0.1 * (xb + 7.0), *bounds)
    inside = (got > -128) & (got < 127)
    assert np.abs(real - exact)[inside].max() <= 0.02  # within one output step, where not saturated


def test_sub_factors_must_stay_below_one():
    g = GraphBuilder()
    _op(g, "SUB", g.input((1, 4)), g.input((1, 4)), scale=1e-9)
    with pytest.raises(Unsupported, match=r"SUB rescaling factors .* are not all in \(0, 1\)"):
        check_op(g.ops[0])


@pytest.mark.parametrize("out_scale", [0.002, 0.05])
def test_squared_difference_reference(out_scale):
    """Both operands to twice the larger scale after a left shift of 7; the square rescaled by
    (twice the larger scale)^2 / (2^14 * out): within one output step of the real square."""
    g = GraphBuilder()
    a, b = g.input((5, 6), scale=0.01, zero_point=4), g.input((5, 1), scale=0.02, zero_point=-3)
    g.op("SQUARED_DIFFERENCE", [a, b], None, scale=out_scale, zero_point=-128)
    r = squared_difference_requant(g.ops[0])
    assert r.left_shift == 7 and r.quant[:2] == ((1 << 30, -1), (1 << 30, 0))  # 1/4 and 1/2
    xa, xb = _ints(a.shape), _ints(b.shape)
    (got,) = run(g.graph(), [xa, xb])
    exact = (0.01 * (xa - 4.0) - 0.02 * (xb + 3.0)) ** 2
    real = out_scale * (got.astype(float) + 128)
    inside = got < 127
    assert inside.any() and np.abs(real - exact)[inside].max() <= out_scale


@pytest.mark.parametrize("op_type", OPS)
def test_types_and_per_channel_quantization_are_refused_by_name(op_type):
    g = GraphBuilder()
    _op(g, op_type, g.input((1, 4), type="int16"), g.input((1, 4)), type="int8", scale=0.05)
    with pytest.raises(Unsupported, match="'t1' is int16; int8 expected"):
        check_op(g.ops[0])
    _op(g, op_type, g.input((1, 4)), g.const(np.ones((1, 4)), scale=[0.1, 0.2, 0.3, 0.4], axis=1))
    with pytest.raises(Unsupported, match="quantized per channel"):
        check_op(g.ops[1])
