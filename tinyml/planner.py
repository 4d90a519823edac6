"""Memory planning: one static arena holding every activation and scratch buffer.

Planners share TFLM's interface (add a buffer with its lifetime, read back
offsets and the peak). Several strategies run on every model and the smallest
plan wins, so tinyml never needs more than TFLM's own greedy planner, which is
one of the strategies.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from tinyml.backends import PORTABLE, Backend
from tinyml.ir import Graph, Tensor

ALIGNMENT = 16


def align(n: int, to: int = ALIGNMENT) -> int:
    return (n + to - 1) // to * to


@dataclass
class Buffer:
    """A request: `size` bytes live from op `first` to op `last`, inclusive."""

    name: str
    size: int
    first: int
    last: int
    offset: int = -1

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


class Planner(ABC):
    """Collects buffers, then places them; subclasses choose the placement order."""

    name = "planner"

    def __init__(self, alignment: int = ALIGNMENT) -> None:
        self.alignment = alignment
        self.buffers: list[Buffer] = []
        self._planned = False

    def add_buffer(self, name: str, size: int, first_use: int, last_use: int) -> int:
        """Register a buffer; returns its id for `offset`."""
        if first_use > last_use:
            raise ValueError(f"buffer {name}: first use {first_use} after last use {last_use}")
        self.buffers.append(Buffer(name, align(size, self.alignment), first_use, last_use))
        self._planned = False
        return len(self.buffers) - 1

    def offset(self, buffer_id: int) -> int:
        self._ensure_planned()
        return self.buffers[buffer_id].offset

    def peak(self) -> int:
        """Arena bytes the plan needs."""
        self._ensure_planned()
        return max((b.offset + b.size for b in self.buffers), default=0)

    def _ensure_planned(self) -> None:
        if not self._planned:
            for b in self.buffers:
                b.offset = -1
            for i in self.order():
                self.buffers[i].offset = self._first_fit(self.buffers[i])
            self._planned = True

    @abstractmethod
    def order(self) -> list[int]:
        """The order in which buffers are placed, each at its lowest fitting offset."""

    def _first_fit(self, want: Buffer) -> int:
        """Lowest offset where `want` fits among placed buffers alive at the same time."""
        placed = sorted((b for b in self.buffers if b.offset >= 0 and b.overlaps_in_time(want)), key=lambda b: b.offset)
        candidate = 0
        for b in placed:
            if b.offset - candidate >= want.size:
                break
            candidate = max(candidate, b.offset + b.size)
        return candidate

    def __str__(self) -> str:
        self._ensure_planned()
        lines = [f"{self.name}: peak {self.peak()} bytes", f"{'offset':>8} {'size':>8} {'ops':>9}  buffer"]
        for b in sorted(self.buffers, key=lambda b: (b.offset, b.first)):
            lines.append(f"{b.offset:>8} {b.size:>8} {b.first:>4}-{b.last:<4}  {b.name}")
        return "\n".join(lines)


class GreedyBySizePlanner(Planner):
    """TFLite Micro's GreedyMemoryPlanner: largest buffers first."""

    name = "greedy-by-size"

    def order(self) -> list[int]:
        return sorted(range(len(self.buffers)), key=lambda i: -self.buffers[i].size)


class GreedyByBreadthPlanner(Planner):
    """Place the buffers of the most crowded op first (Pisarchyk and Lee, 2020).

    Ops whose live set is largest constrain the arena most, so their buffers
    take the low offsets; the others fill in around them.
    """

    name = "greedy-by-breadth"

    def order(self) -> list[int]:
        if not self.buffers:
            return []
        last = max(b.last for b in self.buffers)
        load = [0] * (last + 1)
        for b in self.buffers:
            for t in range(b.first, b.last + 1):
                load[t] += b.size
        ops = sorted(range(last + 1), key=lambda t: -load[t])
        seen: set[int] = set()
        result: list[int] = []
        for t in ops:
            live = [i for i, b in enumerate(self.buffers) if b.first <= t <= b.last and i not in seen]
            for i in sorted(live, key=lambda i: -self.buffers[i].size):
                seen.add(i)
                result.append(i)
        return result


class GreedyByLifetimePlanner(Planner):
    """Longest-lived buffers first: they pin the arena for the whole run."""

    name = "greedy-by-lifetime"

    def order(self) -> list[int]:
        return sorted(
            range(len(self.buffers)),
            key=lambda i: (-(self.buffers[i].last - self.buffers[i].first), -self.buffers[i].size),
        )


STRATEGIES: tuple[type[Planner], ...] = (GreedyBySizePlanner, GreedyByBreadthPlanner, GreedyByLifetimePlanner)


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
    #: id(tensor) -> storage index: tensors that share memory (views) share one
    storage_of: dict[int, int] = field(default_factory=dict)

    @property
    def live_set_bound(self) -> int:
        """No layer-by-layer plan can use less than the busiest op's live bytes."""
        return max(self.live_bytes, default=0)

    def offset(self, t: Tensor) -> int:
        return self.tensor_offsets[id(t)]

    def __str__(self) -> str:
        head = f"memory plan ({self.strategy}): peak {self.peak} bytes, live-set bound {self.live_set_bound}"
        rows = [f"{b.offset:>8} {b.size:>8} {b.first:>4}-{b.last:<4}  {b.name}" for b in self.buffers]
        return "\n".join([head, f"{'offset':>8} {'size':>8} {'ops':>9}  buffer", *rows])


def plan_memory(graph: Graph, backend: Backend = PORTABLE) -> MemoryPlan:
    """Lifetimes for every activation and scratch buffer, placed by the best strategy."""
    storage_of, members = _storage_groups(graph, backend)
    n_ops = len(graph.ops)
    last_op = max(n_ops - 1, 0)
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def touch(t: Tensor, i: int) -> None:
        s = storage_of[id(t)]
        first[s] = min(first.get(s, i), i)
        last[s] = max(last.get(s, i), i)

    for t in graph.inputs:
        touch(t, 0)
    for i, op in enumerate(graph.ops):
        for t in [*op.inputs, *op.outputs]:
            if t is not None and not t.is_const:
                touch(t, i)
    for t in graph.outputs:
        if not t.is_const:
            touch(t, last_op)

    requests: list[Buffer] = []
    owners: list[tuple[str, int]] = []  # ("storage", index) or ("scratch", op position)
    # Requests go in source-tensor order, as TFLM adds them: equal-sized buffers then tie the same way.
    for s, tensors in sorted(enumerate(members), key=lambda m: min(t.index for t in m[1])):
        if s not in first:
            continue
        size = max(t.nbytes for t in tensors)
        requests.append(Buffer(" = ".join(t.name for t in tensors), size, first[s], last[s]))
        owners.append(("storage", s))
    for i, op in enumerate(graph.ops):
        size = backend.kernel(op).scratch_bytes(op)
        if size:
            requests.append(Buffer(f"scratch of {op.label}", size, i, i))
            owners.append(("scratch", i))

    candidates: dict[str, int] = {}
    best: Planner | None = None
    for strategy in STRATEGIES:
        planner = strategy()
        for r in requests:
            planner.add_buffer(r.name, r.size, r.first, r.last)
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
    tensor_offsets = {tid: storage_offset[s] for tid, s in storage_of.items() if s in storage_offset}
    live = [sum(b.size for b in best.buffers if b.first <= i <= b.last) for i in range(n_ops)]
    return MemoryPlan(
        strategy=best.name,
        peak=best.peak(),
        tensor_offsets=tensor_offsets,
        scratch=scratch,
        candidates=candidates,
        live_bytes=live,
        buffers=list(best.buffers),
        storage_of=storage_of,
    )


def _storage_groups(graph: Graph, backend: Backend) -> tuple[dict[int, int], list[list[Tensor]]]:
    """Union tensors that are views of one another (RESHAPE) into one storage."""
    parent: dict[int, int] = {}
    tensors = {id(t): t for t in graph.activations()}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for tid in tensors:
        find(tid)
    for op in graph.ops:
        k = backend.kernel(op).alias_input(op)
        if k is not None and not op.input(k).is_const:
            parent[find(id(op.outputs[0]))] = find(id(op.input(k)))

    roots: dict[int, int] = {}
    members: list[list[Tensor]] = []
    storage_of: dict[int, int] = {}
    for tid, t in tensors.items():
        r = find(tid)
        if r not in roots:
            roots[r] = len(members)
            members.append([])
        members[roots[r]].append(t)
        storage_of[tid] = roots[r]
    return storage_of, members


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
            if a.overlaps_in_time(b) and a.offset < b.offset + b.size and b.offset < a.offset + a.size:
                errors.append(f"{a.name} and {b.name} overlap in memory while both alive")
    return errors
