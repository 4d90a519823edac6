"""Kernel backends: which C kernel implements each op.

`portable` is tinyml's own C99 kernels (every op, every target). `cmsis-nn`
calls Arm's CMSIS-NN for the ops and variants it covers, tuned for the board's
core (DSP extension, Helium/MVE), and falls back to the portable kernel for the
rest. `auto` takes CMSIS-NN on Cortex-M boards when it is available.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tinyml.errors import ToolchainError
from tinyml.ir import Operator
from tinyml.ops import REGISTRY, Kernel
from tinyml.packs import FIX, CmsisPaths, find_cmsis

if TYPE_CHECKING:
    from tinyml.boards import Board

CHOICES = ("auto", "cmsis-nn", "portable")


@dataclass(frozen=True)
class CoreFeatures:
    """What CMSIS-NN specialises on: the DSP extension and Helium (MVE)."""

    dsp: bool = False
    mve: bool = False

    @classmethod
    def of(cls, board: Board) -> CoreFeatures:
        cpu = board.raw.get("cpu", {})
        return cls(dsp=bool(cpu.get("dsp")), mve=bool(cpu.get("mve")))


@dataclass(frozen=True)
class Backend:
    name: str
    overrides: dict[str, Kernel] = field(default_factory=dict)
    cmsis: CmsisPaths | None = None

    def kernel(self, op: Operator) -> Kernel:
        """The kernel that runs `op`: this backend's when it covers the variant, else the portable one."""
        special = self.overrides.get(op.type)
        if special is not None and special.accepts(op):
            return special
        return REGISTRY[op.type]


PORTABLE = Backend("portable")


def select_backend(
    board: Board, choice: str = "auto", cmsis_nn: str | None = None, cmsis: str | None = None
) -> Backend:
    """The backend for `board` given `--kernels`; `auto` warns (one line) when it has to fall back."""
    if choice == "portable":
        return PORTABLE
    paths, where = find_cmsis(cmsis_nn, cmsis)
    if paths is None:
        if choice == "cmsis-nn":
            raise ToolchainError(f"--kernels cmsis-nn: CMSIS-NN not found (looked for {where})", FIX)
        if board.kind == "mcu":
            print(f"tinyml: warning: CMSIS-NN not found, using the portable kernels; to get it, {FIX}", file=sys.stderr)
        return PORTABLE
    if choice == "auto" and board.kind != "mcu":
        return PORTABLE
    from tinyml.ops.cmsis_nn import cmsis_kernels

    return Backend("cmsis-nn", cmsis_kernels(CoreFeatures.of(board)), paths)
