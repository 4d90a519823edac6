"""BATCH_MATMUL (tf.matmul in a Keras model) against TFLite Micro: both operands activations or one constant, every
adj_x/adj_y combination, batch broadcasting, ranks 3 to 5, odd sizes."""

from __future__ import annotations

import pytest
from matmul_models import matmul_model
from support import assert_bit_exact

from tinyml.frontend.tflite import load_model
from tinyml.passes import optimize


def only_op(path):
    ops = optimize(load_model(path)).ops
    assert [op.type for op in ops] == ["BATCH_MATMUL"]
    return ops[0]


CASES = {
    # name: (operand shapes without the batch, transpose_a, transpose_b)
    "rank3": (((4, 6), (6, 5)), False, False),
    "adj_x": (((6, 4), (6, 5)), True, False),
    "adj_y": (((4, 6), (5, 6)), False, True),
    "adj_both": (((6, 4), (5, 6)), True, True),
    "rank4_batch": (((3, 4, 6), (3, 6, 5)), False, False),
    "broadcast_rhs": (((3, 5, 7), (1, 2, 7)), False, True),
    "broadcast_lhs": (((1, 7, 5), (3, 7, 2)), True, False),
    "broadcast_both_rank5": (((2, 1, 3, 4), (1, 3, 4, 5)), False, False),
    "odd_row_and_depth_1": (((1, 1), (1, 9)), False, False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_activation_operands(case, tmp_path):
    shapes, ta, tb = CASES[case]
    path = matmul_model(shapes, tmp_path / "m.tflite", ta, tb)
    op = only_op(path)
    assert (op.attrs.adj_x, op.attrs.adj_y) == (ta, tb) and not any(t.is_const for t in op.inputs)
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("transpose_b", [False, True], ids=["rhs", "rhs_adj_y"])
def test_constant_rhs(transpose_b, tmp_path):
    """A constant rhs goes to flash with its depth contiguous, whichever way the model stores it."""
    const = ("rhs", (2, 5, 6) if transpose_b else (2, 6, 5))
    path = matmul_model([(2, 4, 6)], tmp_path / "m.tflite", transpose_b=transpose_b, const=const)
    op = only_op(path)
    assert op.input(1).is_const and op.attrs.adj_y == transpose_b
    assert_bit_exact(path, tmp_path)


def test_constant_lhs(tmp_path):
    path = matmul_model([(3, 6, 4)], tmp_path / "m.tflite", transpose_a=True, const=("lhs", (3, 6, 5)))
    op = only_op(path)
    assert op.input(0).is_const and op.attrs.adj_x
    assert_bit_exact(path, tmp_path)
