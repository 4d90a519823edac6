"""The graph optimiser: a row of passes from the front end's graph to one every kernel can take.

Each pass rewrites the graph in place and is a module of its own: fold what is known at compile time,
drop dead ops, fuse patterns, then check that every op left has a kernel (all problems reported at once,
with where they are, so the user sees the full list in one go).
"""

from __future__ import annotations

from tinyml.ir.graph import Graph
from tinyml.passes.check import check_op, check_supported
from tinyml.passes.cleanup import remove_dead_ops
from tinyml.passes.fold import fold_constants
from tinyml.passes.fuse import fuse_space_to_batch_convs
from tinyml.passes.subbyte import pack_subbyte

#: the passes, in the order they run
PASSES = (fold_constants, remove_dead_ops, fuse_space_to_batch_convs, check_supported, pack_subbyte)


def optimize(graph: Graph) -> Graph:
    """Run every pass on `graph`; returns it, ready for planning."""
    for run in PASSES:
        run(graph)
    return graph


__all__ = ["PASSES", "check_op", "check_supported", "optimize", "pack_subbyte"]
