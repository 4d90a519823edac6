"""BATCH_MATMUL on CMSIS-NN's arm_batch_matmul_s8 (host), and TRANSPOSE_CONV with BATCH_MATMUL on the emulated
Cortex-M7 (mps2-an500) and Cortex-M55 (mps3-an547) with the CMSIS-NN backend: all bit-exact with TFLite Micro.
Skipped, naming where tinyml looked, without CMSIS-NN."""

from __future__ import annotations

import pytest
from matmul_models import matmul_model, upsample_matmul_model
from support import CMSIS, assert_bit_exact, assert_runs_bit_exact, needs_cmsis, suite_cache

from tinyml.frontend.tflite import load_model
from tinyml.ir.builder import GraphBuilder
from tinyml.kernels import REGISTRY
from tinyml.kernels import cmsis_nn as cn
from tinyml.kernels.backends import Backend, select_backend
from tinyml.passes import optimize
from tinyml.plan import PlanOptions
from tinyml.target.boards import load_board


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One TINYML_CACHE for the module: the CMSIS-NN library is built once per core."""
    path = suite_cache(tmp_path_factory)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TINYML_CACHE", str(path))
        yield path


def _cmsis_first() -> Backend:
    """The host's CMSIS-NN backend with its kernels priced to win wherever they accept an op (the cost model has
    measured neither BATCH_MATMUL kernel yet)."""
    assert CMSIS is not None
    backend = select_backend(load_board("host"), "cmsis-nn", str(CMSIS.nn), str(CMSIS.core))

    def first(kernel: cn.CmsisKernel) -> cn.CmsisKernel:
        base = type(kernel)
        return type(base.__name__, (base,), {"cost": lambda self, op, core, in_place=False: 0})(kernel.core)

    return Backend(backend.name, {t: tuple(map(first, ks)) for t, ks in backend.overrides.items()}, backend.cmsis)


CASES = {
    # name: (operand shapes without the batch, transpose_a, transpose_b, constant operand, runs on CMSIS-NN)
    "rhs_adj_y": (((4, 6), (5, 6)), False, True, None, True),
    "broadcast_rhs": (((3, 5, 7), (1, 2, 7)), False, True, None, True),
    "broadcast_n_lhs_h_rhs": (((2, 1, 4, 6), (1, 3, 5, 6)), False, True, None, True),
    "broadcast_n_rhs_h_lhs": (((1, 3, 4, 6), (2, 1, 5, 6)), False, True, None, True),
    "constant_rhs": (((2, 4, 6),), False, False, ("rhs", (2, 6, 5)), True),
    "constant_lhs_adj_x": (((3, 4, 6),), True, True, ("lhs", (3, 6, 5)), True),
    "rhs_without_adj_y": (((4, 6), (6, 5)), False, False, None, False),
    "lhs_adj_x": (((6, 4), (5, 6)), True, True, None, False),
}


@needs_cmsis
@pytest.mark.parametrize("case", sorted(CASES))
def test_batch_matmul_on_host(case, tmp_path, cache):
    """arm_batch_matmul_s8 where the operands come as it reads them (constants are stored so), else the portable
    kernel."""
    shapes, ta, tb, const, on_cmsis = CASES[case]
    model = matmul_model(list(shapes), tmp_path / "m.tflite", ta, tb, const)
    planned = assert_bit_exact(model, tmp_path, backend=_cmsis_first(), options=PlanOptions(patches="off"))
    (kernel,) = planned.plan.kernels
    called = "arm_batch_matmul_s8" in (tmp_path / "project" / "model.c").read_text()
    assert (kernel.library == "cmsis-nn") == on_cmsis == called
    assert on_cmsis or kernel is REGISTRY["BATCH_MATMUL"]


def test_mve_scratch_is_one_int32_per_output_column():
    """arm_batch_matmul_s8 on MVE sums each rhs row into ctx.buf, which TFLM sizes with
    arm_fully_connected_s8_get_buffer_size of the output dims (c * 4 on MVE, 0 elsewhere)."""
    b = GraphBuilder("bmm")
    b.op("BATCH_MATMUL", [b.input((2, 4, 6)), b.input((2, 5, 6))], {"adj_y": True}, scale=0.1)
    op = b.ops[-1]
    assert [cn.CmsisBatchMatMul(core).scratch_bytes(op) for core in ("plain", "dsp", "mve")] == [0, 0, 5 * 4]


@needs_cmsis
@pytest.mark.parametrize("board", ["mps2-an500", "mps3-an547"])
def test_on_emulated_cores(board, tmp_path, cache):
    model = upsample_matmul_model(tmp_path / "m.tflite")
    graph = optimize(load_model(model))
    assert [op.type for op in graph.ops] == ["TRANSPOSE_CONV", "BATCH_MATMUL", "BATCH_MATMUL"]
    assert graph.ops[1].attrs.adj_y and graph.ops[2].input(1).is_const
    assert_runs_bit_exact(board, {"upsample_matmul": model}, tmp_path, cache, CMSIS, "--prefer", "speed")
