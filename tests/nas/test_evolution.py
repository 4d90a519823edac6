"""Evolution under constraints, with the measure and the estimator passed in: a cost that grows with the network
and an accuracy that rewards capacity, both exact functions of the candidate, so the search's own logic
(budgets, seeding, breeding, proxy pruning, resume, time budget, Pareto front) is what is tested."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tinyml.errors import BudgetExceededError
from tinyml.nas.evolution import Candidate, EvolutionOptions, evolve, pareto_front
from tinyml.nas.runner import InlineRunner
from tinyml.nas.space import Arch, default_space


@dataclass(frozen=True)
class Limits:
    sram: int | None = None
    flash: int | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class Cost:
    """A candidate's cost in the shape of tinyml.nas.cost.Footprint (the fields the search reads)."""

    peak_sram: int
    flash: int
    latency_ms: float

    def fits(self, b: Limits) -> bool:
        return (
            (b.sram is None or self.peak_sram <= b.sram)
            and (b.flash is None or self.flash <= b.flash)
            and (b.latency_ms is None or self.latency_ms <= b.latency_ms)
        )

    def excess(self, b: Limits) -> str:
        if b.sram is not None and self.peak_sram > b.sram:
            return f"peak SRAM {self.peak_sram:,} B over {b.sram:,} B"
        return "" if self.fits(b) else f"flash {self.flash:,} B over {b.flash:,} B"


def cost(arch: Arch) -> Cost:
    """Activation memory from the widest expanded tensor, flash from the weights: both grow with the choices."""
    r = arch.resolution
    sram, weights, size = 0, 0, r
    for st in arch.stages:
        size //= st.stride
        sram = max(sram, size * size * st.channels * st.expand)
        weights += st.depth * st.channels * (st.kernel * st.kernel + st.channels * st.expand)
    return Cost(sram + r * r * arch.stem, weights, weights / 1000)


def accuracy(shared: object, arch: Arch) -> float:
    """Capacity with diminishing returns, and a taste for kernel 5 and inverted bottlenecks: an exact function."""
    score = sum(np.log1p(st.depth * st.expand * st.channels) - 0.05 * abs(st.kernel - 5) for st in arch.stages)
    return float(score + 0.1 * sum(st.block == "mb" for st in arch.stages)) / 10


def naswot_like(shared: object, arch: Arch) -> float:
    """A proxy that agrees with the accuracy on capacity only."""
    return float(sum(st.depth * st.expand for st in arch.stages))


SPACE = default_space(16).restrict(0.5, 16)
BUDGET = Limits(sram=6000, flash=20000)
OPTIONS = EvolutionOptions(population=8, generations=4, parents=3)


def run(seed: int = 0, options: EvolutionOptions = OPTIONS, **kw):
    calls: list[str] = []

    def estimator(shared: object, arch: Arch) -> float:
        calls.append(arch.key)
        return accuracy(shared, arch)

    kw.setdefault("runner", InlineRunner())
    result = evolve(SPACE, cost, BUDGET, kw.pop("estimator", estimator), options=options, seed=seed, **kw)
    return result, calls


def test_same_seed_same_search_and_every_candidate_fits():
    a, calls = run(seed=1)
    b, _ = run(seed=1)
    assert [c.key for c in a.history] == [c.key for c in b.history]
    assert a.best.key == b.best.key and a.populations == b.populations
    assert [c.key for c in run(seed=2)[0].history] != [c.key for c in a.history]
    assert all(c.footprint.fits(BUDGET) for c in a.history)
    assert a.rejected > 0  # the budget is tight: some children were refused before any estimate
    assert len(calls) == len(set(calls)) == len(a.history)  # each candidate estimated once
    assert a.generations == OPTIONS.generations and not a.stopped
    assert len(a.populations) == OPTIONS.generations + 1


def test_evolution_beats_random_sampling_of_the_same_cost():
    result, calls = run(seed=0, options=EvolutionOptions(population=10, generations=8, parents=3))
    rng = np.random.default_rng(5)
    fitting = [a for a in (SPACE.sample(rng) for _ in range(3000)) if cost(a).fits(BUDGET)]
    scores = sorted(accuracy(None, a) for a in fitting[: len(calls)])  # as many random candidates as estimates
    first = max(c.estimate for c in result.history if c.generation == 0)
    assert result.best.estimate > first
    assert result.best.estimate >= scores[int(0.9 * len(scores))]
    assert result.best.estimate == max(c.estimate for c in result.history if c.estimate is not None)


def test_resume_replays_to_the_same_result_without_estimating_again():
    full, _ = run(seed=3)
    logged: list[Candidate] = []

    class Interrupt(Exception):
        pass

    def stop_after_ten(c: Candidate) -> None:
        logged.append(c)
        if len(logged) == 10:
            raise Interrupt  # Ctrl-C in the middle of a generation

    with pytest.raises(Interrupt):
        run(seed=3, on_candidate=stop_after_ten)
    known = {c.key: c.estimate for c in logged}
    resumed, calls = run(seed=3, known=known)
    assert [c.key for c in resumed.history] == [c.key for c in full.history]
    assert resumed.best.key == full.best.key and resumed.best.estimate == full.best.estimate
    assert len(calls) == len(full.history) - 10 and not set(calls) & set(known)


def test_proxy_prunes_before_the_estimate():
    options = EvolutionOptions(population=6, generations=3, parents=2, proxy_keep=0.5)
    result, calls = run(seed=4, options=options, proxy=naswot_like)
    pruned = [c for c in result.history if c.estimate is None]
    estimated = [c for c in result.history if c.estimate is not None]
    assert pruned and len(calls) == len(estimated)
    assert all(c.proxy is not None for c in result.history)
    for g in range(options.generations + 1):  # within each generation, the proxy's best went on
        kept = [c.proxy for c in estimated if c.generation == g]
        dropped = [c.proxy for c in pruned if c.generation == g]
        if kept and dropped:
            assert min(kept) >= max(dropped)


def test_time_budget_stops_early_with_a_result():
    ticks = iter(range(1000))
    result, calls = run(seed=0, should_stop=lambda: next(ticks) >= 3)
    assert result.stopped and result.generations < OPTIONS.generations
    assert result.best.estimate is not None and len(calls) < OPTIONS.trials


def test_impossible_budget_names_the_smallest():
    with pytest.raises(BudgetExceededError) as e:
        evolve(SPACE, cost, Limits(sram=4000), accuracy, InlineRunner(), OPTIONS, 0)
    assert (
        "none of the" in e.value.message
        and "peak SRAM" in e.value.message
        and "4,096 B over 4,000 B" in e.value.message
    )


def test_progress_counts_every_estimate():
    seen: list[tuple[int, float | None]] = []
    result, calls = run(seed=0, progress=lambda n, best: seen.append((n, best)))
    assert sum(n for n, _ in seen) == len(calls) == OPTIONS.trials
    bests = [b for _, b in seen]
    assert bests == sorted(bests) and bests[-1] == result.best.estimate


def test_pareto_front():
    rng = np.random.default_rng(0)
    archs = [SPACE.sample(rng) for _ in range(4)]

    def cand(i: int, acc: float, sram: int, flash: int, ms: float) -> Candidate:
        return Candidate(archs[i], Cost(sram, flash, ms), 0, acc)

    a = cand(0, 0.9, 4000, 9000, 5.0)
    b = cand(1, 0.8, 2000, 9000, 5.0)  # less accurate, smaller: on the front
    c = cand(2, 0.7, 3000, 9500, 6.0)  # beaten by b on every count
    d = cand(3, 0.6, 5000, 1000, 1.0)  # least accurate, but the smallest flash and latency
    pruned = Candidate(archs[2], Cost(1, 1, 0.1), 0, None, 1.0)
    assert [x.key for x in pareto_front([a, b, c, d, pruned])] == [b.key, a.key, d.key]
