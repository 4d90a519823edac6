"""The last pass: every op must have a kernel that accepts its variant; all problems are reported at once."""

from __future__ import annotations

from tflite.BuiltinOperator import BuiltinOperator

from tinyml.errors import UnsupportedOpError
from tinyml.ir.graph import Graph
from tinyml.kernels import REGISTRY, Unsupported


def check_supported(graph: Graph) -> None:
    """Raise UnsupportedOpError naming every op (and variant) we cannot compile."""
    problems: list[str] = []
    for op in graph.ops:
        kernel = REGISTRY.get(op.type)
        where = f"{op.label} (output {op.outputs[0].name!r})"
        if kernel is None:
            problems.append(f"{where}: operator {op.type} is not supported")
            continue
        try:
            kernel.check(op)
        except Unsupported as e:
            problems.append(f"{where}: {e}")
    if problems:
        # TFLite's operators only: the registry also holds ops tinyml makes itself, which no model can contain
        supported = ", ".join(sorted(t for t in REGISTRY if hasattr(BuiltinOperator, t)))
        raise UnsupportedOpError(
            f"{len(problems)} unsupported operator(s) in {graph.name}:\n  " + "\n  ".join(problems),
            f"re-export the model using only supported operators ({supported})",
        )
