"""PAD/PADV2, CONCATENATION, RESHAPE, SQUEEZE and EXPAND_DIMS definitions: inferred shapes, roles, no MACs,
validation, and references that move every byte as it is."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ir.graph import Quantization
from tinyml.ir.types import INT8, INT16
from tinyml.ops import Role, Unsupported, definition
from tinyml.passes import check_op
from tinyml.reference import run

RNG = np.random.default_rng(17)


def _refusal(op) -> str:
    with pytest.raises(Unsupported) as e:
        check_op(op)
    return str(e.value)


def test_pad_fills_with_the_output_zero_point_and_padv2_with_its_constant():
    b = GraphBuilder()
    x = b.input((1, 2, 3, 2), zero_point=-5)
    padded = b.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]])
    filled = b.pad(x, [[0, 0], [0, 0], [2, 0], [0, 1]], value=9)
    pad, padv2 = b.ops
    assert padded.shape == (1, 5, 4, 2) and filled.shape == (1, 2, 5, 3)
    assert definition(pad).roles(pad) == (Role.FEATURE, Role.PARAM)
    assert definition(padv2).roles(padv2) == (Role.FEATURE, Role.PARAM, Role.PARAM)
    assert definition(pad).macs(pad) == 0 and not definition(pad).patchable(pad)
    check_op(pad)
    check_op(padv2)
    xs = RNG.integers(-128, 128, x.shape).astype(np.int8)
    got_pad, got_padv2 = run(b.graph([padded, filled]), [xs])
    assert np.array_equal(got_pad, np.pad(xs, [(0, 0), (1, 2), (0, 1), (0, 0)], constant_values=-5))
    assert np.array_equal(got_padv2, np.pad(xs, [(0, 0), (0, 0), (2, 0), (0, 1)], constant_values=9))


def test_pad_validation():
    b = GraphBuilder()
    b.pad(b.input((1, 4)), [[0, 0], [-1, 0]], shape=(1, 3))
    assert _refusal(b.ops[0]) == "negative paddings (cropping)"
    b = GraphBuilder()
    b.pad(b.input((1, 4)), [[0, 0]], shape=(1, 4))
    assert _refusal(b.ops[0]) == "paddings for 1 dims on a rank 2 input"
    b = GraphBuilder()
    x = b.input((1, 4), zero_point=0)
    b.pad(x, [[0, 0], [1, 1]], value=3)
    b.ops[0].input(2).quant = Quantization((0.5,), (0,))
    assert _refusal(b.ops[0]) == "pad value quantized differently from the output"


def test_concatenation_shapes_and_bytes():
    b = GraphBuilder()
    parts = [b.input((1, 2, 3, c)) for c in (1, 4, 2)]
    y = b.concatenation(parts, axis=-1)
    op = b.ops[0]
    assert y.shape == (1, 2, 3, 7) and definition(op).roles(op) == (Role.FEATURE,) * 3
    check_op(op)
    xs = [RNG.integers(-128, 128, t.shape).astype(np.int8) for t in parts]
    (got,) = run(b.graph(), xs)
    assert np.array_equal(got, np.concatenate(xs, axis=3))


def test_concatenation_validation():
    b = GraphBuilder()
    b.concatenation([b.input((1, 2, 3)), b.input((1, 2, 3), scale=0.1, name="b")], axis=1)
    assert _refusal(b.ops[0]) == "input 'b' is quantized unlike the output (TFLite Micro requires equal)"
    b = GraphBuilder()
    b.concatenation([b.input((1, 2, 3)), b.input((1, 3, 4), name="b")], axis=1, shape=(1, 5, 3))
    assert _refusal(b.ops[0]) == "input 'b' of shape (1, 3, 4) does not fit output (1, 5, 3)"
    b = GraphBuilder()
    with pytest.raises(Unsupported, match="axis 3 of a rank 3 tensor"):
        b.concatenation([b.input((1, 2, 3)), b.input((1, 2, 3))], axis=3)


@pytest.mark.parametrize(
    ("build", "shape"),
    [
        (lambda b, x: b.reshape(x, (2, -1)), (2, 12)),
        (lambda b, x: b.reshape(x, (4, 3, 2)), (4, 3, 2)),
        (lambda b, x: b.squeeze(x), (2, 3, 4)),
        (lambda b, x: b.squeeze(x, (0,)), (2, 3, 4)),
        (lambda b, x: b.expand_dims(x, -1), (1, 2, 3, 4, 1)),
        (lambda b, x: b.expand_dims(x, 1), (1, 1, 2, 3, 4)),
    ],
    ids=["reshape_minus_one", "reshape", "squeeze_all", "squeeze_0", "expand_last", "expand_1"],
)
def test_views_keep_every_byte(build, shape):
    b = GraphBuilder()
    x = b.input((1, 2, 3, 4))
    y = build(b, x)
    op = b.ops[0]
    assert y.shape == shape and y.quant == x.quant and definition(op).macs(op) == 0
    assert definition(op).roles(op)[0] is Role.FEATURE and all(r is Role.PARAM for r in definition(op).roles(op)[1:])
    check_op(op)
    xs = RNG.integers(-128, 128, x.shape).astype(np.int8)
    (got,) = run(b.graph(), [xs])
    assert got.shape == shape and got.tobytes() == xs.tobytes()


def test_view_validation():
    b = GraphBuilder()
    b.reshape(b.input((1, 6)), (4, 2), shape=(4, 2))
    assert _refusal(b.ops[0]) == "reshape of (1, 6) int8 to (4, 2) int8"
    b = GraphBuilder()
    b.reshape(b.input((1, 6)), (6,), type=INT16)
    assert _refusal(b.ops[0]) == "reshape of (1, 6) int8 to (6,) int16"
    b = GraphBuilder()
    b.reshape(b.input((1, 6)), (6,), scale=0.5)
    assert _refusal(b.ops[0]) == "reshape that changes quantization"
    assert b.ops[0].outputs[0].type == INT8
