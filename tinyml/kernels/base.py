"""The operator interface shared by memory planning, reporting and code emission.

One `Kernel` object per supported TFLite operator answers every question the
pipeline asks about an op: can we run it (`check`), how much work it is
(`macs`), how much scratch it needs (`scratch_bytes`, the Python twin of the C
`*_get_buffer_size`), whether its output may share its input's memory
(`alias_input`), and which template call implements it (`emit`). Keeping the
answers together stops accounting and code from drifting apart.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from tinyml.ir.graph import Operator, Tensor


class Unsupported(Exception):
    """Raised by `Kernel.check` with a reason naming the unsupported variant."""


class EmitContext(Protocol):
    """What codegen offers a kernel while it renders its call."""

    def tensor(self, t: Tensor) -> str:
        """C expression for a tensor's data pointer (arena slot or flash constant)."""
        ...

    def const(self, hint: str, values: np.ndarray, ctype: str) -> str:
        """Emit a constant array into flash; returns its symbol."""
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
    """Support for one or more TFLite operator types."""

    op_types: ClassVar[tuple[str, ...]] = ()
    #: whose code it is, for the report: "portable", "cmsis-nn" or "fast"
    library: ClassVar[str] = "portable"

    def check(self, op: Operator) -> None:  # noqa: B027 - most kernels accept every variant they are given
        """Raise `Unsupported` when this op's variant cannot be compiled."""

    def accepts(self, op: Operator) -> bool:
        """Whether this kernel covers `op`'s variant; a backend falls back to the portable kernel when not."""
        return True

    def macs(self, op: Operator) -> int:
        """Multiply-accumulates per inference (0 for data movement)."""
        return 0

    def scratch_bytes(self, op: Operator) -> int:
        """Scratch the C kernel needs: must equal its *_get_buffer_size."""
        return 0

    def in_place(self, op: Operator) -> InPlace | None:
        """An in-place variant the planner may use when that input dies at this op, else None."""
        return None

    def alias_input(self, op: Operator) -> int | None:
        """Index of an input whose memory the output can simply reuse (a pure view), else None."""
        return None

    def cost(self, op: Operator, core: str, in_place: bool = False) -> int:
        """Cycles this kernel spends on `op` on `core` (a board's `cpu.core`, or "host"), run in place or not:
        what the planner ranks an op's kernels by. The fitted cost model answers (tinyml.kernels.costs), so a
        kernel needs no code of its own to be priced; 0 for views."""
        from tinyml.kernels.costs import estimate_cycles  # the cost model prices kernels: it imports this module

        return estimate_cycles(op, self, core, in_place)

    @abstractmethod
    def emit(self, op: Operator, ctx: EmitContext) -> Call | None:
        """The call implementing `op`, or None when it needs no code (an alias)."""


REGISTRY: dict[str, Kernel] = {}


def register(cls: type[Kernel]) -> type[Kernel]:
    """Class decorator: make a kernel available for its op types."""
    instance = cls()
    for t in cls.op_types:
        REGISTRY[t] = instance
    return cls


# --- helpers shared by kernels ---


def require_int8(op: Operator, *tensors: Tensor | None) -> None:
    for t in tensors:
        if t is None:
            continue
        if t.dtype != "int8" or t.quant is None:
            raise Unsupported(f"tensor {t.name!r} is {t.dtype}{'' if t.quant else ' (not quantized)'}; int8 expected")
        if t.bits != 8:
            raise Unsupported(f"tensor {t.name!r} has {t.bits}-bit elements; only 8-bit is implemented")


def require_per_tensor(t: Tensor) -> None:
    if t.quant is not None and t.quant.per_channel:
        raise Unsupported(f"tensor {t.name!r} is quantized per channel; per-tensor expected")


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


def activation_of(op: Operator) -> str:
    act = op.attrs.get("activation", "NONE")
    if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise Unsupported(f"fused activation {act}")
    return act
