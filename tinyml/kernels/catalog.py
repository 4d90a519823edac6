"""What tinyml compiles, read from the op definitions and the kernels themselves: `tinyml ops` and the README's
operator table print it, so neither can drift from the compiler.

An op is listed when it has a definition and a portable kernel (what the check pass requires) and is one of
TFLite's builtin operators. Its types are the ones the check pass holds it to (`OpDef.types`,
`OpDef.weight_types`); its kernels are every library that has one for it; "in place" means a kernel can write
the output over an input, "view" that the output is the input's memory and no code runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tflite.BuiltinOperator import BuiltinOperator

from tinyml.kernels.base import REGISTRY, Kernel
from tinyml.kernels.cmsis_nn import KERNELS as CMSIS_KERNELS
from tinyml.kernels.cmsis_nn_s16 import KERNELS_S16
from tinyml.kernels.fast import FAST_KERNELS
from tinyml.ops import DEFINITIONS, OpDef
from tinyml.passes.subbyte import JOINS, READERS, WEIGHTED, WRITERS

SCHEMA = "tinyml.ops/1"

#: how the table names each kernel library
LIBRARIES = {"portable": "portable", "fast": "DSP (tinyml)", "cmsis-nn": "CMSIS-NN"}


@dataclass(frozen=True)
class OpEntry:
    """One supported operator, as `tinyml ops` lists it."""

    op: str
    #: element types of its data (feature inputs and outputs)
    types: tuple[str, ...]
    #: element types of its weights (empty for ops without)
    weights: tuple[str, ...]
    #: kernel libraries that run it: portable always, then DSP (tinyml's fast kernels), CMSIS-NN
    kernels: tuple[str, ...]
    #: some kernel of it may write its output over an input
    in_place: bool
    #: its output is a view of an input: no code, no memory
    view: bool
    #: its activations may be stored packed in 4 or 2 bits
    sub_byte: bool
    #: it may run inside a patch stage, tile by tile
    patches: bool


def _overrides(kernel: Kernel | type[Kernel], method: str) -> bool:
    cls = kernel if isinstance(kernel, type) else type(kernel)
    return getattr(cls, method) is not getattr(Kernel, method)


def _entry(op_type: str, definition: OpDef) -> OpEntry:
    portable = REGISTRY[op_type]
    others: list[type[Kernel]] = [type(k) for k in FAST_KERNELS.get(op_type, ())]
    others += [cls for cls in (*CMSIS_KERNELS, *KERNELS_S16) if op_type in cls.op_types]
    libraries = ["portable", *(k.library for k in others)]
    return OpEntry(
        op=op_type,
        types=tuple(str(t) for t in definition.types),
        weights=tuple(str(t) for t in definition.weight_types),
        kernels=tuple(LIBRARIES[lib] for lib in dict.fromkeys(libraries)),
        in_place=any(_overrides(k, "in_place") for k in [type(portable), *others]),
        view=_overrides(portable, "alias_input"),
        sub_byte=any(op_type in group for group in (WRITERS, READERS, WEIGHTED, JOINS)),
        patches=type(definition).patchable is not OpDef.patchable,
    )


def catalog() -> list[OpEntry]:
    """Every TFLite operator tinyml compiles, by name."""
    builtin = [t for t in DEFINITIONS if t in REGISTRY and hasattr(BuiltinOperator, t)]
    return [_entry(t, DEFINITIONS[t]) for t in sorted(builtin)]


def as_json(entries: list[OpEntry]) -> dict[str, object]:
    return {"schema": SCHEMA, "ops": [asdict(e) for e in entries]}


def _notes(e: OpEntry) -> str:
    notes = ["view" if e.view else "in place" if e.in_place else "", "sub-byte" if e.sub_byte else ""]
    notes.append("patches" if e.patches else "")
    return ", ".join(n for n in notes if n)


def _types(e: OpEntry) -> str:
    return ", ".join(e.types) + (f"; weights {', '.join(e.weights)}" if e.weights else "")


def as_text(entries: list[OpEntry]) -> str:
    """An aligned table for the terminal."""
    rows = [("operator", "types", "kernels", "memory")]
    rows += [(e.op, _types(e), ", ".join(e.kernels), _notes(e)) for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3] for r in rows]
    return "\n".join(line.rstrip() for line in lines) + f"\n\n{len(entries)} operators\n"


def as_markdown(entries: list[OpEntry]) -> str:
    """The README's operator table."""
    lines = ["| Operator | Types | Kernels | Memory |", "|---|---|---|---|"]
    lines += [f"| {e.op} | {_types(e)} | {', '.join(e.kernels)} | {_notes(e)} |" for e in entries]
    return "\n".join(lines) + "\n"
