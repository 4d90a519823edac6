"""The planning stage: a patch stage (if one is needed), each op's kernel, and every buffer's place in the arena."""

from __future__ import annotations

from dataclasses import dataclass, replace

from tinyml.errors import UsageError
from tinyml.ir.graph import Graph
from tinyml.kernels.backends import PORTABLE, Backend
from tinyml.plan.choice import _Choices, _KernelChoice
from tinyml.plan.memory import MemoryPlan, _fastest_within, _smallest
from tinyml.plan.options import PlanOptions, PlanTarget
from tinyml.plan.patches import PatchConfig, expand, mac_overhead, stage_candidates
from tinyml.plan.schedule import scheduled

#: square patch grids "auto" tries (MCUNetV2 finds 2x2 to 8x8 enough)
AUTO_GRIDS = (2, 3, 4, 5, 6, 8)


@dataclass
class Planned:
    """The planning stage's result: the graph to generate (patch-expanded or not) and its memory plan."""

    graph: Graph
    plan: MemoryPlan
    patches: PatchConfig | None
    mac_overhead: float
    #: with a patch stage: the layer-by-layer result it was compared with, on the graph before expansion (the
    #: report shows what the stage saves and costs against it); None otherwise
    unpatched: Planned | None = None
    #: estimated cycles of one inference on the target's core (the cost model's, see tinyml.kernels.costs)
    cycles: int = 0
    #: the peak (arena and I/O buffers outside it) of the smallest plan `--prefer memory` finds, when planning
    #: worked it out (it did for --prefer memory, and when nothing fits); None otherwise
    smallest_peak: int | None = None

    @property
    def peak(self) -> int:
        """Peak SRAM: the arena, the I/O buffers kept outside it and the persistent state."""
        return self.plan.peak + self.plan.outside_bytes


def plan_model(
    graph: Graph, backend: Backend = PORTABLE, options: PlanOptions | None = None, target: PlanTarget | None = None
) -> Planned:
    """Entry point of the planning stage: each op's kernel, a patch stage where one is needed, every buffer's place.

    --prefer speed (the default): the fastest plan, by the cost model's cycles on `target`'s core, whose RAM fits
    `target` (or --sram-budget): every op on its fastest kernel when that fits; otherwise slower kernels (in place,
    less scratch) and patch stages where they are needed, the fastest mix that fits; the smallest plan when nothing
    fits. --prefer memory: the smallest arena, then the fastest kernels that keep it.

    The order the ops run in is part of the search: where another topological order keeps fewer tensors live
    together (see tinyml.plan.schedule), both orders are planned and the better kept, so scheduling never costs.
    """
    options, target = options or PlanOptions(), target or PlanTarget()
    first = _Planner(graph, backend, options, target)
    planned = first.run()
    other = scheduled(graph) if not isinstance(options.patches, PatchConfig) else None
    if other is None:
        return planned
    candidate = _Planner(other, backend, options, target, first.choices).run()
    return candidate if _better(candidate, planned, options, target) else planned


def _better(a: Planned, b: Planned, options: PlanOptions, target: PlanTarget) -> bool:
    """Whether plan `a` beats `b` as the options prefer: the smaller peak with --prefer memory (or when neither
    fits); else the one that fits, then the faster, then the smaller."""
    if options.prefer == "memory":
        return a.peak < b.peak
    limit = target.limit(options)

    def fits(p: Planned) -> bool:
        return limit is None or target.ram_bytes_of(p.plan.peak, p.plan.outside_bytes, len(p.graph.ops)) <= limit

    if fits(a) != fits(b):
        return fits(a)
    if not fits(a):
        return a.peak < b.peak
    return (a.cycles, a.peak) < (b.cycles, b.peak)


def plan_memory(
    graph: Graph, backend: Backend = PORTABLE, options: PlanOptions | None = None, target: PlanTarget | None = None
) -> MemoryPlan:
    """Layer by layer (no patch stage): each op's kernel and every buffer's place, as `plan_model` chooses them."""
    return plan_model(graph, backend, replace(options or PlanOptions(), patches="off"), target).plan


class _Planner:
    """One planning: the options priced once, the layer-by-layer choice, and the patch stages worth trying."""

    def __init__(
        self,
        graph: Graph,
        backend: Backend,
        options: PlanOptions,
        target: PlanTarget,
        choices: _Choices | None = None,
    ) -> None:
        self.graph = graph
        self.options = options
        self.target = target
        self.limit = target.limit(options)
        # shared: a stage's patch copies mostly repeat the same op shapes (and another order of the graph's ops
        # asks the same questions again)
        self.choices = choices or _Choices(backend, target.core, options.in_place)
        self.flat = _KernelChoice(graph, self.choices, options)
        #: bytes kept outside the arena (I/O buffers with --io external, the state): the same whatever the plan
        self.external = 0
        self._stages: list[tuple[PatchConfig, Graph, float]] | None = None
        self._stage_choices: dict[PatchConfig, _KernelChoice] = {}

    def run(self) -> Planned:
        config = self.options.patches
        if isinstance(config, PatchConfig):
            return self._given(config)
        if self.options.prefer == "memory":
            return self._smallest(auto=config == "auto")
        return self._fastest(auto=config == "auto")

    # --- what a plan is worth ---

    def _planned(
        self,
        choice: _KernelChoice,
        plan: MemoryPlan,
        config: PatchConfig | None = None,
        overhead: float = 1.0,
        unpatched: Planned | None = None,
    ) -> Planned:
        cycles = choice.cycles(plan.kernels, plan.in_place)
        return Planned(choice.graph, plan, config, overhead, unpatched, cycles)

    def _arena_target(self, choice: _KernelChoice) -> int | None:
        """The largest arena that keeps the image within the limit, for this graph (the runtime's RAM grows with
        its op count); None without a limit."""
        if self.limit is None:
            return None
        return self.limit - self.target.ram_bytes_of(0, self.external, len(choice.graph.ops))

    # --- --prefer speed ---

    def _fastest(self, auto: bool) -> Planned:
        """The fastest plan that fits; the smallest when none does."""
        fastest = _fastest_within(self.flat, None)
        assert fastest is not None
        self.external = fastest.outside_bytes
        target = self._arena_target(self.flat)
        if target is None or fastest.peak <= target:
            return self._planned(self.flat, fastest)
        flat = _fastest_within(self.flat, target)
        best = self._planned(self.flat, flat) if flat is not None else None
        if auto:
            ranked = sorted(((self.choices.least_cycles(c[1]), c) for c in self._candidates()), key=lambda c: c[0])
            for least, (config, expanded, overhead) in ranked:
                if best is not None and least >= best.cycles:
                    break  # no later stage can be faster
                choice = self._stage_choice(config, expanded)
                limit = self._arena_target(choice)
                assert limit is not None
                if choice.bound() > limit:
                    continue
                plan = _fastest_within(choice, limit)
                if plan is None:
                    continue
                patched = self._planned(choice, plan, config, overhead)
                if best is None or patched.cycles < best.cycles:
                    best = patched
        if best is None:
            return self._smallest(auto)
        if best.patches is not None:  # compared with the layer-by-layer plan that did not fit (or was slower)
            best.unpatched = self._planned(self.flat, flat if flat is not None else _smallest(self.flat))
        return best

    # --- --prefer memory, and nothing fits ---

    def _smallest(self, auto: bool) -> Planned:
        """The smallest arena: the patch stage with the lowest live-set bound if it beats layer by layer.

        Candidates are ranked by their live-set bound (cheap), and the best one is placed for real and kept only
        if it beats the layer-by-layer plan.
        """
        flat = self._planned(self.flat, _smallest(self.flat))
        result = flat
        best: tuple[int, int, PatchConfig, _KernelChoice, float] | None = None
        for config, expanded, overhead in self._candidates() if auto else ():
            choice = self._stage_choice(config, expanded)
            bound = choice.bound()
            if best is None or (bound, config.rows * config.cols) < best[:2]:  # the lowest, then the fewest patches
                best = (bound, config.rows * config.cols, config, choice, overhead)
        if best is not None and best[0] < flat.plan.peak:
            _, _, config, choice, overhead = best
            patched = _smallest(choice)
            if patched.peak < flat.plan.peak:
                result = self._planned(choice, patched, config, overhead, flat)
        result.smallest_peak = result.peak
        return result

    # --- patches given by hand ---

    def _given(self, config: PatchConfig) -> Planned:
        """The stage and grid asked for, planned as the options prefer, against layer by layer planned alike."""
        candidates = stage_candidates(self.graph)
        if config.split not in candidates:
            raise UsageError(
                f"cannot run the first {config.split} ops patch by patch",
                f"choose a split among {candidates or 'none (this model has no patchable stage)'}",
            )
        expanded = expand(self.graph, config)
        choice = _KernelChoice(expanded, self.choices, self.options)
        flat, patched = self._best_of(self.flat), self._best_of(choice)
        overhead = mac_overhead(self.graph, expanded)
        return self._planned(choice, patched, config, overhead, self._planned(self.flat, flat))

    def _best_of(self, choice: _KernelChoice) -> MemoryPlan:
        """One graph's plan as the options prefer: the smallest, or the fastest that fits (else the smallest)."""
        if self.options.prefer == "memory":
            return _smallest(choice)
        fastest = _fastest_within(choice, None)
        assert fastest is not None
        self.external = fastest.outside_bytes
        return _fastest_within(choice, self._arena_target(choice)) or _smallest(choice)

    def _candidates(self) -> list[tuple[PatchConfig, Graph, float]]:
        """Every automatic patch stage and grid within --max-mac-overhead: its config, expanded graph and MAC
        overhead (worked out once: a speed plan that finds nothing fitting falls back to the smallest)."""
        if self._stages is None:
            self._stages = []
            for split in stage_candidates(self.graph):
                _, h, w, _ = self.graph.ops[split - 1].outputs[0].shape
                for n in AUTO_GRIDS:
                    if n > min(h, w):
                        continue
                    config = PatchConfig(split, n, n)
                    expanded = expand(self.graph, config)
                    overhead = mac_overhead(self.graph, expanded)
                    if overhead <= self.options.max_mac_overhead:
                        self._stages.append((config, expanded, overhead))
        return self._stages

    def _stage_choice(self, config: PatchConfig, expanded: Graph) -> _KernelChoice:
        if config not in self._stage_choices:
            self._stage_choices[config] = _KernelChoice(expanded, self.choices, self.options)
        return self._stage_choices[config]
