"""Stage 1: the (width, resolution) pair whose fitting candidates compute the most, its table, and its error."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tinyml.errors import BudgetExceededError
from tinyml.nas.cost import Budgets, measure
from tinyml.nas.space import Arch, SearchSpace, Stage, StageSpace, default_space
from tinyml.nas.stage1 import _rng, format_space_table, optimise_space

BOARD = "stm32f746"
#: a small corner of the default space, so that the test measures a few dozen candidates
SPACE = replace(default_space(32), widths=(0.25, 0.75), resolutions=(16, 32))
BUDGETS = Budgets(sram=40 * 1024, flash=96 * 1024)


def test_the_table_is_deterministic_and_the_chosen_pair_fits() -> None:
    chosen, rows = optimise_space(SPACE, BOARD, BUDGETS, 3, 10, samples=5, seed=4)
    again, rows2 = optimise_space(SPACE, BOARD, BUDGETS, 3, 10, samples=5, seed=4)
    assert (chosen, rows) == (again, rows2)
    table = format_space_table(rows, chosen)
    assert table == format_space_table(rows2, again)
    print(table)

    assert [(r.width, r.resolution) for r in rows] == [(0.25, 16), (0.25, 32), (0.75, 16), (0.75, 32)]
    assert all(r.sampled == 5 for r in rows)
    assert chosen.widths == (chosen.widths[0],) and chosen.resolutions == (chosen.resolutions[0],)
    best = next(r for r in rows if (r.width, r.resolution) == (chosen.widths[0], chosen.resolutions[0]))
    assert best.fitting > 0 and best.mean_mflops == max(r.mean_mflops for r in rows)
    # the budgets bite: some candidates do not fit, and the table says which pair was chosen
    assert any(r.fitting < r.sampled for r in rows)
    marked = [line for line in table.splitlines() if line.startswith("*")]
    assert len(marked) == 2 and f"width {chosen.widths[0]:g}, resolution {chosen.resolutions[0]}" in marked[1]
    for r in rows:
        assert r.p50_mflops <= r.p90_mflops and 0.0 <= r.fraction <= 1.0
        assert (r.fitting == 0) == (r.mean_mflops == 0.0)

    # the chosen pair's row counts its candidates right: draw them again (each pair has its own generator)
    rng = _rng(4, best.width, best.resolution)
    drawn = [SPACE.sample(rng, best.width, best.resolution) for _ in range(5)]
    prints = [measure(a, BOARD, 3, 10, sram_budget=BUDGETS.sram, patches=False) for a in drawn]
    assert sum(fp.fits(BUDGETS) for fp in prints) == best.fitting
    assert best.mean_mflops == pytest.approx(np.mean([fp.macs for fp in prints if fp.fits(BUDGETS)]) / 1e6)
    # another seed draws other candidates
    _, other = optimise_space(SPACE, BOARD, BUDGETS, 3, 10, samples=5, seed=5)
    assert other != rows


#: one plain-conv stage: its smallest candidate is known
TINY = SearchSpace((StageSpace(16, 1, ("conv",), kernels=(3, 5, 7), depths=(1, 2, 3)),), (0.25, 1.0), (16, 24), 16, 1)


def test_an_impossible_budget_names_the_smallest_candidate() -> None:
    smallest = Arch(16, 0.25, 8, 1, (Stage("conv", 8, 1, 1, 3),))
    budgets = Budgets(sram=9 * 1024, flash=256 * 1024)
    fp = measure(smallest, BOARD, 3, 10, sram_budget=budgets.sram, patches=False)
    assert fp.ram is not None and fp.ram > budgets.sram
    with pytest.raises(BudgetExceededError) as e:
        optimise_space(TINY, BOARD, budgets, 3, 10, samples=3)
    assert f"the least RAM a candidate needs is {fp.ram:,} B (peak SRAM {fp.peak_sram:,} B" in e.value.message
    assert "9,216 B" in e.value.message
    assert f"--sram-budget to at least {fp.ram:,}" in e.value.fix and "smaller space" in e.value.fix
    assert e.value.exit_code == 3


def test_when_only_the_smallest_candidates_fit_their_pair_is_chosen() -> None:
    smallest = Arch(16, 0.25, 8, 1, (Stage("conv", 8, 1, 1, 3),))
    fp = measure(smallest, BOARD, 3, 10, sram_budget=None, patches=False)
    # just enough RAM and flash for the smallest candidate, which seed 1's three samples per pair miss
    budgets = Budgets(sram=fp.ram, flash=fp.flash)
    chosen, rows = optimise_space(TINY, BOARD, budgets, 3, 10, samples=3, seed=1)
    assert (chosen.widths, chosen.resolutions) == ((0.25,), (16,))
    assert (rows[0].sampled, rows[0].fitting) == (4, 1)
    assert all(r.fitting == 0 and r.sampled == 3 for r in rows[1:])


def test_samples_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        optimise_space(TINY, BOARD, Budgets(), 3, 10, samples=0)
