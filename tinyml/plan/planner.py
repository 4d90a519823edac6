"""The planning stage: a patch stage (if one pays), each op's kernel, and every buffer's place in the arena."""

from __future__ import annotations

from dataclasses import dataclass

from tinyml.errors import UsageError
from tinyml.ir.graph import Graph
from tinyml.kernels.backends import PORTABLE, Backend
from tinyml.plan.choice import _Choices, _KernelChoice
from tinyml.plan.memory import MemoryPlan, _plan_memory
from tinyml.plan.options import PlanOptions
from tinyml.plan.patches import PatchConfig, expand, mac_overhead, stage_candidates

#: square patch grids "auto" tries (MCUNetV2 finds 2x2 to 8x8 enough)
AUTO_GRIDS = (2, 3, 4, 5, 6, 8)


@dataclass
class Planned:
    """The planning stage's result: the graph to generate (patch-expanded or not) and its memory plan."""

    graph: Graph
    plan: MemoryPlan
    patches: PatchConfig | None
    mac_overhead: float
    #: with a patch stage: the layer-by-layer result it beat, on the graph before expansion (the report shows
    #: what the stage saves and costs against it); None otherwise
    unpatched: Planned | None = None


def plan_model(graph: Graph, backend: Backend = PORTABLE, options: PlanOptions | None = None) -> Planned:
    """Entry point of the planning stage: choose a patch stage (if any), then place every buffer.

    Candidates are ranked by their live-set bound (cheap), and the best one is
    placed for real and kept only if it beats the layer-by-layer plan.
    """
    options = options or PlanOptions()
    choices = _Choices(backend)  # shared: a stage's patch copies mostly repeat the same op shapes
    flat = Planned(graph, _plan_memory(_KernelChoice(graph, choices, options), options), None, 1.0)
    if options.patches == "off":
        return flat
    if isinstance(options.patches, PatchConfig):
        config = options.patches
        if config.split not in stage_candidates(graph):
            raise UsageError(
                f"cannot run the first {config.split} ops patch by patch",
                f"choose a split among {stage_candidates(graph) or 'none (this model has no patchable stage)'}",
            )
        expanded = expand(graph, config)
        patched = _plan_memory(_KernelChoice(expanded, choices, options), options)
        return Planned(expanded, patched, config, mac_overhead(graph, expanded), flat)
    best: tuple[int, int, PatchConfig, _KernelChoice, float] | None = None
    for split in stage_candidates(graph):
        _, h, w, _ = graph.ops[split - 1].outputs[0].shape
        for n in AUTO_GRIDS:
            if n > min(h, w):
                continue
            config = PatchConfig(split, n, n)
            expanded = expand(graph, config)
            overhead = mac_overhead(graph, expanded)
            if overhead > options.max_mac_overhead:
                continue
            choice = _KernelChoice(expanded, choices, options)
            bound = choice.bound()
            if best is None or (bound, n * n) < best[:2]:  # the lowest bound, then the fewest patches
                best = (bound, n * n, config, choice, overhead)
    if best is None or best[0] >= flat.plan.peak:
        return flat
    _, _, config, choice, overhead = best
    patched = _plan_memory(choice, options)
    return Planned(choice.graph, patched, config, overhead, flat) if patched.peak < flat.plan.peak else flat
