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

import itertools
from abc import ABC, abstractmethod
from collections.abc import Hashable
from dataclasses import dataclass, field

from tinyml.errors import UsageError
from tinyml.ir.graph import Graph, Operator, Tensor
from tinyml.kernels import InPlace, Kernel
from tinyml.kernels.backends import PORTABLE, Backend
from tinyml.plan.patches import PatchConfig, expand, mac_overhead, stage_candidates

ALIGNMENT = 16
#: --prefer: how the planner trades kernel speed for SRAM (see PlanOptions.prefer)
PREFERENCES = ("balanced", "memory", "speed")


def align(n: int, to: int = ALIGNMENT) -> int:
    return (n + to - 1) // to * to


@dataclass
class Buffer:
    """A request: `size` bytes live from op `first` to op `last`, inclusive.

    `segments` refines that for buffers whose size changes over their life (an
    in-place chain whose tensors grow or shrink): (size, first, last) pieces
    sharing one offset, in time order, disjoint, within [first, last]. Bytes
    above a piece's size are free during it.
    """

    name: str
    size: int
    first: int
    last: int
    offset: int = -1
    segments: tuple[tuple[int, int, int], ...] = ()

    def __post_init__(self) -> None:
        if not self.segments:
            self.segments = ((self.size, self.first, self.last),)

    def size_at(self, t: int) -> int:
        return max((size for size, a, b in self.segments if a <= t <= b), default=0)

    def collides(self, offset: int, other: Buffer) -> bool:
        """Whether this buffer placed at `offset` overlaps placed `other` at some op."""
        for size, a, b in self.segments:
            for osize, oa, ob in other.segments:
                if a <= ob and oa <= b and offset < other.offset + osize and other.offset < offset + size:
                    return True
        return False


class Planner(ABC):
    """Collects buffers, then places them; subclasses choose the placement order."""

    name = "planner"

    def __init__(self, alignment: int = ALIGNMENT) -> None:
        self.alignment = alignment
        self.buffers: list[Buffer] = []
        self._planned = False

    def add_buffer(
        self, name: str, size: int, first_use: int, last_use: int, segments: tuple[tuple[int, int, int], ...] = ()
    ) -> int:
        """Register a buffer (optionally with time-varying `segments`); returns its id for `offset`."""
        if first_use > last_use:
            raise ValueError(f"buffer {name}: first use {first_use} after last use {last_use}")
        previous = first_use - 1
        for _, a, b in segments:
            if not previous < a <= b <= last_use:
                raise ValueError(f"buffer {name}: pieces must be disjoint, in time order, within its uses")
            previous = b
        pieces = tuple((align(sz, self.alignment), a, b) for sz, a, b in segments)
        self.buffers.append(Buffer(name, align(size, self.alignment), first_use, last_use, segments=pieces))
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
            placed: list[Buffer] = []
            for i in self.order():
                self.buffers[i].offset = self._first_fit(self.buffers[i], placed)
                placed.append(self.buffers[i])
            self._planned = True

    @abstractmethod
    def order(self) -> list[int]:
        """The order in which buffers are placed, each at its lowest fitting offset."""

    def _first_fit(self, want: Buffer, placed: list[Buffer]) -> int:
        """Lowest offset where `want` fits among `placed` buffers alive at the same time.

        Each placed piece alive during a piece of `want` rules out the offsets that would overlap it: the
        open interval (its offset - that piece's size, its end). The lowest offset in none of them is 0 or
        the end of a placed piece: TFLM's gap search, generalised to buffers whose size changes over time,
        as one sweep over the intervals sorted by their start.
        """
        ruled_out = sorted(
            (b.offset - size, b.offset + osize)
            for b in placed
            if b.first <= want.last and want.first <= b.last
            for size, a, z in want.segments
            for osize, oa, oz in b.segments
            if a <= oz and oa <= z
        )
        offset = 0
        for start, end in ruled_out:
            if start >= offset:
                break
            offset = max(offset, end)
        return offset

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
        load = _bytes_per_op(self.buffers, last + 1)
        alive: list[list[int]] = [[] for _ in range(last + 1)]
        for i, b in enumerate(self.buffers):
            for t in range(b.first, b.last + 1):
                alive[t].append(i)
        ops = sorted(range(last + 1), key=lambda t: -load[t])
        seen: set[int] = set()
        result: list[int] = []
        for t in ops:
            live = [i for i in alive[t] if i not in seen]
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


@dataclass(frozen=True)
class PlanOptions:
    """Memory-saving techniques the planner may use."""

    #: let ops whose kernels allow it write their output over an input that dies there
    in_place: bool = True
    #: keep the model's inputs and outputs in their own buffers, outside the arena figure
    io_external: bool = False
    #: patch-based inference: "auto" (the stage and grid that lower the peak most), "off", or a PatchConfig
    patches: PatchConfig | str = "auto"
    #: "auto" only considers patch stages whose recomputed halos cost at most this factor of the MACs
    max_mac_overhead: float = 1.2
    #: "balanced": the fastest kernels within BALANCED_SLACK of the smallest arena; "memory": the smallest
    #: arena, then the fastest kernels that keep it; "speed": the fastest kernels
    prefer: str = "balanced"

    def __post_init__(self) -> None:
        if self.prefer not in PREFERENCES:
            raise ValueError(f"prefer must be one of {PREFERENCES}, not {self.prefer!r}")


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


#: --prefer balanced: the arena may exceed the smallest by this factor where faster kernels need it (they
#: run 2-4 times faster than the portable in-place ones, for a few hundred bytes of scratch)
BALANCED_SLACK = 1.1
#: square patch grids "auto" tries (MCUNetV2 finds 2x2 to 8x8 enough)
AUTO_GRIDS = (2, 3, 4, 5, 6, 8)


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


class _Choices:
    """`backend.choices` per op, remembered by what a kernel's answer depends on (see `_signature`).

    Patch expansion copies a stage's ops once per patch and candidate grid, mostly with equal shapes;
    asking each kernel again (the fast kernels recast every channel's requantization to answer) was most
    of the planning time.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.known: dict[Hashable, list[Kernel]] = {}

    def __call__(self, op: Operator) -> list[Kernel]:
        key = _signature(op)
        if key is None:
            return self.backend.choices(op)
        if key not in self.known:
            self.known[key] = self.backend.choices(op)
        return self.known[key]


def _signature(op: Operator) -> Hashable | None:
    """Everything about `op` a kernel may look at: type, attributes, and per operand its shape, type and
    quantization, or the constant itself (never names or positions). None when an attribute is unhashable.
    Constants are keyed by identity, which only holds while the graph is alive: keys live for one planning."""

    def operand(t: Tensor | None) -> Hashable:
        if t is None:
            return None
        return id(t) if t.is_const else (t.shape, t.dtype, t.bits, t.quant)

    key = (op.type, tuple(map(operand, op.inputs)), tuple(map(operand, op.outputs)), tuple(sorted(op.attrs.items())))
    try:
        hash(key)
    except TypeError:
        return None
    return key


class _Storages:
    """Union-find over activation tensors: tensors in one set share memory."""

    def __init__(self, tensors: list[Tensor]) -> None:
        self.tensors = {id(t): t for t in tensors}
        self.parent = {tid: tid for tid in self.tensors}

    def find(self, t: Tensor) -> int:
        x = id(t)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, keep: Tensor, join: Tensor) -> None:
        self.parent[self.find(join)] = self.find(keep)


def _last_uses(graph: Graph) -> dict[int, int]:
    """Op index of each activation's last use; graph outputs live to the end."""
    last = {id(t): 0 for t in graph.inputs}
    for i, op in enumerate(graph.ops):
        for t in [*op.inputs, *op.outputs]:
            if t is not None and not t.is_const:
                last[id(t)] = i
    for t in graph.outputs:
        last[id(t)] = len(graph.ops)
    return last


class _Lifetimes:
    """What placement needs of a graph whatever its kernels, worked out once rather than per kernel mix;
    and each op's kernels' answers (aliasing, in-place variant, scratch), asked once per kernel."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.activations = graph.activations()
        self.nbytes = {id(t): t.nbytes for t in self.activations}
        self.last_use = _last_uses(graph)
        self.born = {id(t): 0 for t in graph.inputs}
        for i, op in enumerate(graph.ops):
            for t in op.outputs:
                self.born.setdefault(id(t), i)
        #: tensor -> (first, last) op that reads or writes it; graph inputs count at op 0, outputs at the last op
        self.touched: dict[int, tuple[int, int]] = {}
        last_op = max(len(graph.ops) - 1, 0)
        uses = [(t, 0) for t in graph.inputs]
        for i, op in enumerate(graph.ops):
            uses += [(t, i) for t in [*op.inputs, *op.outputs] if t is not None and not t.is_const]
        uses += [(t, last_op) for t in graph.outputs if not t.is_const]
        for t, i in uses:
            a, z = self.touched.get(id(t), (i, i))
            self.touched[id(t)] = (min(a, i), max(z, i))
        self.io = {id(t) for t in [*graph.inputs, *graph.outputs]}
        self._answers: dict[tuple[str, int, Kernel], object] = {}

    def _ask(self, question: str, i: int, kernel: Kernel) -> object:
        key = (question, i, kernel)
        if key not in self._answers:
            self._answers[key] = getattr(kernel, question)(self.graph.ops[i])
        return self._answers[key]

    def alias_input(self, i: int, kernel: Kernel) -> int | None:
        return self._ask("alias_input", i, kernel)  # type: ignore[return-value]

    def in_place(self, i: int, kernel: Kernel) -> InPlace | None:
        return self._ask("in_place", i, kernel)  # type: ignore[return-value]

    def scratch_bytes(self, i: int, kernel: Kernel) -> int:
        return self._ask("scratch_bytes", i, kernel)  # type: ignore[return-value]


def _segments(tensors: list[Tensor], g: _Lifetimes, first: int, last: int) -> tuple[tuple[int, int, int], ...]:
    """A storage's size over time: at each op, the largest of its tensors alive then.

    The largest only changes where a tensor's life starts or ends, so sizes are taken per run between
    those points rather than per op (patch-expanded graphs have thousands of ops)."""
    lives = []
    for m in tensors:
        a, z = max(g.born.get(id(m), first), first), min(g.last_use.get(id(m), last), last)
        if a <= z:
            lives.append((a, z, g.nbytes[id(m)]))
    points = sorted({first, last + 1, *(a for a, _, _ in lives), *(z + 1 for _, z, _ in lives)})
    pieces: list[list[int]] = []
    for start, end in itertools.pairwise(points):
        size = max((n for a, z, n in lives if a <= start <= z), default=0)
        if pieces and pieces[-1][0] == size:
            pieces[-1][2] = end - 1
        else:
            pieces.append([size, start, end - 1])
    return tuple((size, a, b) for size, a, b in pieces if size)


def _bytes_per_op(buffers: list[Buffer], n_ops: int, granule: int = 1) -> list[int]:
    """Bytes live during each of the first `n_ops` ops, each piece rounded up to `granule` (a difference
    array: patch-expanded graphs have thousands of ops)."""
    delta = [0] * (n_ops + 1)
    for b in buffers:
        for size, a, z in b.segments:
            if a < n_ops:
                delta[a] += align(size, granule)
                delta[min(z, n_ops - 1) + 1] -= align(size, granule)
    return list(itertools.accumulate(delta[:n_ops]))


@dataclass
class _Requests:
    """Everything placement needs: the buffers, whose they are, and the storage decisions behind them."""

    buffers: list[Buffer]
    owners: list[tuple[str, int]]  # ("storage", root) or ("scratch", op position)
    storages: _Storages
    members: dict[int, list[Tensor]]
    in_place: dict[int, int]
    external_roots: set[int]
    n_ops: int
    kernels: list[Kernel]

    def live_bytes(self) -> list[int]:
        """Bytes live during each op, as placed (each buffer rounded up to the arena's alignment)."""
        return _bytes_per_op(self.buffers, self.n_ops, ALIGNMENT)


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


class _KernelChoice:
    """Each op's candidate kernels (fastest first) and what each costs in live bytes during that op.

    `live[r][i]` is the bytes live during op i with every op on its r-th choice (or its last). An op's
    kernel changes only the bytes live during that op (its scratch; its input and output sharing memory
    or not), so one row per rank prices every op's every choice.
    """

    def __init__(self, graph: Graph, choices: _Choices, options: PlanOptions) -> None:
        self.graph = graph
        self.lifetimes = _Lifetimes(graph)
        self.choices = [choices(op) for op in graph.ops]
        depth = max((len(c) for c in self.choices), default=1)
        self.fixed = depth == 1
        ranks = 1 if options.prefer == "speed" else depth
        self.live = [_requests(self.lifetimes, self._rank(r), options).live_bytes() for r in range(ranks)]
        #: per op, the choice with the fewest live bytes (the faster one on a tie)
        self.lean = [
            c[min(range(len(c)), key=lambda r, i=i: (self._cost(i, r), r))] for i, c in enumerate(self.choices)
        ]

    def _rank(self, r: int) -> list[Kernel]:
        return [c[min(r, len(c) - 1)] for c in self.choices]

    def _cost(self, i: int, r: int) -> int:
        return self.live[min(r, len(self.live) - 1)][i]

    def fastest(self) -> list[Kernel]:
        return self._rank(0)

    def last(self) -> list[Kernel]:
        """Every op on the portable kernel."""
        return [c[-1] for c in self.choices]

    def within(self, limit: int) -> list[Kernel]:
        """Per op, the fastest choice whose live bytes stay within `limit` (the leanest when none does)."""
        return [
            next((k for r, k in enumerate(c) if self._cost(i, r) <= limit), self.lean[i])
            for i, c in enumerate(self.choices)
        ]

    def bound(self) -> int:
        """The live-set bound of the lean choice: what ranks patch stages."""
        return max((min(self._cost(i, r) for r in range(len(c))) for i, c in enumerate(self.choices)), default=0)


def _requests(g: _Lifetimes, kernels: list[Kernel], options: PlanOptions) -> _Requests:
    graph = g.graph
    storages = _Storages(g.activations)
    for i, (op, kernel) in enumerate(zip(graph.ops, kernels, strict=True)):
        k = g.alias_input(i, kernel)
        if k is not None and not op.input(k).is_const:
            storages.union(op.input(k), op.outputs[0])

    root_last: dict[int, int] = {}
    for tid, t in storages.tensors.items():
        r = storages.find(t)
        root_last[r] = max(root_last.get(r, 0), g.last_use.get(tid, 0))
    in_place: dict[int, int] = {}  # op position -> scratch bytes of its in-place variant
    for i, op in enumerate(graph.ops):
        choice = g.in_place(i, kernels[i]) if options.in_place else None
        if choice is None or op.input(choice.input).is_const:
            continue
        src = op.input(choice.input)
        root = storages.find(src)
        external = options.io_external and any(
            storages.find(storages.tensors[tid]) == root for tid in g.io if tid in storages.tensors
        )
        if root_last[root] != i or external:
            continue
        out_last = root_last.pop(storages.find(op.outputs[0]))
        storages.union(src, op.outputs[0])
        root_last[storages.find(src)] = out_last
        in_place[i] = choice.scratch

    members: dict[int, list[Tensor]] = {}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for tid, t in storages.tensors.items():
        r = storages.find(t)
        members.setdefault(r, []).append(t)
        if tid in g.touched:
            a, z = g.touched[tid]
            first[r] = min(first.get(r, a), a)
            last[r] = max(last.get(r, z), z)

    external_roots = (
        {storages.find(storages.tensors[tid]) for tid in g.io if tid in storages.tensors}
        if options.io_external
        else set()
    )
    requests: list[Buffer] = []
    owners: list[tuple[str, int]] = []  # ("storage", root) or ("scratch", op position)
    # Requests go in source-tensor order, as TFLM adds them: equal-sized buffers then tie the same way.
    for root, tensors in sorted(members.items(), key=lambda m: min(t.index for t in m[1])):
        if root not in first or root in external_roots:
            continue
        size = max(g.nbytes[id(t)] for t in tensors)
        segments = _segments(tensors, g, first[root], last[root])
        requests.append(Buffer(" = ".join(t.name for t in tensors), size, first[root], last[root], segments=segments))
        owners.append(("storage", root))
    for i, op in enumerate(graph.ops):
        size = in_place[i] if i in in_place else g.scratch_bytes(i, kernels[i])
        if size:
            requests.append(Buffer(f"scratch of {op.label}", size, i, i))
            owners.append(("scratch", i))

    return _Requests(requests, owners, storages, members, in_place, external_roots, len(graph.ops), kernels)


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
    live = _bytes_per_op(best.buffers, n_ops)
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
