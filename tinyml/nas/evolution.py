"""Stage 2 of the search: evolution under constraints.

A population of candidates that fit the budgets is estimated (the supernet's accuracy, through a runner, a batch at
a time); the best become parents, and the next population is the parents and their children, bred by mutation and
crossover. A child is measured first (its exact peak SRAM, flash and latency, in milliseconds) and rejected when it
does not fit, before anything expensive runs. Optionally a zero-cost proxy scores more children than are needed
and only the best fraction goes on to the estimate.

Every random choice comes from one generator seeded by the caller, and nothing else decides what is bred, so the
same seed gives the same search on any runner. Scores already known (from the log of an interrupted search) are
taken instead of computed: the search replays its choices and reaches the same result without redoing the work.

Measuring, estimating and scoring are passed in, which is what lets the search's logic be tested with cheap
stand-ins and run with the real supernet on a cluster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from tinyml.errors import BudgetExceededError
from tinyml.nas.runner import Runner, Shared
from tinyml.nas.space import Arch, SearchSpace


class Footprint(Protocol):
    """What the search needs of a candidate's measured cost (tinyml.nas.cost.Footprint)."""

    peak_sram: int
    flash: int
    latency_ms: float

    def fits(self, budgets: Any) -> bool: ...

    def excess(self, budgets: Any) -> str: ...


#: a trial: (shared value, candidate) -> score; a module-level function, so that it runs in other processes
Trial = Callable[[Any, Arch], float]


@dataclass(frozen=True)
class EvolutionOptions:
    """The sizes of the evolution (the command line's --population, --generations ...)."""

    #: candidates per generation
    population: int = 16
    #: generations bred after the first (random) population
    generations: int = 6
    #: the best candidates of a generation that breed the next, and stay in it
    parents: int = 4
    #: the chance that mutation re-draws each choice of a stage
    mutation_prob: float = 0.2
    #: the share of children bred by crossover of two parents (the rest by mutation of one)
    crossover: float = 0.5
    #: with a proxy: score 1/proxy_keep times as many children and estimate only the best proxy_keep of them
    proxy_keep: float = 1.0
    #: tries per wanted candidate before a generation makes do with fewer (the space may hold few that fit)
    attempts: int = 50

    def __post_init__(self) -> None:
        if not 1 <= self.parents <= self.population:
            raise ValueError("parents must be between 1 and the population")
        if not 0 < self.proxy_keep <= 1:
            raise ValueError("proxy_keep must be in (0, 1]")

    @property
    def trials(self) -> int:
        """Estimates an uninterrupted evolution runs at most: what its progress bar counts to."""
        return self.population + self.generations * (self.population - self.parents)


@dataclass
class Candidate:
    """One candidate the search visited: its measured cost, and its scores (estimate None when the proxy pruned
    it)."""

    arch: Arch
    footprint: Footprint
    generation: int
    estimate: float | None = None
    proxy: float | None = None

    @property
    def key(self) -> str:
        return self.arch.key

    def record(self) -> dict[str, Any]:
        """The candidate as the log and pareto.json keep it."""
        fp = self.footprint
        figures = asdict(fp) if hasattr(fp, "__dataclass_fields__") else dict(vars(fp))  # type: ignore[arg-type]
        return {
            "key": self.key,
            "arch": self.arch.to_dict(),
            "describe": self.arch.describe(),
            "footprint": figures,
            "generation": self.generation,
            "estimate": self.estimate,
            "proxy": self.proxy,
        }


@dataclass
class Evolution:
    """What the evolution found."""

    #: every candidate visited, in order (estimated ones and those the proxy pruned)
    history: list[Candidate]
    #: the best estimated candidate
    best: Candidate
    #: generations completed after the first population
    generations: int
    #: children refused because they did not fit the budgets
    rejected: int
    #: stopped early by `should_stop` (the time budget)
    stopped: bool = False
    #: each generation's population, by key
    populations: list[list[str]] = field(default_factory=list)


def _rank(c: Candidate) -> tuple[float, int, int, float, str]:
    """Best first: the highest estimate, then the smaller peak SRAM, flash and latency; the key breaks ties."""
    fp = c.footprint
    return (-(c.estimate if c.estimate is not None else -math.inf), fp.peak_sram, fp.flash, fp.latency_ms, c.key)


def evolve(
    space: SearchSpace,
    measure: Callable[[Arch], Footprint],
    budgets: Any,
    estimator: Trial,
    runner: Runner,
    options: EvolutionOptions,
    seed: int,
    *,
    shared: Shared | None = None,
    proxy: Trial | None = None,
    known: Mapping[str, float] | None = None,
    known_proxy: Mapping[str, float] | None = None,
    on_candidate: Callable[[Candidate], None] | None = None,
    on_generation: Callable[[int, list[Candidate]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int, float | None], None] | None = None,
) -> Evolution:
    """Evolve `space` under `budgets` (see the module's docstring).

    `measure(arch)` gives a candidate's footprint (`fits(budgets)` decides); `estimator(shared, arch)` and
    `proxy(shared, arch)` score it through `runner`. `known`/`known_proxy` hold scores by key from an earlier run
    of the same search. `on_candidate` hears of every newly scored candidate (to log it), `on_generation` of each
    population, `progress(n, best)` of n more estimates done. `should_stop()` is asked between batches.
    """
    rng = np.random.default_rng(seed)
    known = dict(known or {})
    known_proxy = dict(known_proxy or {})
    footprints: dict[str, Footprint] = {}
    history: list[Candidate] = []
    seen: dict[str, Candidate] = {}
    rejected = 0
    stopped = False

    def footprint(arch: Arch) -> Footprint:
        if arch.key not in footprints:
            footprints[arch.key] = measure(arch)
        return footprints[arch.key]

    def time_is_up() -> bool:
        nonlocal stopped
        stopped = stopped or (should_stop is not None and should_stop())
        return stopped

    def remember(c: Candidate) -> None:
        if c.key not in seen:
            seen[c.key] = c
            history.append(c)

    best: list[float] = []  # the best estimate so far, once there is one

    def best_estimate(*scored: Candidate) -> float | None:
        """The best estimate so far, `scored` counted."""
        values = best + [c.estimate for c in scored if c.estimate is not None]
        best[:] = [max(values)] if values else []
        return best[0] if best else None

    def score(candidates: list[Candidate], what: str, fn: Trial, cache: dict[str, float]) -> None:
        """Set `what` ("estimate" or "proxy") on each candidate: from `cache`, else through the runner, in batches
        of one round of its workers, so that a time budget can stop the estimates between two batches."""
        todo = []
        for c in candidates:
            if getattr(c, what) is None and c.key in cache:
                setattr(c, what, cache[c.key])
            elif getattr(c, what) is None:
                todo.append(c)
        estimating = what == "estimate"
        if estimating:
            best_so_far = best_estimate(*candidates)
            if progress is not None and len(todo) < len(candidates):
                progress(len(candidates) - len(todo), best_so_far)
        step = max(1, runner.workers)
        for start in range(0, len(todo), step):
            if estimating and best and time_is_up():
                break
            batch = todo[start : start + step]
            for c, value in zip(batch, runner.map(fn, [c.arch for c in batch], shared), strict=True):
                setattr(c, what, float(value))
                cache[c.key] = float(value)
                if on_candidate is not None:
                    on_candidate(c)
                if estimating:
                    best_so_far = best_estimate(c)
                    if progress is not None:
                        progress(1, best_so_far)

    def breed(wanted: int, draw: Callable[[int, int], Arch], taken: set[str], generation: int) -> list[Candidate]:
        """`wanted` fitting candidates not in `taken`, estimated (with a proxy: the best of more, the others kept
        in the history unestimated). `draw(i, n)` makes the i-th of the n candidates sought."""
        nonlocal rejected
        sought = math.ceil(wanted / options.proxy_keep) if proxy is not None else wanted
        fresh: list[Arch] = []
        over: list[Footprint] = []
        for _ in range(options.attempts * sought):
            if len(fresh) == sought:
                break
            arch = draw(len(fresh), sought)
            if arch.key in taken:
                continue
            taken.add(arch.key)  # measured once is enough
            fp = footprint(arch)
            if fp.fits(budgets):
                fresh.append(arch)
            else:
                rejected += 1
                over.append(fp)
        if not fresh and generation == 0:
            smallest = min(over, key=lambda f: (f.peak_sram, f.flash, f.latency_ms))
            raise BudgetExceededError(
                f"none of the {len(over)} candidates sampled fits the budgets; the smallest needs "
                f"{smallest.excess(budgets)}",
                "raise the budgets, or search at a lower resolution or width",
            )
        candidates = [seen.get(a.key) or Candidate(a, footprint(a), generation) for a in fresh]
        chosen = candidates
        if proxy is not None:
            score(candidates, "proxy", proxy, known_proxy)
            ranked = sorted(candidates, key=lambda c: -(c.proxy if c.proxy is not None else -math.inf))  # stable
            chosen = ranked[:wanted]
        score(chosen, "estimate", estimator, known)
        for c in candidates:  # in the order they were bred, however their scores were found
            if c.estimate is not None or c.proxy is not None:
                remember(c)
        return [c for c in chosen if c.estimate is not None]

    population = breed(options.population, lambda i, n: space.sample(rng), set(), 0)
    populations = [[c.key for c in population]]
    if on_generation is not None:
        on_generation(0, population)
    completed = 0
    for g in range(1, options.generations + 1):
        if time_is_up():
            break
        parents = sorted(population, key=_rank)[: options.parents]

        def child(i: int, n: int, parents: list[Candidate] = parents) -> Arch:
            """The first `crossover` share of the children sought by crossover of two parents, the rest by
            mutation of one."""
            if len(parents) > 1 and i < round(options.crossover * n):
                a, b = rng.choice(len(parents), 2, replace=False)
                return space.crossover(parents[int(a)].arch, parents[int(b)].arch, rng)
            return space.mutate(parents[int(rng.integers(len(parents)))].arch, rng, options.mutation_prob)

        population = parents + breed(options.population - len(parents), child, {c.key for c in parents}, g)
        populations.append([c.key for c in population])
        if on_generation is not None:
            on_generation(g, population)
        if not stopped:
            completed = g
    estimated = [c for c in history if c.estimate is not None]
    return Evolution(history, min(estimated, key=_rank), completed, rejected, stopped, populations)


def pareto_front(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The estimated candidates no other beats on every count at once: accuracy (higher), peak SRAM, flash and
    latency (lower); by peak SRAM, then flash."""
    scored = {c.key: c for c in candidates if c.estimate is not None}.values()

    def objectives(c: Candidate) -> tuple[float, float, float, float]:
        fp = c.footprint
        return (-(c.estimate or 0.0), fp.peak_sram, fp.flash, fp.latency_ms)

    front = []
    for c in scored:
        oc = objectives(c)
        dominated = any(
            all(a <= b for a, b in zip(objectives(d), oc, strict=True)) and objectives(d) != oc for d in scored
        )
        if not dominated:
            front.append(c)
    return sorted(front, key=lambda c: (c.footprint.peak_sram, c.footprint.flash, -(c.estimate or 0.0), c.key))
