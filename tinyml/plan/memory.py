"""Memory planning: one static arena holding every activation and scratch buffer.

Planners share TFLM's interface (add a buffer with its lifetime, read back
offsets and the peak). Several strategies run on every model and the smallest
plan wins, so tinyml never needs more than TFLM's own greedy planner, which is
one of the strategies.

Kernels are chosen here too, because they decide memory: a backend offers
several per op (fastest first), differing in scratch and in whether they can
write over their input. The planner first finds the smallest arena any choice
allows, then gives each op the fastest kernel that keeps the arena within a
margin of it (none for --prefer memory; --prefer speed skips all this).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinyml.ir.graph import Graph, Tensor
from tinyml.kernels import Kernel
from tinyml.kernels.backends import PORTABLE, Backend
from tinyml.plan.allocators import ALIGNMENT, STRATEGIES, Buffer, Planner, align, bytes_per_op
from tinyml.plan.choice import BALANCED_SLACK, _Choices, _KernelChoice
from tinyml.plan.lifetimes import _Requests, _requests
from tinyml.plan.options import PlanOptions


@dataclass
class MemoryPlan:
    """The winning placement, addressed by tensor and by op."""

    strategy: str
    peak: int
    #: id(tensor) -> arena offset, for every non-constant tensor
    tensor_offsets: dict[int, int]
    #: op position -> (offset, size) of its scratch buffer
    scratch: dict[int, tuple[int, int]]
    #: every strategy's peak, for the report
    candidates: dict[str, int]
    #: arena bytes live during each op (the layer-by-layer demand)
    live_bytes: list[int]
    buffers: list[Buffer] = field(default_factory=list)
    #: positions of the ops that write their output over an input
    in_place: set[int] = field(default_factory=set)
    #: --io external: buffer number -> bytes, for inputs and outputs kept outside the arena
    external: dict[int, int] = field(default_factory=dict)
    #: id(tensor) -> external buffer number
    tensor_external: dict[int, int] = field(default_factory=dict)
    #: the kernel that runs each op, by position (codegen emits these, the scratch above is theirs)
    kernels: list[Kernel] = field(default_factory=list)

    @property
    def live_set_bound(self) -> int:
        """No layer-by-layer plan can use less than the busiest op's live bytes."""
        return max(self.live_bytes, default=0)

    def offset(self, t: Tensor) -> int:
        return self.tensor_offsets[id(t)]

    def external_buffer(self, t: Tensor) -> int | None:
        """The external buffer holding `t` (--io external), or None when it lives in the arena."""
        return self.tensor_external.get(id(t))

    def __str__(self) -> str:
        head = f"memory plan ({self.strategy}): peak {self.peak} bytes, live-set bound {self.live_set_bound}"
        rows = [f"{b.offset:>8} {b.size:>8} {b.first:>4}-{b.last:<4}  {b.name}" for b in self.buffers]
        return "\n".join([head, f"{'offset':>8} {'size':>8} {'ops':>9}  buffer", *rows])


def plan_memory(graph: Graph, backend: Backend = PORTABLE, options: PlanOptions | None = None) -> MemoryPlan:
    """Each op's kernel, lifetimes for every activation and scratch buffer, placed by the best strategy."""
    options = options or PlanOptions()
    return _plan_memory(_KernelChoice(graph, _Choices(backend), options), options)


def _plan_memory(choice: _KernelChoice, options: PlanOptions) -> MemoryPlan:
    g = choice.lifetimes
    if choice.fixed or options.prefer == "speed":
        return _place(_requests(g, choice.fastest(), options))
    # Per op the fewest live bytes; the all-portable mix as well, in case its placement packs tighter.
    lean = min(
        (_place(_requests(g, kernels, options)) for kernels in (choice.lean, choice.last())), key=lambda p: p.peak
    )
    target = lean.peak if options.prefer == "memory" else int(lean.peak * BALANCED_SLACK)
    # The fastest kernels within a limit on each op's live bytes: the highest limit whose placement
    # stays within the target (bisected: a faster mix may place less tightly than its live bytes).
    limits = sorted({b for row in choice.live for b in row if b <= target} | {target})
    best, lo, hi = lean, 0, len(limits) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        plan = _place(_requests(g, choice.within(limits[mid]), options))
        if plan.peak <= target:
            best, lo = plan, mid + 1
        else:
            hi = mid - 1
    return best


def _place(req: _Requests) -> MemoryPlan:
    """Run every strategy on the requests and keep the smallest placement."""
    requests, owners, storages, members = req.buffers, req.owners, req.storages, req.members
    in_place, external_roots, n_ops = req.in_place, req.external_roots, req.n_ops
    candidates: dict[str, int] = {}
    best: Planner | None = None
    for strategy in STRATEGIES:
        planner = strategy()
        for r in requests:
            planner.add_buffer(r.name, r.size, r.first, r.last, r.segments)
        candidates[planner.name] = planner.peak()
        if best is None or planner.peak() < best.peak():
            best = planner
    assert best is not None
    best.peak()

    storage_offset: dict[int, int] = {}
    scratch: dict[int, tuple[int, int]] = {}
    for (kind, key), b in zip(owners, best.buffers, strict=True):
        if kind == "storage":
            storage_offset[key] = b.offset
        else:
            scratch[key] = (b.offset, b.size)
    roots = sorted(external_roots, key=lambda r: min(t.index for t in members[r]))
    external = {r: (n, align(max(t.nbytes for t in members[r]))) for n, r in enumerate(roots)}
    tensor_offsets, tensor_external = {}, {}
    for tid, t in storages.tensors.items():
        r = storages.find(t)
        if r in storage_offset:
            tensor_offsets[tid] = storage_offset[r]
        elif r in external:
            tensor_external[tid] = external[r][0]
    live = bytes_per_op(best.buffers, n_ops)
    return MemoryPlan(
        strategy=best.name,
        peak=best.peak(),
        tensor_offsets=tensor_offsets,
        scratch=scratch,
        candidates=candidates,
        live_bytes=live,
        buffers=list(best.buffers),
        in_place=set(in_place),
        external={n: size for n, size in external.values()},
        tensor_external=tensor_external,
        kernels=req.kernels,
    )


def check_plan(plan: MemoryPlan) -> list[str]:
    """Every pair of buffers alive at the same time must not overlap in memory."""
    errors = []
    bufs = plan.buffers
    for i, a in enumerate(bufs):
        if a.offset % ALIGNMENT:
            errors.append(f"{a.name} at {a.offset} is not {ALIGNMENT}-byte aligned")
        if a.offset + a.size > plan.peak:
            errors.append(f"{a.name} ends past the arena")
        for b in bufs[i + 1 :]:
            if a.collides(a.offset, b):
                errors.append(f"{a.name} and {b.name} overlap in memory while both alive")
    return errors
