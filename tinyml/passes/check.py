"""The last pass: every op must have a definition that allows its variant and a kernel that runs it; all problems
are reported at once."""

from __future__ import annotations

from tinyml.errors import UnsupportedOpError
from tinyml.ir.graph import Graph, Operator
from tinyml.kernels import REGISTRY
from tinyml.ops import DEFINITIONS, Unsupported


def check_op(op: Operator) -> None:
    """Raise Unsupported unless `op` has a definition that validates it and declares its tensors' types (which
    `tinyml ops` lists), and a kernel that runs it: the portable one, which every backend falls back to when its
    own kernels do not take the variant."""
    definition = DEFINITIONS.get(op.type)
    if definition is None or op.type not in REGISTRY:
        raise Unsupported(f"operator {op.type} is not supported")
    definition.validate(op)
    definition.check_types(op)
    REGISTRY[op.type].check(op)


def check_supported(graph: Graph) -> None:
    """Raise UnsupportedOpError naming every op (and variant) we cannot compile."""
    problems: list[str] = []
    for op in graph.ops:
        try:
            check_op(op)
        except Unsupported as e:
            problems.append(f"{op.label} (output {op.outputs[0].name!r}): {e}")
    if problems:
        raise UnsupportedOpError(
            f"{len(problems)} unsupported operator(s) in {graph.name}:\n  " + "\n  ".join(problems),
            "re-export the model using only the operators and types `tinyml ops` lists",
        )
