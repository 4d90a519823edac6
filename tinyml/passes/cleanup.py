"""Dead-op removal: ops whose outputs nothing reads (after folding, say) are dropped."""

from __future__ import annotations

from tinyml.ir.graph import Graph


def remove_dead_ops(graph: Graph) -> None:
    """Drop ops whose outputs nobody reads (what folding leaves behind)."""
    changed = True
    while changed:
        needed = {id(t) for t in graph.outputs}
        for op in graph.ops:
            needed.update(id(t) for t in op.inputs if t is not None)
        alive = [op for op in graph.ops if any(id(t) in needed for t in op.outputs)]
        changed = len(alive) != len(graph.ops)
        graph.ops = alive
