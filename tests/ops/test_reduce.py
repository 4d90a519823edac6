"""MEAN's definition: axes (negative ones from the end), kept dims, MACs, validation, and the reference against a
rounded float mean."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ops import Role, Unsupported, definition
from tinyml.passes import check_op
from tinyml.reference import run

RNG = np.random.default_rng(23)


@pytest.mark.parametrize(
    ("axes", "keep", "shape"),
    [((1, 2), True, (1, 1, 1, 8)), ((1, 2), False, (1, 8)), ((-1,), False, (1, 5, 6)), ((0, 3), True, (1, 5, 6, 1))],
)
def test_shapes_and_macs(axes, keep, shape):
    b = GraphBuilder()
    x = b.input((1, 5, 6, 8))
    y = b.mean(x, axes, keep_dims=keep)
    op = b.ops[0]
    assert y.shape == shape and definition(op).macs(op) == x.num_elements
    assert definition(op).roles(op) == (Role.FEATURE, Role.PARAM)


def test_global_average_is_the_rounded_mean():
    b = GraphBuilder()
    x = b.input((1, 4, 5, 3), scale=0.1, zero_point=-6)
    b.mean(x, (1, 2), keep_dims=True, scale=0.05, zero_point=10)
    check_op(b.ops[0])
    xs = RNG.integers(-128, 128, x.shape).astype(np.int8)
    (got,) = run(b.graph(), [xs])
    exact = (xs.astype(np.float64) + 6).mean(axis=(1, 2), keepdims=True) * 0.1 / 0.05 + 10
    # within one output step: TFLM rounds twice (the doubling high multiply, then the shift)
    assert got.shape == (1, 1, 1, 3) and np.abs(got - exact).max() <= 1


def test_validation():
    b = GraphBuilder()
    with pytest.raises(Unsupported, match="axis 4 of a rank 4 input"):
        b.mean(b.input((1, 2, 2, 3)), (4,))
    b = GraphBuilder()
    b.mean(b.input((1, 2, 2, 3)), (1, 2), shape=(1, 2))
    with pytest.raises(Unsupported, match=r"output shape \(1, 2\) does not match MEAN of \(1, 2, 2, 3\)"):
        check_op(b.ops[0])
    b = GraphBuilder()
    b.mean(b.input((1, 2, 2, 3)), (1, 2))
    b.ops[0].inputs[1].data = None
    with pytest.raises(Unsupported, match="axes computed at run time"):
        check_op(b.ops[0])
