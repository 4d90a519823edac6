"""AVERAGE_POOL_2D and MAX_POOL_2D definitions: windows, shapes, MACs, receptive fields, validation, and the
references against loops over the taps that exist."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ops import Region, Role, Unsupported, definition
from tinyml.passes import check_op
from tinyml.reference import run

RNG = np.random.default_rng(5)


@pytest.mark.parametrize(
    ("size", "stride", "padding", "out_hw", "pads"),
    [
        (2, None, "VALID", (3, 3), (0, 0, 0, 0)),
        (3, 2, "SAME", (4, 4), (1, 1, 1, 1)),
        ((3, 2), 1, "SAME", (7, 7), (1, 0, 1, 1)),
    ],
)
def test_shapes_windows_and_macs(size, stride, padding, out_hw, pads):
    b = GraphBuilder()
    x = b.input((1, 7, 7, 3))
    avg = b.average_pool2d(x, size, stride, padding)
    b.max_pool2d(x, size, stride, padding)
    a, m = b.ops
    assert avg.shape == (1, *out_hw, 3) and definition(a).window(a).padding == pads
    kh, kw = (size, size) if isinstance(size, int) else size
    assert definition(a).macs(a) == avg.num_elements * kh * kw and definition(m).macs(m) == 0
    assert definition(a).patchable(a) and definition(m).roles(m) == (Role.FEATURE,)
    check_op(a)
    check_op(m)


def test_receptive_field():
    b = GraphBuilder()
    b.max_pool2d(b.input((1, 8, 8, 2)), 3, 2, "SAME")
    op = b.ops[0]
    # SAME on 8 pixels with 3-wide windows every 2: no padding before, one after
    assert definition(op).window(op).padding == (0, 0, 1, 1)
    assert definition(op).receptive_field(op, Region(0, 2, 1, 4), 0) == Region(0, 5, 2, 8)


def _loop_pool(x, window, out_hw, reduce):
    out = np.zeros((1, *out_hw, x.shape[3]), np.int64)
    top, left = window.pad_hw
    for oy in range(out_hw[0]):
        for ox in range(out_hw[1]):
            y0, x0 = oy * window.stride[0] - top, ox * window.stride[1] - left
            taps = x[0, max(0, y0) : y0 + window.kernel[0], max(0, x0) : x0 + window.kernel[1], :]
            out[0, oy, ox] = reduce(taps.reshape(-1, x.shape[3]).astype(np.int64))
    return out


def _c_rounded_mean(taps):
    """TFLM's average: (sum +/- count/2) / count, C division truncating toward zero."""
    total, count = taps.sum(axis=0), taps.shape[0]
    return np.where(total > 0, (total + count // 2) // count, -((-total + count // 2) // count))


@pytest.mark.parametrize("activation", ["NONE", "RELU6"])
def test_references_reduce_the_taps_that_exist(activation):
    b = GraphBuilder()
    x = b.input((1, 7, 6, 3), scale=0.05, zero_point=-10)
    avg = b.average_pool2d(x, 3, 2, "SAME", activation)
    top = b.max_pool2d(x, 3, 2, "SAME", activation)
    xs = RNG.integers(-128, 128, x.shape).astype(np.int8)
    got_avg, got_max = run(b.graph([avg, top]), [xs])
    window = definition(b.ops[0]).window(b.ops[0])
    lo, hi = (-10, 110) if activation == "RELU6" else (-128, 127)  # 6 / 0.05 = 120 steps above the zero point
    assert np.array_equal(got_avg, np.clip(_loop_pool(xs, window, (4, 3), _c_rounded_mean), lo, hi))
    assert np.array_equal(got_max, np.clip(_loop_pool(xs, window, (4, 3), lambda t: t.max(axis=0)), lo, hi))


def test_validation():
    b = GraphBuilder()
    x = b.input((1, 6, 6, 2), scale=0.05)
    b.max_pool2d(x, 2, scale=0.1)
    with pytest.raises(Unsupported, match="input and output scales differ"):
        check_op(b.ops[-1])
    b = GraphBuilder()
    x = b.input((1, 6, 6, 2), zero_point=1)
    b.average_pool2d(x, 2, zero_point=2)
    with pytest.raises(Unsupported, match="zero points differ"):
        check_op(b.ops[-1])
    b = GraphBuilder()
    x = b.input((1, 6, 6, 2))
    b.max_pool2d(x, 2, shape=(1, 2, 2, 2))
    with pytest.raises(Unsupported, match=r"output shape \(1, 2, 2, 2\) does not follow from input"):
        check_op(b.ops[-1])
    b = GraphBuilder()
    b.max_pool2d(b.input((6, 6, 2)), 2, shape=(3, 3, 2))
    with pytest.raises(Unsupported, match="only 4-D NHWC tensors"):
        check_op(b.ops[-1])
