"""Memory planning: one static arena holding every activation and scratch buffer.

Planners share TFLM's interface (add a buffer with its lifetime, read back
offsets and the peak). Several strategies run on every model and the smallest
plan wins, so tinyml never needs more than TFLM's own greedy planner, which is
one of the strategies.

Kernels are chosen here too, because they decide memory: an op's options
(kernels, in place or not; see choice.py) differ in cycles, in scratch and in
whether the output takes memory of its own. A plan either puts every op on its
fastest option, or trades: the fewest live bytes per op first, then back to the
fastest options wherever the arena stays within a target (the smallest arena
for --prefer memory, the SRAM limit for --prefer speed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinyml.ir.graph import Tensor
from tinyml.kernels import Kernel
from tinyml.plan.allocators import ALIGNMENT, STRATEGIES, Buffer, Planner, align, bytes_per_op
from tinyml.plan.choice import _KernelChoice
from tinyml.plan.lifetimes import _Requests


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
    #: id(tensor) -> offset in the persistent state buffer, for every variable tensor (stateful ops' state, which
    #: outlives an inference and so cannot share the arena)
    state_offsets: dict[int, int] = field(default_factory=dict)
    #: bytes of the persistent state buffer (each variable tensor aligned); 0 for a stateless model
    state_bytes: int = 0

    @property
    def outside_bytes(self) -> int:
        """RAM the model takes besides the arena: I/O buffers kept outside it (--io external) and the state."""
        return sum(self.external.values()) + self.state_bytes

    @property
    def live_set_bound(self) -> int:
        """No layer-by-layer plan can use less than the busiest op's live bytes."""
        return max(self.live_bytes, default=0)

    def offset(self, t: Tensor) -> int:
        return self.tensor_offsets[id(t)]

    def state_offset(self, t: Tensor) -> int | None:
        """`t`'s offset in the persistent state buffer, or None when it is not state."""
        return self.state_offsets.get(id(t))

    def external_buffer(self, t: Tensor) -> int | None:
        """The external buffer holding `t` (--io external), or None when it lives in the arena."""
        return self.tensor_external.get(id(t))

    def __str__(self) -> str:
        head = f"memory plan ({self.strategy}): peak {self.peak} bytes, live-set bound {self.live_set_bound}"
        rows = [f"{b.offset:>8} {b.size:>8} {b.first:>4}-{b.last:<4}  {b.name}" for b in self.buffers]
        return "\n".join([head, f"{'offset':>8} {'size':>8} {'ops':>9}  buffer", *rows])


def _smallest(choice: _KernelChoice) -> MemoryPlan:
    """The smallest arena any mix of options allows, then the fastest options that keep it (--prefer memory)."""
    if choice.fixed:
        return _place(choice.requests(choice.fastest()))
    lean = _leanest(choice)
    return _fastest_below(choice, lean, lean.peak)


def _fastest_within(choice: _KernelChoice, target: int | None) -> MemoryPlan | None:
    """The fastest mix whose arena is at most `target` bytes (no limit: None); None when even the leanest is larger.

    Every op on its fastest option, when that fits; otherwise the fastest options within a limit on each op's live
    bytes, the highest limit whose placement fits (see `_fastest_below`): ops give up speed only where their live
    bytes stand in the way.
    """
    fastest = _place(choice.requests(choice.fastest()))
    if target is None or fastest.peak <= target:
        return fastest
    if choice.fixed:
        return None
    lean = _leanest(choice)
    return _fastest_below(choice, lean, target) if lean.peak <= target else None


def _leanest(choice: _KernelChoice) -> MemoryPlan:
    """Per op the fewest live bytes; the all-portable mix as well, in case its placement packs tighter."""
    return min((_place(choice.requests(picks)) for picks in (choice.lean(), choice.portable())), key=lambda p: p.peak)


def _fastest_below(choice: _KernelChoice, lean: MemoryPlan, target: int) -> MemoryPlan:
    """The fastest options within a limit on each op's live bytes: the highest limit whose placement stays within
    `target` (bisected: a faster mix may place less tightly than its live bytes). `lean` fits and is the fallback."""
    limits = choice.limits(target)
    best, lo, hi = lean, 0, len(limits) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        plan = _place(choice.requests(choice.within(limits[mid])))
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
    state_offsets, state_bytes = {}, 0
    for t in req.state:  # source order, each aligned as arena buffers are
        state_offsets[id(t)] = state_bytes
        state_bytes += align(t.nbytes)
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
        state_offsets=state_offsets,
        state_bytes=state_bytes,
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
