"""The kernel interface: how one C implementation runs the ops it covers.

What an op is (attributes, shapes, MACs, windows, quantization parameters,
reference semantics) lives in its definition (`tinyml.ops`). A `Kernel`
answers only what depends on its C code: whether it runs this variant
(`check` / `accepts`), how much scratch it needs (`scratch_bytes`, the Python
twin of the C `*_get_buffer_size`), whether its output may share an input's
memory (`in_place`, `alias_input`), which constants it puts in flash
(`flash_bytes`) and which template call implements it (`emit`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from tinyml.ir.graph import Operator, Tensor
from tinyml.ir.types import INT4, INT8, ElementType
from tinyml.ops.base import Role, Unsupported, definition

__all__ = ["REGISTRY", "Call", "EmitContext", "InPlace", "Kernel", "Unsupported", "register"]


class EmitContext(Protocol):
    """What codegen offers a kernel while it renders its call."""

    def tensor(self, t: Tensor) -> str:
        """C expression for a tensor's data pointer (arena slot, or a flash constant in the role `t` plays)."""
        ...

    def const(self, hint: str, values: np.ndarray, ctype: str, role: Role = Role.PARAM) -> str:
        """Emit a constant array into flash, derived from the op's operands of `role`; returns its symbol."""
        ...

    @property
    def scratch(self) -> str:
        """C expression for this op's scratch pointer (NULL when it has none)."""
        ...

    @property
    def in_place(self) -> bool:
        """Whether the planner gave this op's output the memory of the input `Kernel.in_place` named."""
        ...


@dataclass(frozen=True)
class InPlace:
    """A kernel variant that writes the output over input `input`, needing `scratch` bytes instead."""

    input: int
    scratch: int


@dataclass(frozen=True)
class Call:
    """A rendered kernel call: the template to use and its values."""

    template: str
    values: dict[str, Any]


class Kernel(ABC):
    """One C implementation of one or more operator types, for the variants its `check` lets through.

    Every method may assume the op's definition validated it, and all but
    `check`/`accepts` that this kernel accepts it.
    """

    op_types: ClassVar[tuple[str, ...]] = ()
    #: whose code it is, for the report: "portable", "cmsis-nn" or "fast"
    library: ClassVar[str] = "portable"
    #: how messages name it: "the portable CONV_2D kernel"
    label: ClassVar[str] = "portable"

    def check(self, op: Operator) -> None:  # noqa: B027 - a kernel may run every valid variant
        """Raise `Unsupported`, naming this kernel, when it cannot run this (valid) variant."""

    def accepts(self, op: Operator) -> bool:
        """Whether this kernel runs `op`'s variant; a backend falls back to the next kernel when not."""
        try:
            self.check(op)
        except Unsupported:
            return False
        return True

    def scratch_bytes(self, op: Operator) -> int:
        """Scratch the C kernel needs: must equal its *_get_buffer_size."""
        return 0

    def in_place(self, op: Operator) -> InPlace | None:
        """An in-place variant the planner may use when that input dies at this op, else None."""
        return None

    def alias_input(self, op: Operator) -> int | None:
        """Index of an input whose memory the output can simply reuse (a pure view), else None."""
        return None

    def flash_bytes(self, op: Operator, in_place: bool = False) -> dict[Role, int]:
        """The bytes of constants this kernel puts in flash for `op` (run in place or not), by the role of the
        operands they come from (the weights as stored or re-laid out; biases, folded or not; multipliers, tables,
        parameters).

        Counted from what `emit` produces, so the two cannot disagree; arrays `emit` would share with other
        ops (codegen emits identical arrays once) are counted here for each op. Not included: the kernel's code
        (one copy per image) and the few dozen bytes of parameter structs per call.
        """
        recorder = _FlashRecorder(op, in_place)
        self.emit(op, recorder)
        return recorder.bytes

    def cost(self, op: Operator, core: str, in_place: bool = False) -> int:
        """Cycles this kernel spends on `op` on `core` (a board's `cpu.core`, or "host"), run in place or not:
        what the planner ranks an op's kernels by. The fitted cost model answers (tinyml.kernels.costs), so a
        kernel needs no code of its own to be priced; 0 for views."""
        from tinyml.kernels.costs import estimate_cycles  # the cost model prices kernels: it imports this module

        return estimate_cycles(op, self, core, in_place)

    @abstractmethod
    def emit(self, op: Operator, ctx: EmitContext) -> Call | None:
        """The call implementing `op`, or None when it needs no code (an alias)."""

    def require_int8(self, op: Operator, weights: tuple[ElementType, ...] = (INT8,)) -> None:
        """Refuse, by tensor and kernel name, any feature or output tensor that is not int8, and weights not of
        one of `weights`: "tensor 'w' is int2; the portable CONV_2D kernel takes int8 or int4 weights"."""
        roles = definition(op).roles(op)
        named = [(t, r) for t, r in zip(op.inputs, roles, strict=True) if r in (Role.FEATURE, Role.WEIGHTS)]
        for t, role in [*named, *((t, None) for t in op.outputs)]:
            allowed = weights if role is Role.WEIGHTS else (INT8,)
            if t is not None and t.type not in allowed:
                names = " or ".join(map(str, allowed))
                noun = "an int8 output" if role is None else f"{names} {role.value}"
                raise Unsupported(f"tensor {t.name!r} is {t.type}; the {self.label} {op.type} kernel takes {noun}")


class _FlashRecorder:
    """An EmitContext that renders nothing and counts the constants a kernel emits, by role."""

    def __init__(self, op: Operator, in_place: bool) -> None:
        self.op = op
        self._in_place = in_place
        self.bytes: dict[Role, int] = {}
        self._seen: set[int] = set()

    def _count(self, role: Role, nbytes: int) -> None:
        self.bytes[role] = self.bytes.get(role, 0) + nbytes

    def tensor(self, t: Tensor) -> str:
        if t.is_const and id(t) not in self._seen:
            self._seen.add(id(t))
            self._count(definition(self.op).role_of(self.op, t), t.nbytes)
        return "x"

    def const(self, hint: str, values: np.ndarray, ctype: str, role: Role = Role.PARAM) -> str:
        self._count(role, int(values.nbytes))
        return hint

    @property
    def scratch(self) -> str:
        return "NULL"

    @property
    def in_place(self) -> bool:
        return self._in_place


REGISTRY: dict[str, Kernel] = {}


def register(cls: type[Kernel]) -> type[Kernel]:
    """Class decorator: make a portable kernel the default for its op types."""
    instance = cls()
    for t in cls.op_types:
        REGISTRY[t] = instance
    return cls


# --- helpers shared by kernels ---


def packed_weights(op: Operator) -> bool:
    """Whether the op's weights (input 1) are int4, two to a byte in flash: its s4 kernels run it."""
    return op.input(1).type == INT4


def dims4(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Right-align a shape of rank <= 4 into (n, h, w, c)."""
    if len(shape) > 4:
        raise Unsupported(f"rank {len(shape)} tensors are not supported (at most 4)")
    padded = (1,) * (4 - len(shape)) + tuple(shape)
    return padded  # type: ignore[return-value]


def flat_values(op: Operator, ctx: EmitContext) -> dict[str, object]:
    """Template values for a one-input elementwise op, which sees its tensors as flat runs."""
    inp, out = op.input(0), op.outputs[0]
    return {
        "input_dims": (1, 1, 1, inp.num_elements),
        "output_dims": (1, 1, 1, out.num_elements),
        "input": ctx.tensor(inp),
        "output": ctx.tensor(out),
        "scratch": ctx.scratch,
    }
