"""measure(): a candidate's figures as the pipeline's own report gives them, fast enough for a search."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tinyml import pipeline
from tinyml.errors import UsageError
from tinyml.nas.cost import Budgets, Footprint, measure
from tinyml.nas.graph import build_graph
from tinyml.nas.space import Arch, Stage, default_space
from tinyml.passes import optimize
from tinyml.plan import PlanOptions

BOARD = "stm32f746"


def report_of(arch: Arch, bits: str = "8", plan: PlanOptions | None = None) -> dict:
    """What `tinyml report` prints for the candidate's graph: the whole pipeline (full code, smallest peak)."""
    board = pipeline.target(BOARD)
    options = pipeline.CompileOptions(plan=plan or PlanOptions())
    backend = pipeline.backend_for(board, options)
    planned = pipeline.plan(optimize(build_graph(arch, 3, 10, bits)), board, backend, options.plan)
    code = pipeline.render(planned, board, backend)
    compiled = pipeline.Compiled(Path(f"{arch.key}.tflite"), board, backend, planned, code, options)
    return pipeline.report(compiled)


def same(fp: Footprint, report: dict) -> None:
    assert fp.peak_sram == report["sram"]["peak_bytes"]
    assert fp.ram == report["ram"]["total_bytes"]
    assert fp.flash == report["flash"]["total_bytes"]
    assert fp.weights == report["flash"]["weights_bytes"]
    assert fp.cycles == report["latency"]["cycles"]
    assert fp.latency_ms == report["latency"]["ms"]


def test_fits_and_excess() -> None:
    fp = Footprint(peak_sram=70_000, flash=200_000, weights=150_000, cycles=10**6, latency_ms=4.6, macs=1, params=1,
                   ram=81_920)  # fmt: skip
    assert fp.fits(Budgets()) and fp.excess(Budgets()) == ""
    assert fp.fits(Budgets(sram=81_920, flash=200_000, latency_ms=4.6))
    tight = Budgets(sram=65_536, flash=262_144, latency_ms=2.0)
    assert not fp.fits(tight)
    assert fp.excess(tight) == "SRAM 81,920 B over 65,536 B; latency 4.6 ms over 2.0 ms"
    assert Footprint(70_000, 1, 1, 1, 1.0, 1, 1).excess(Budgets(sram=65_536)) == "SRAM 70,000 B over 65,536 B"


def test_measure_is_the_report_and_fast() -> None:
    space = default_space(32)
    rng = np.random.default_rng(5)
    times = []
    for _ in range(5):
        arch = space.sample(rng)
        start = time.perf_counter()
        fp = measure(arch, BOARD, 3, 10)
        times.append(time.perf_counter() - start)
        same(fp, report_of(arch))
        # latency is the cost model's cycles at the board's clock
        clock = pipeline.target(BOARD).raw["cpu"]["clock_hz"]
        assert fp.latency_ms == pytest.approx(fp.cycles * 1000 / clock, abs=1e-4)
    # tens of milliseconds each on an idle core; a loaded shared machine gets a wide margin
    assert float(np.median(times)) < 1.0, times


def test_params_and_macs_by_hand() -> None:
    arch = Arch(8, 0.25, 8, 1, (Stage("conv", 8, 1, 1, 3),))
    fp = measure(arch, BOARD, 3, 2)
    # stem 3x3x3 -> 8, conv 3x3x8 -> 8, dense 8 -> 2, each with its bias
    assert fp.params == (27 * 8 + 8) + (72 * 8 + 8) + (8 * 2 + 2)
    assert fp.macs >= 64 * 8 * 27 + 64 * 8 * 72 + 16


def test_sram_budget_plans_as_the_report_does() -> None:
    """Under --sram-budget the planner trades speed for memory: in-place kernels, or a patch stage."""
    space = default_space(32)
    # found by sampling: over 64 KB with the fastest plan; within it layer by layer, and only with patches
    layer_by_layer = space.sample(np.random.default_rng(2), 0.5, 48)
    patched = space.sample(np.random.default_rng(0), 1.0, 48)
    budget = 64 * 1024
    for arch, patches in ((layer_by_layer, False), (patched, True)):
        fast = measure(arch, BOARD, 3, 10)
        fp = measure(arch, BOARD, 3, 10, sram_budget=budget, patches=patches)
        assert fast.ram > budget >= fp.ram
        plan = PlanOptions(sram_budget=budget, patches="auto" if patches else "off")
        report = report_of(arch, plan=plan)
        same(fp, report)
        assert (report["patches"] is not None) == patches
    # without patch stages the patched candidate does not fit
    assert measure(patched, BOARD, 3, 10, sram_budget=budget, patches=False).ram > budget


def test_w4a8_packs_the_weights() -> None:
    arch = default_space(32).sample(np.random.default_rng(3))
    eight, four = measure(arch, BOARD, 3, 10), measure(arch, BOARD, 3, 10, "w4a8")
    same(four, report_of(arch, "w4a8"))
    assert four.weights < 0.55 * eight.weights and four.flash < eight.flash
    assert (four.macs, four.params) == (eight.macs, eight.params)


def test_the_host_is_refused() -> None:
    arch = default_space(32).sample(np.random.default_rng(0))
    with pytest.raises(UsageError, match="microcontroller board"):
        measure(arch, "host", 3, 10)
