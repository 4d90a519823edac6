"""PRELU, LEAKY_RELU and HARD_SWISH definitions: roles, shapes, patching, validation, the multipliers each
computes once, and references that stay within an output step of the real functions."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ops import Region, Role, Unsupported, definition
from tinyml.ops.fixedpoint import quantize_multiplier
from tinyml.ops.piecewise import (
    LeakyReluAttrs,
    downscale_int32_to_int16_multiplier,
    hard_swish_params,
    leaky_relu_requant,
    prelu_requant,
)
from tinyml.passes import check_op
from tinyml.reference import run

ALL = np.arange(-128, 128, dtype=np.int8)


def _real(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return scale * (x.astype(np.float64) - zero_point)


def test_prelu_roles_shapes_patching_and_two_multipliers():
    g = GraphBuilder()
    x = g.input((1, 4, 6, 3), scale=0.05, zero_point=10)
    alpha = g.const(np.array([16, -32, 96], dtype=np.int8), scale=1 / 64, zero_point=0)  # 0.25, -0.5, 1.5
    y = g.op("PRELU", [x, alpha], None, scale=0.04, zero_point=-5)
    op = g.ops[0]
    d = definition(op)
    assert y.shape == x.shape and d.roles(op) == (Role.FEATURE, Role.FEATURE) and d.macs(op) == x.num_elements
    assert d.patchable(op) and d.receptive_field(op, Region(1, 3, 2, 5), 1) == Region(0, 1, 0, 1)
    check_op(op)
    r = prelu_requant(op)
    assert (r.input_offset, r.alpha_offset, r.output_offset) == (-10, 0, -5)
    s_in, s_alpha, s_out = (t.quant.scale for t in (x, alpha, y))
    assert r.positive == quantize_multiplier(s_in / s_out) and r.negative == quantize_multiplier(s_in * s_alpha / s_out)


def test_prelu_reference_follows_each_channels_slope():
    g = GraphBuilder()
    x = g.input((4, 64, 3), scale=0.05, zero_point=10)
    slopes = np.array([0.25, -0.5, 1.5])
    alpha = g.const(np.array([20, -28, 100], dtype=np.int8), scale=1 / 64, zero_point=4)  # slopes, zero point 4
    g.op("PRELU", [x, alpha], None, scale=0.1, zero_point=-5)
    xs = np.ascontiguousarray(np.broadcast_to(ALL[:192].reshape(1, 64, 3), (4, 64, 3)))
    (got,) = run(g.graph(), [xs])
    real = _real(xs, 0.05, 10)
    exact = np.where(real >= 0, real, real * slopes)
    inside = (got > -128) & (got < 127)
    assert inside.mean() > 0.9 and np.abs(_real(got, 0.1, -5) - exact)[inside].max() <= 0.1


@pytest.mark.parametrize("alpha", [0.01, 0.2, 1.5, -0.3])
def test_leaky_relu_reference_and_sign_of_the_slope(alpha):
    g = GraphBuilder()
    x = g.input((256,), scale=0.03, zero_point=-20)
    g.op("LEAKY_RELU", [x], {"alpha": alpha}, scale=0.04, zero_point=30)
    op = g.ops[0]
    assert op.attrs == LeakyReluAttrs(float(np.float32(alpha)))
    check_op(op)
    r = leaky_relu_requant(op)
    assert r.alpha_negative == (alpha < 0) and r.alpha[0] > 0 and (r.input_zero_point, r.output_zero_point) == (-20, 30)
    (got,) = run(g.graph(), [ALL])
    real = _real(ALL, 0.03, -20)
    exact = np.where(real >= 0, real, alpha * real)
    inside = (got > -128) & (got < 127)
    assert np.abs(_real(got, 0.04, 30) - exact)[inside].max() <= 0.04  # two roundings: within one step


def test_int16_multiplier_rounds_the_top_bits_and_saturates():
    assert downscale_int32_to_int16_multiplier(1 << 30) == 1 << 14
    assert downscale_int32_to_int16_multiplier((1 << 30) + (1 << 15)) == (1 << 14) + 1
    assert downscale_int32_to_int16_multiplier((1 << 31) - 1) == (1 << 15) - 1


@pytest.mark.parametrize(("in_scale", "in_zero", "out_scale", "out_zero"), [(0.05, 0, 0.03, -60), (0.1, 40, 0.05, -70)])
def test_hard_swish_reference_is_within_a_step_of_x_relu6_x_plus_3_over_6(in_scale, in_zero, out_scale, out_zero):
    g = GraphBuilder()
    x = g.input((256,), scale=in_scale, zero_point=in_zero)
    g.op("HARD_SWISH", [x], None, scale=out_scale, zero_point=out_zero)
    op = g.ops[0]
    check_op(op)
    p = hard_swish_params(op)
    assert p.output_exponent <= 0 and 1 << 14 <= p.output_multiplier < 1 << 15
    (got,) = run(g.graph(), [ALL])
    real = _real(ALL, in_scale, in_zero)
    exact = real * np.clip(real + 3, 0, 6) / 6
    inside = (got > -128) & (got < 127)
    assert inside.mean() > 0.5 and np.abs(_real(got, out_scale, out_zero) - exact)[inside].max() <= out_scale


def test_hard_swish_refuses_an_output_finer_than_its_fixed_point():
    g = GraphBuilder()
    g.op("HARD_SWISH", [g.input((8,), scale=0.5)], None, scale=0.001)
    with pytest.raises(Unsupported, match=r"HARD_SWISH output scale 0\.001 is below the input scale / 128"):
        check_op(g.ops[0])


@pytest.mark.parametrize("op_type", ["LEAKY_RELU", "HARD_SWISH", "PRELU"])
def test_types_and_per_channel_quantization_are_refused_by_name(op_type):
    g = GraphBuilder()
    x = g.input((1, 4), type="int16")
    second = [g.const(np.ones(4), scale=0.1)] if op_type == "PRELU" else []
    g.op(op_type, [x, *second], None, type="int8", scale=0.05)
    with pytest.raises(Unsupported, match="'t1' is int16; int8 expected"):
        check_op(g.ops[0])
    if op_type == "PRELU":
        alpha = g.const(np.ones(4), scale=[0.1, 0.2, 0.3, 0.4], axis=0)
        g.op("PRELU", [g.input((1, 4)), alpha], None)
        with pytest.raises(Unsupported, match="quantized per channel"):
            check_op(g.ops[1])
