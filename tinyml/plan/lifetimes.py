"""Lifetimes and storage: which tensors share memory (views, in-place ops), when each storage is live,
and the buffer requests that placement turns into offsets.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from tinyml.ir.graph import Graph, Tensor
from tinyml.kernels import InPlace, Kernel
from tinyml.plan.allocators import ALIGNMENT, Buffer, bytes_per_op
from tinyml.plan.options import PlanOptions


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
            if t is not None and not t.is_const and not t.variable:
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
            uses += [(t, i) for t in [*op.inputs, *op.outputs] if t is not None and not t.is_const and not t.variable]
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
    #: the variable tensors (stateful ops' state), kept out of the arena in their own persistent buffer
    state: list[Tensor] = field(default_factory=list)

    def live_bytes(self) -> list[int]:
        """Bytes live during each op, as placed (each buffer rounded up to the arena's alignment)."""
        return bytes_per_op(self.buffers, self.n_ops, ALIGNMENT)


def _views(g: _Lifetimes, kernels: Sequence[Kernel]) -> tuple[_Storages, dict[int, int]]:
    """Storages with every view sharing its input's, and the last op that uses each storage."""
    storages = _Storages(g.activations)
    for i, (op, kernel) in enumerate(zip(g.graph.ops, kernels, strict=True)):
        k = g.alias_input(i, kernel)
        if k is not None and not op.input(k).is_const:
            storages.union(op.input(k), op.outputs[0])
    root_last: dict[int, int] = {}
    for tid, t in storages.tensors.items():
        r = storages.find(t)
        root_last[r] = max(root_last.get(r, 0), g.last_use.get(tid, 0))
    return storages, root_last


def _can_overwrite(
    g: _Lifetimes, storages: _Storages, root_last: dict[int, int], i: int, kernel: Kernel, options: PlanOptions
) -> InPlace | None:
    """`kernel`'s in-place variant of op i, when the input it overwrites dies there (and is not a model input or
    output kept outside the arena); else None."""
    op = g.graph.ops[i]
    choice = g.in_place(i, kernel)
    if choice is None or op.input(choice.input).is_const:
        return None
    root = storages.find(op.input(choice.input))
    external = options.io_external and any(
        storages.find(storages.tensors[tid]) == root for tid in g.io if tid in storages.tensors
    )
    return None if root_last[root] != i or external else choice


def _in_place_possible(g: _Lifetimes, kernels: Sequence[Kernel], options: PlanOptions) -> list[bool]:
    """Per op, whether it can run in place on an in-place variant (its kernels' all overwrite the same input).

    Running one op in place never decides whether another can: the merged storage ends where the output's did."""
    storages, root_last = _views(g, kernels)
    return [_can_overwrite(g, storages, root_last, i, k, options) is not None for i, k in enumerate(kernels)]


def _requests(
    g: _Lifetimes, kernels: list[Kernel], in_place_ok: Sequence[bool], options: PlanOptions, scratch: bool = True
) -> _Requests:
    """The buffers of `g`'s graph with op i on `kernels[i]`, in place where `in_place_ok[i]` allows and its kernel
    has an in-place variant and its input dies there; without the kernels' scratch when not `scratch`."""
    graph = g.graph
    storages, root_last = _views(g, kernels)
    in_place: dict[int, int] = {}  # op position -> scratch bytes of its in-place variant
    for i, op in enumerate(graph.ops):
        choice = _can_overwrite(g, storages, root_last, i, kernels[i], options) if in_place_ok[i] else None
        if choice is None:
            continue
        src = op.input(choice.input)
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
    for i, op in enumerate(graph.ops if scratch else ()):
        size = in_place[i] if i in in_place else g.scratch_bytes(i, kernels[i])
        if size:
            requests.append(Buffer(f"scratch of {op.label}", size, i, i))
            owners.append(("scratch", i))

    return _Requests(
        requests, owners, storages, members, in_place, external_roots, len(graph.ops), kernels, graph.variables()
    )
