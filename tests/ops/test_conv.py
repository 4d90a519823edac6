"""CONV_2D and DEPTHWISE_CONV_2D definitions on graphs built in Python: shapes, windows, MACs, receptive fields,
roles, validation, requantization, and the reference against a plain loop over the definition of a convolution."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tinyml.errors import UnsupportedOpError
from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT2, INT4, INT8, INT16, INT32
from tinyml.kernels import REGISTRY
from tinyml.ops import Region, Role, Unsupported, Window, definition
from tinyml.ops.arith import multiply_by_quantized_multiplier
from tinyml.ops.requant import conv_requant
from tinyml.passes import check_op, check_supported
from tinyml.reference import run

RNG = np.random.default_rng(7)


def conv_graph(in_hw=(9, 7), channels=3, filters=4, kernel=(3, 3), **attrs):
    """A CONV_2D on an int8 image with per-channel int8 weights and a bias: (input, weights, output, op)."""
    b = GraphBuilder("conv")
    x = b.input((1, *in_hw, channels), scale=0.05, zero_point=-3)
    w = b.weights(RNG.integers(-127, 128, (filters, *kernel, channels)), scales=list(0.01 + 0.01 * RNG.random(filters)))
    y = b.conv2d(x, w, bias=RNG.integers(-500, 500, filters), scale=0.15, zero_point=5, **attrs)
    return x, w, y, b.ops[-1]


@pytest.mark.parametrize(
    ("in_hw", "kernel", "attrs", "out_hw", "padding"),
    [
        ((9, 7), (3, 3), {"padding": "SAME"}, (9, 7), (1, 1, 1, 1)),
        ((9, 7), (3, 3), {"padding": "VALID"}, (7, 5), (0, 0, 0, 0)),
        ((9, 7), (3, 3), {"padding": "SAME", "stride": 2}, (5, 4), (1, 1, 1, 1)),
        ((8, 8), (3, 3), {"padding": "SAME", "stride": 2}, (4, 4), (0, 0, 1, 1)),  # the odd pixel goes after
        ((8, 6), (4, 2), {"padding": "SAME"}, (8, 6), (1, 0, 2, 1)),
        ((9, 9), (3, 3), {"padding": "SAME", "dilation": 2}, (9, 9), (2, 2, 2, 2)),
        ((9, 9), (3, 3), {"padding": "VALID", "dilation": (2, 3)}, (5, 3), (0, 0, 0, 0)),
        ((6, 6), (3, 3), {"padding": "EXPLICIT", "explicit_padding": (2, 0, 1, 0)}, (7, 4), (2, 0, 1, 0)),
    ],
)
def test_window_and_output_shape(in_hw, kernel, attrs, out_hw, padding):
    _, _, y, op = conv_graph(in_hw, kernel=kernel, **attrs)
    window = definition(op).window(op)
    assert window.padding == padding and window.kernel == kernel
    assert y.shape == (1, *out_hw, 4) and window.out_hw(in_hw) == out_hw
    assert definition(op).macs(op) == out_hw[0] * out_hw[1] * 4 * kernel[0] * kernel[1] * 3


def test_receptive_field_is_the_window_clipped_to_the_image():
    *_, op = conv_graph((9, 7), padding="SAME", stride=2)
    d = definition(op)
    assert d.patchable(op)
    assert d.receptive_field(op, Region(0, 1, 0, 1), 0) == Region(0, 2, 0, 2)  # the top-left tap is padding
    assert d.receptive_field(op, Region(1, 3, 1, 2), 0) == Region(1, 6, 1, 4)
    assert d.receptive_field(op, Region(4, 5, 3, 4), 0) == Region(7, 9, 5, 7)  # clipped at the bottom/right
    window = d.window(op)
    read = d.receptive_field(op, Region(1, 3, 1, 2), 0)
    # a patch computing those outputs from that region alone needs no padding inside the image
    assert window.explicit_for(Region(1, 3, 1, 2), read) == (0, 0, 0, 0)
    assert window.explicit_for(Region(0, 1, 0, 1), Region(0, 2, 0, 2)) == (1, 1, 0, 0)


def test_roles():
    x, w, _, op = conv_graph()
    assert definition(op).roles(op) == (Role.FEATURE, Role.WEIGHTS, Role.BIAS)
    assert definition(op).role_of(op, w) is Role.WEIGHTS
    assert definition(op).inputs_with(op, Role.FEATURE) == [x]


def _naive_conv(x, w, bias, x_zp, window: Window, out_hw, groups=1):
    """Sum over in-image taps of (x - zero point) * w, plus bias: a convolution as written in a textbook."""
    n, h, wd, _ = x.shape
    oc, kh, kw, kc = w.shape
    per_group = oc // groups
    acc = np.zeros((n, *out_hw, oc), np.int64)
    top, left = window.pad_hw
    for oy in range(out_hw[0]):
        for ox in range(out_hw[1]):
            for o in range(oc):
                g = o // per_group
                total = int(bias[o])
                for ky in range(kh):
                    for kx in range(kw):
                        iy = oy * window.stride[0] - top + ky * window.dilation[0]
                        ix = ox * window.stride[1] - left + kx * window.dilation[1]
                        if 0 <= iy < h and 0 <= ix < wd:
                            xs = x[0, iy, ix, g * kc : (g + 1) * kc].astype(np.int64) - x_zp
                            total += int(xs @ w[o, ky, kx].astype(np.int64))
                acc[0, oy, ox, o] = total
    return acc


@pytest.mark.parametrize(
    "attrs",
    [{"padding": "SAME", "stride": 2}, {"padding": "VALID", "dilation": 2}, {"padding": "SAME", "activation": "RELU6"}],
    ids=["same_stride2", "valid_dilated", "relu6"],
)
@pytest.mark.parametrize("weights_type", [INT8, INT4], ids=str)
def test_reference_is_a_convolution(attrs, weights_type):
    b = GraphBuilder("conv")
    x = b.input((1, 9, 8, 4), scale=0.05, zero_point=-3)
    lo, hi = weights_type.range
    w = b.weights(
        RNG.integers(lo + 1, hi + 1, (6, 3, 3, 2)), scales=list(0.02 + 0.02 * RNG.random(6)), type=weights_type
    )
    y = b.conv2d(x, w, bias=RNG.integers(-900, 900, 6), scale=0.2, zero_point=4, **attrs)  # two groups
    op = b.ops[-1]
    xs = RNG.integers(-128, 128, x.shape).astype(np.int8)
    (got,) = run(b.graph(), [xs])
    r = conv_requant(op)
    acc = _naive_conv(xs, w.data, op.input(2).data, -3, definition(op).window(op), y.shape[1:3], groups=2)
    want = np.clip(multiply_by_quantized_multiplier(acc, r.multipliers, r.shifts) + 4, *r.act)
    assert got.dtype == np.int8 and np.array_equal(got, want)
    if attrs.get("activation") == "RELU6":
        assert r.act[0] == 4 and r.act[1] < 127


def test_depthwise_reference_with_a_multiplier():
    b = GraphBuilder("dw")
    x = b.input((1, 6, 5, 3), scale=0.04, zero_point=2)
    w = b.weights(RNG.integers(-127, 128, (1, 3, 3, 6)), scales=list(0.01 + 0.01 * RNG.random(6)), axis=3)
    y = b.depthwise_conv2d(x, w, np.zeros(6, dtype=np.int64), depth_multiplier=2, padding="SAME", scale=0.1)
    op = b.ops[-1]
    assert y.shape == (1, 6, 5, 6) and definition(op).macs(op) == 6 * 5 * 6 * 9
    xs = RNG.integers(-128, 128, x.shape).astype(np.int8)
    (got,) = run(b.graph(), [xs])
    # output channel c*2+m convolves input channel c with filter channel c*2+m: a grouped conv with 3 groups
    dense = w.data.transpose(3, 1, 2, 0)  # (6, 3, 3, 1)
    acc = _naive_conv(xs, dense, np.zeros(6), 2, definition(op).window(op), (6, 5), groups=3)
    r = conv_requant(op)
    want = np.clip(multiply_by_quantized_multiplier(acc, r.multipliers, r.shifts) + r.output_offset, *r.act)
    assert r.output_offset == 2 and np.array_equal(got, want)  # the output took the input's quantization


def test_folded_bias():
    """bias + input_offset * (sum of each output channel's weights), what the portable and fast kernels add."""
    _, w, _, op = conv_graph()
    r = conv_requant(op)
    expected = op.input(2).data.astype(np.int64) + 3 * w.data.reshape(4, -1).astype(np.int64).sum(axis=1)
    assert r.folded_bias.tolist() == expected.tolist() and r.input_offset == 3 and r.output_offset == 5
    assert len(r.multipliers) == len(r.shifts) == 4 and r.per_channel


def _refusal(op) -> str:
    with pytest.raises(Unsupported) as e:
        check_op(op)
    return str(e.value)


def test_validation_names_the_variant():
    _, w, _, op = conv_graph()
    check_op(op)
    bias = op.input(2)
    bias.type = INT16
    assert _refusal(op) == f"bias {bias.name!r} is int16; int32 expected"
    bias.type, w.data = INT32, None
    assert _refusal(op) == "weights computed at run time (non-constant filter)"

    _, w, _, op = conv_graph()
    w.quant = dataclasses.replace(w.quant, zero_points=(1,) * 4)
    assert _refusal(op) == "weights with a non-zero zero point"

    *_, op = conv_graph(activation="TANH")
    assert _refusal(op) == "fused activation TANH"

    b = GraphBuilder()
    x = b.input((1, 5, 5, 3))
    b.conv2d(x, b.weights(np.ones((2, 3, 3, 3))), shape=(1, 4, 4, 2))  # SAME keeps 5x5
    assert _refusal(b.ops[-1]) == "output shape (1, 4, 4, 2) does not follow from the inputs (expected (1, 5, 5, 2))"

    b = GraphBuilder()
    x = b.input((1, 5, 5, 4))
    b.conv2d(x, b.weights(np.ones((3, 3, 3, 2))), shape=(1, 5, 5, 3))
    assert _refusal(b.ops[-1]) == "3 output channels do not split into 2 groups"

    b = GraphBuilder()
    x = b.input((1, 5, 5, 3))
    b.conv2d(x, b.weights(np.ones((2, 3, 3, 3)), scales=[0.1, 0.2]), np.zeros(3), shape=(1, 5, 5, 2))
    assert _refusal(b.ops[-1]) == f"bias {b.ops[-1].input(2).name!r} has 3 values for 2 output channels"


def test_int4_and_int2_weights_are_taken():
    """The definition (and its reference) takes int4 and int2 weights; the portable kernel runs both (its s4 variant,
    tests/kernels/test_int4.py, and its sub-byte one, tests/kernels/test_subbyte.py)."""
    for weights_type, lo in ((INT4, -8), (INT2, -2)):
        b = GraphBuilder(str(weights_type))
        x = b.input((1, 6, 6, 2))
        w = b.weights(RNG.integers(lo, -lo, (3, 3, 3, 2)), type=weights_type, scales=[0.1, 0.2, 0.1])
        b.conv2d(x, w, np.zeros(3), name="y")
        op = b.ops[-1]
        definition(op).validate(op)
        assert w.nbytes == weights_type.nbytes(54) and w.data.dtype == np.int8
        check_supported(b.graph())
        assert REGISTRY["CONV_2D"].accepts(op)


def test_4_bit_activations_are_refused_by_name():
    """No definition computes on 4-bit feature maps yet (TFLite has none): the graph is refused, naming the tensor."""
    for bad in ("input", "output"):
        b = GraphBuilder("act4")
        x = b.input((1, 6, 6, 2), type=INT4 if bad == "input" else INT8, name="x")
        w = b.weights(RNG.integers(-127, 128, (3, 3, 3, 2)), scales=0.02)
        b.conv2d(x, w, np.zeros(3), type=INT4 if bad == "output" else INT8, name="y")
        with pytest.raises(UnsupportedOpError) as e:
            check_supported(b.graph())
        name = "x" if bad == "input" else "y"
        assert f"op #0 CONV_2D (output 'y'): tensor '{name}' is int4; int8 expected" in str(e.value)
