"""TRANSPOSE_CONV's definition on graphs built in Python: roles, padding, output shape, MACs, validation, and the
reference against a plain loop over TFLite Micro's scatter."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT4, INT16, INT32
from tinyml.kernels import REGISTRY
from tinyml.ops import Role, Unsupported, definition
from tinyml.ops.arith import multiply_by_quantized_multiplier
from tinyml.ops.transpose_conv import transpose_conv_requant, transpose_padding
from tinyml.passes import check_op
from tinyml.reference import run

RNG = np.random.default_rng(12)


def transpose_conv_graph(
    in_hw=(4, 5), channels=3, filters=4, kernel=(3, 3), out_hw=(8, 10), bias=True, weights_type=None, **attrs
):
    """A TRANSPOSE_CONV on an int8 image with per-channel weights: (builder, input, output, op)."""
    b = GraphBuilder("tconv")
    x = b.input((1, *in_hw, channels), scale=0.05, zero_point=-3)
    shape = b.const(np.array([1, *out_hw, filters]), type=INT32)
    w = b.weights(
        RNG.integers(-7, 8, (filters, *kernel, channels)),
        scales=list(0.01 + 0.01 * RNG.random(filters)),
        **({} if weights_type is None else {"type": weights_type}),
    )
    inputs = [shape, w, x]
    if bias:
        inputs.append(b.const(RNG.integers(-900, 900, filters), type=INT32, scale=0.001))
    options = {"stride_h": 2, "stride_w": 2, "padding": "SAME", **attrs}
    y = b.op("TRANSPOSE_CONV", inputs, options, type="int8", scale=0.1, zero_point=6)
    return b, x, y, b.ops[-1]


def test_roles_shape_and_macs():
    _, _, y, op = transpose_conv_graph()
    d = definition(op)
    assert d.roles(op) == (Role.PARAM, Role.WEIGHTS, Role.FEATURE, Role.BIAS)
    assert y.shape == (1, 8, 10, 4) and d.macs(op) == 4 * 5 * 3 * 9 * 4
    assert d.window(op) is None and not d.patchable(op)
    check_op(op)


@pytest.mark.parametrize(
    ("attrs", "kernel", "out_hw", "pads"),
    [
        ({"padding": "SAME"}, (3, 3), (8, 10), (0, 0)),  # ceil(8 / 2) = 4 steps cover 9 rows: 1 left over, after
        ({"padding": "SAME"}, (4, 4), (8, 10), (1, 1)),
        ({"padding": "SAME"}, (3, 3), (7, 9), (1, 1)),
        ({"padding": "VALID"}, (3, 3), (9, 11), (0, 0)),
        ({"padding": "SAME", "stride_h": 1, "stride_w": 1}, (3, 2), (4, 5), (1, 0)),
    ],
)
def test_padding_is_the_forward_convolutions(attrs, kernel, out_hw, pads):
    *_, op = transpose_conv_graph(kernel=kernel, out_hw=out_hw, **attrs)
    assert transpose_padding(op) == pads


def _scatter(x, w, bias, input_offset, stride, pads, out_shape):
    """TFLite Micro's loop, literally: every input value through every tap, kept when it lands in the output."""
    acc = np.zeros(out_shape, np.int64)
    n, ih, iw, _ = x.shape
    _, kh, kw, _ = w.shape
    for b in range(n):
        for iy in range(ih):
            for ix in range(iw):
                for ky in range(kh):
                    for kx in range(kw):
                        oy, ox = iy * stride[0] - pads[0] + ky, ix * stride[1] - pads[1] + kx
                        if 0 <= oy < out_shape[1] and 0 <= ox < out_shape[2]:
                            acc[b, oy, ox] += (x[b, iy, ix].astype(np.int64) + input_offset) @ w[:, ky, kx].T
    return acc + (0 if bias is None else bias)


@pytest.mark.parametrize(
    ("kw", "out_hw"),
    [
        ({}, (8, 10)),
        ({"activation": "RELU6", "bias": False}, (8, 10)),
        ({"padding": "VALID", "kernel": (2, 4)}, (8, 12)),
        ({"stride_h": 3, "stride_w": 1, "kernel": (2, 3), "activation": "RELU"}, (12, 5)),
        ({"padding": "SAME"}, (7, 9)),
    ],
)
def test_reference_is_tflite_micros_scatter(kw, out_hw):
    b, x, y, op = transpose_conv_graph(out_hw=out_hw, **kw)
    xs = RNG.integers(-128, 128, x.shape).astype(np.int8)
    (got,) = run(b.graph(), [xs])
    r = transpose_conv_requant(op)
    acc = _scatter(xs, op.input(1).data, r.bias, 3, op.attrs.stride, transpose_padding(op), y.shape)
    want = np.clip(multiply_by_quantized_multiplier(acc, r.multipliers, r.shifts) + 6, *r.act)
    assert got.dtype == np.int8 and np.array_equal(got, want)
    assert r.input_offset == 3 and r.output_offset == 6 and (r.bias is None) == (kw.get("bias") is False)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"out_hw": (8, 10), "weights_type": INT4}, "int4"),
        ({"activation": "TANH"}, "fused activation TANH"),
        ({"padding": "EXPLICIT"}, "padding EXPLICIT"),
        ({"stride_h": 0}, "stride 0x2"),
    ],
)
def test_unsupported_variants(kw, message):
    *_, op = transpose_conv_graph(**kw)
    with pytest.raises(Unsupported, match=message):
        check_op(op)


def test_output_shape_must_agree_and_be_constant():
    *_, op = transpose_conv_graph()
    op.inputs[0].data = np.array([1, 8, 10, 5], np.int32)
    with pytest.raises(Unsupported, match=r"output shape \[1, 8, 10, 5\] for a batch of 1 and 4 filters"):
        check_op(op)
    op.inputs[0].data = None
    with pytest.raises(Unsupported, match="output shape computed at run time"):
        check_op(op)


def test_int16_input_is_refused_by_name():
    b = GraphBuilder("tconv")
    x = b.input((1, 3, 3, 2), type=INT16, scale=0.01)
    shape = b.const(np.array([1, 3, 3, 2]), type=INT32)
    w = b.weights(RNG.integers(-7, 8, (2, 3, 3, 2)), scales=0.02)
    b.op("TRANSPOSE_CONV", [shape, w, x], {"padding": "SAME"}, type="int16", scale=0.01)
    with pytest.raises(Unsupported, match="is int16; int8 expected"):
        check_op(b.ops[-1])
    assert "TRANSPOSE_CONV" in REGISTRY
