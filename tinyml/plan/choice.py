"""Kernel choice: which of an op's kernels runs it, traded against the SRAM each one needs."""

from __future__ import annotations

from collections.abc import Hashable

from tinyml.ir.graph import Graph, Operator, Tensor
from tinyml.kernels import Kernel
from tinyml.kernels.backends import Backend
from tinyml.plan.lifetimes import _Lifetimes, _requests
from tinyml.plan.options import PlanOptions

#: --prefer balanced: the arena may exceed the smallest by this factor where faster kernels need it (they
#: run 2-4 times faster than the portable in-place ones, for a few hundred bytes of scratch)
BALANCED_SLACK = 1.1


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
        return id(t) if t.is_const else (t.shape, t.type, t.quant)

    attrs = tuple(sorted(op.attrs.items())) if isinstance(op.attrs, dict) else op.attrs
    key = (op.type, tuple(map(operand, op.inputs)), tuple(map(operand, op.outputs)), attrs)
    try:
        hash(key)
    except TypeError:
        return None
    return key


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
