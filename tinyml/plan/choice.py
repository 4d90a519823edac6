"""Kernel choice: which of an op's kernels runs it, in place or not, traded against the SRAM each way needs.

An op can often run several ways: on tinyml's fast kernel, CMSIS-NN's or the portable one, each perhaps in place
(writing its output over an input that dies there). They differ in cycles, in scratch, and in the memory their
output takes. Each way is an `Option`, priced in cycles on the target's core by the cost model
(`Kernel.cost`), and an op's options are ranked fastest first. Estimates within `TIE` of each other rank in the
backend's order instead: the cost model is not that precise, and backends list first the kernels measured faster.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from tinyml.ir.graph import Graph, Operator, Tensor
from tinyml.kernels import REGISTRY, Kernel
from tinyml.kernels.backends import Backend
from tinyml.kernels.costs import op_cycles
from tinyml.plan.allocators import align
from tinyml.plan.lifetimes import _in_place_possible, _Lifetimes, _Requests, _requests
from tinyml.plan.options import PlanOptions

#: estimates closer than this fraction are a tie (tinyml's 1x1 fast kernel and its general one differ by less
#: than 1% on pointwise layers, and the cost model has them the wrong way round on some)
TIE = 0.02


@dataclass(frozen=True)
class Option:
    """One way to run an op: `kernel`, in place when `in_place` (and its input dies at the op), and its cycles."""

    kernel: Kernel
    in_place: bool
    cycles: int
    #: the kernel's place in the backend's list for the op
    order: int


def _rank(options: list[Option]) -> list[Option]:
    """Fastest first: each time, of the options within TIE of the cheapest left, the earliest in the backend's
    list, and of that kernel's variants (in place or not) the cheaper."""
    left = sorted(options, key=lambda o: (o.cycles, o.order, o.in_place))
    ranked = []
    while left:
        window = left[0].cycles * (1 + TIE)
        pick = min((o for o in left if o.cycles <= window), key=lambda o: (o.order, o.cycles))
        ranked.append(pick)
        left.remove(pick)
    return ranked


class _Choices:
    """Each op's options, fastest first, remembered by what a kernel's answers depend on (see `_signature`).

    Patch expansion copies a stage's ops once per patch and candidate grid, mostly with equal shapes; asking
    each kernel again (the fast kernels recast every channel's requantization to answer) was most of the
    planning time.
    """

    def __init__(self, backend: Backend, core: str, in_place: bool) -> None:
        self.backend = backend
        self.core = core
        self.in_place = in_place
        self.known: dict[Hashable, list[Option]] = {}
        self.priced: dict[Hashable, int] = {}

    def __call__(self, op: Operator) -> list[Option]:
        key = _signature(op)
        if key is None:
            return self._options(op)
        if key not in self.known:
            self.known[key] = self._options(op)
        return self.known[key]

    def _options(self, op: Operator) -> list[Option]:
        """Every kernel the backend offers for `op`, in place (when it has that variant) and not, ranked.

        An in-place variant that costs exactly what the plain one does stands for both: it runs the same code (it
        saves memory for nothing), and where its input does not die at the op it runs as the plain one anyway."""
        options = []
        for order, kernel in enumerate(self.backend.choices(op)):
            plain = kernel.cost(op, self.core, False)
            if self.in_place and kernel.in_place(op) is not None:
                cycles = kernel.cost(op, self.core, True)
                options.append(Option(kernel, True, cycles, order))
                if cycles == plain:
                    continue
            options.append(Option(kernel, False, plain, order))
        return _rank(options)

    def cycles(self, op: Operator, kernel: Kernel, in_place: bool) -> int:
        """`op`'s share of an inference on `kernel` (run in place or not): its cycles and the call overhead."""
        key = _signature(op)
        full = (key, kernel, in_place) if key is not None else None
        if full is not None and full in self.priced:
            return self.priced[full]
        cycles = op_cycles(op, kernel, self.core, in_place)
        if full is not None:
            self.priced[full] = cycles
        return cycles

    def least_cycles(self, graph: Graph) -> int:
        """No plan of `graph` can take fewer cycles than every op on its cheapest option."""
        return sum(min(self.cycles(op, o.kernel, o.in_place) for o in self(op)) for op in graph.ops)


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


def _plain(options: list[Option]) -> list[Option]:
    """An op's options where its input lives on after it: none runs in place. An in-place option becomes its plain
    twin, which it stood for when they cost the same."""
    kernels = {o.kernel for o in options if not o.in_place}
    plain = [o for o in options if not o.in_place]
    plain += [Option(o.kernel, False, o.cycles, o.order) for o in options if o.in_place and o.kernel not in kernels]
    return _rank(plain)


class _KernelChoice:
    """Each op's options (fastest first) and what each costs in live bytes during that op.

    `live[i][r]` is the bytes live during op i run as its r-th option. An op's option changes only the bytes live
    during that op: its scratch, and whether its input and output share memory (in place). So two placements'
    worth of requests without scratch, every op in place where it can be and none in place, price every op's
    every option. They are worked out only when a plan must trade speed for memory.
    """

    def __init__(self, graph: Graph, choices: _Choices, options: PlanOptions) -> None:
        self.graph = graph
        self.options = options
        self.price = choices
        self.lifetimes = _Lifetimes(graph)
        self.choices = [choices(op) for op in graph.ops]
        if any(o.in_place for c in self.choices for o in c):
            in_place = [next((o.kernel for o in c if o.in_place), c[0].kernel) for c in self.choices]
            possible = _in_place_possible(self.lifetimes, in_place, options)
            self.choices = [c if ok else _plain(c) for c, ok in zip(self.choices, possible, strict=True)]
        self.fixed = all(len(c) == 1 for c in self.choices)
        self._live: list[list[int]] | None = None
        self._lean: list[Option] | None = None

    def requests(self, picks: Sequence[Option]) -> _Requests:
        """The buffers with op i run as `picks[i]`."""
        kernels = [o.kernel for o in picks]
        return _requests(self.lifetimes, kernels, [o.in_place for o in picks], self.options)

    @property
    def live(self) -> list[list[int]]:
        if self._live is None:
            self._live = self._price_live()
        return self._live

    def _price_live(self) -> list[list[int]]:
        g = self.lifetimes
        n = len(self.graph.ops)
        # every in-place variant of an op writes over the same input (the one of the same shape), so any of them
        # stands for all in the in-place requests; a view is a view whichever kernel runs it
        firsts = [c[0].kernel for c in self.choices]
        in_place = [next((o.kernel for o in c if o.in_place), c[0].kernel) for c in self.choices]
        apart = _requests(g, firsts, [False] * n, self.options, scratch=False).live_bytes()
        together = _requests(g, in_place, [True] * n, self.options, scratch=False)
        shared = together.live_bytes()
        live = []
        for i, c in enumerate(self.choices):
            row = []
            for o in c:
                if o.in_place and i in together.in_place:
                    variant = g.in_place(i, o.kernel)
                    assert variant is not None and variant.input == g.in_place(i, in_place[i]).input  # type: ignore[union-attr]
                    row.append(shared[i] + align(variant.scratch))
                else:
                    row.append(apart[i] + align(g.scratch_bytes(i, o.kernel)))
            live.append(row)
        return live

    def fastest(self) -> list[Option]:
        return [c[0] for c in self.choices]

    def lean(self) -> list[Option]:
        """Per op, the option with the fewest live bytes (the faster one on a tie)."""
        if self._lean is None:
            live = self.live
            self._lean = [c[min(range(len(c)), key=lambda r, i=i: (live[i][r], r))] for i, c in enumerate(self.choices)]
        return self._lean

    def portable(self) -> list[Option]:
        """Every op on the portable kernel, in place wherever it can be."""
        picks = []
        for op, c in zip(self.graph.ops, self.choices, strict=True):
            mine = [o for o in c if o.kernel is REGISTRY[op.type]]
            picks.append(next((o for o in mine if o.in_place), mine[0] if mine else c[-1]))
        return picks

    def within(self, limit: int) -> list[Option]:
        """Per op, the fastest option whose live bytes stay within `limit` (the leanest when none does)."""
        live, lean = self.live, self.lean()
        return [
            next((o for o, b in zip(c, live[i], strict=True) if b <= limit), lean[i])
            for i, c in enumerate(self.choices)
        ]

    def limits(self, target: int) -> list[int]:
        """The live-byte limits `within` can tell apart, up to `target`, lowest first."""
        return sorted({b for row in self.live for b in row if b <= target} | {target})

    def bound(self) -> int:
        """The live-set bound of the lean choice: no placement of this graph needs less (ranks patch stages)."""
        return max((min(row) for row in self.live), default=0)

    def cycles(self, kernels: Sequence[Kernel], in_place: set[int]) -> int:
        """Estimated cycles of one inference with these kernels, `in_place` the positions of ops run in place."""
        ops = enumerate(zip(self.graph.ops, kernels, strict=True))
        return sum(self.price.cycles(op, k, i in in_place) for i, (op, k) in ops)
