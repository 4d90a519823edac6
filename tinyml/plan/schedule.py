"""Operator scheduling: the order ops run in, chosen to lower the peak of live activations.

A model file lists its ops in one valid order, and the arena must hold every tensor live at once in that order.
Where the graph branches (a residual block: x -> conv -> conv -> ADD <- shortcut conv(x)), another order can keep
fewer tensors alive together: running the shortcut first lets the block's input die before the main branch's
second output is born. `scheduled` searches the topological orders (a shortest path over the sets of ops already
run, which stay few for chains and fork-join blocks) and returns the graph with its ops in the best one (see
`schedule` for what "best" means). The live sets are an estimate (no views, no in-place, no scratch, no
fragmentation): the planner places both orders for real and keeps the better.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from tinyml.ir.graph import Graph, Tensor

#: sets of ops already run the search may visit before it gives up and keeps the file's order (chains have one
#: per op; each fork-join block multiplies them by the product of its branches' lengths, plus one)
MAX_STATES = 20000


def _activation(t: Tensor | None) -> bool:
    return t is not None and not t.is_const and not t.variable


def _dependencies(graph: Graph) -> list[int]:
    """Per op, a bit mask of the ops that must run before it: the producers of its inputs, and the ops before it
    that touch the same state (stateful ops keep their file order)."""
    producer: dict[int, int] = {}
    state_last: dict[int, int] = {}
    needs = []
    for j, op in enumerate(graph.ops):
        mask = 0
        for t in op.inputs:
            if t is not None and id(t) in producer:
                mask |= 1 << producer[id(t)]
        for t in [*op.inputs, *op.outputs]:
            if t is not None and t.variable:
                if id(t) in state_last:
                    mask |= 1 << state_last[id(t)]
                state_last[id(t)] = j
        needs.append(mask)
        for t in op.outputs:
            producer.setdefault(id(t), j)
    return needs


def _live_bytes(graph: Graph) -> tuple[Callable[[int], int], list[int]]:
    """A function from a set of ops run (bit mask) to the bytes live after them, and per op the bytes of outputs
    it brings to life."""
    ops = graph.ops
    producer: dict[int, int] = {}
    for j, op in enumerate(ops):
        for t in op.outputs:
            producer.setdefault(id(t), j)
    outputs = {id(t) for t in graph.outputs}
    tensors: list[tuple[int, int, int]] = []  # (producer mask or 0 for an input, consumers mask, bytes)
    seen: set[int] = set()
    for t in [*graph.inputs, *(t for op in ops for t in [*op.inputs, *op.outputs])]:
        if not _activation(t) or id(t) in seen:
            continue
        assert t is not None
        seen.add(id(t))
        made = 1 << producer[id(t)] if id(t) in producer else 0
        readers = 0
        for j, op in enumerate(ops):
            if any(u is t for u in op.inputs):
                readers |= 1 << j
        if id(t) in outputs:
            readers |= 1 << len(ops)  # never run: outputs stay live to the end
        tensors.append((made, readers, t.nbytes))
    born = [sum(t.nbytes for t in op.outputs if _activation(t)) for op in ops]

    def live(done: int) -> int:
        return sum(n for made, readers, n in tensors if (done & made) == made and (readers & ~done))

    return live, born


def schedule(graph: Graph) -> list[int] | None:
    """The order (op positions) with the least live bytes summed over its ops, when it differs from the file's;
    None when the file's order is that order or the graph is too branchy to search.

    The sum, not the largest live set: a model's peak is often in a stretch no order changes (its first layers),
    while the blocks after it still gain, and they decide the peak once quantization shrinks those first layers.
    Each op's live bytes only depend on the set of ops run before it, so the sum is a shortest path over those
    sets. Ties go to the op earliest in the file, so orders stay close to the file's."""
    n = len(graph.ops)
    if n < 3:
        return None
    needs = _dependencies(graph)
    live, born = _live_bytes(graph)
    full = (1 << n) - 1
    best: dict[int, tuple[int, tuple[int, ...]]] = {0: (0, ())}
    heap: list[tuple[int, tuple[int, ...], int]] = [(0, (), 0)]
    while heap:
        cost, path, done = heapq.heappop(heap)
        if done == full:
            break
        if (cost, path) > best[done]:
            continue
        now = live(done)
        for j in range(n):
            bit = 1 << j
            if done & bit or (needs[j] & done) != needs[j]:
                continue
            key = (cost + now + born[j], (*path, j))
            nxt = done | bit
            if nxt not in best or key < best[nxt]:
                if nxt not in best and len(best) >= MAX_STATES:
                    return None
                best[nxt] = key
                heapq.heappush(heap, (*key, nxt))
    order = list(best[full][1])
    return None if order == list(range(n)) else order


def reordered(graph: Graph, order: list[int]) -> Graph:
    """`graph` with its ops run in `order` (the same op objects: kernels, attributes and source indices keep)."""
    return Graph(graph.name, graph.inputs, graph.outputs, [graph.ops[j] for j in order], graph.source_hash)


def scheduled(graph: Graph) -> Graph | None:
    """`graph` in the order with the smallest largest live set, when that beats the file's order; else None."""
    order = schedule(graph)
    return None if order is None else reordered(graph, order)
