"""Kernel backends: which C kernel implements each op.

`portable` is tinyml's own C99 kernels (every op, every target). `cmsis-nn`
calls Arm's CMSIS-NN for the ops and variants it covers, tuned for the board's
core (DSP extension, Helium/MVE), and falls back to the portable kernel for the
rest. `auto` takes CMSIS-NN on Cortex-M boards when it is available.

A backend offers every kernel that can run an op, fastest first (`choices`):
the planner may take a slower one where it needs less memory (the portable
kernels have in-place variants CMSIS-NN lacks, and need no scratch).
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tinyml.errors import ToolchainError
from tinyml.ir.graph import Operator
from tinyml.kernels import REGISTRY, Kernel
from tinyml.resources import cache_root
from tinyml.target.packs import FIX, CmsisPaths, find_cmsis

if TYPE_CHECKING:
    from tinyml.target.boards import Board

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
    #: op type -> this backend's kernels for it, fastest first (each may refuse a variant)
    overrides: dict[str, tuple[Kernel, ...]] = field(default_factory=dict)
    cmsis: CmsisPaths | None = None

    def choices(self, op: Operator) -> list[Kernel]:
        """The kernels that can run `op`, fastest first; the portable one is always last."""
        return [*(k for k in self.overrides.get(op.type, ()) if k.accepts(op)), REGISTRY[op.type]]

    def kernel(self, op: Operator) -> Kernel:
        """The fastest kernel for `op`: this backend's when it covers the variant, else the portable one."""
        return self.choices(op)[0]


PORTABLE = Backend("portable")


def select_backend(
    board: Board, choice: str = "auto", cmsis_nn: str | None = None, cmsis: str | None = None, verbose: bool = False
) -> Backend:
    """The backend for `board` given `--kernels`; `auto` warns (one line) when it has to fall back."""
    if choice == "portable":
        return PORTABLE
    paths, where = find_cmsis(cmsis_nn, cmsis)
    if paths is None:
        if choice == "cmsis-nn":
            raise ToolchainError(f"--kernels cmsis-nn: CMSIS-NN not found (looked for {where})", FIX)
        if board.kind == "mcu":
            _warn_once(
                "cmsis-nn-missing",
                f"CMSIS-NN not found, using the portable kernels; to get it, {FIX}",
                verbose,
            )
        return PORTABLE
    if choice == "auto" and board.kind != "mcu":
        return PORTABLE
    from tinyml.kernels.cmsis_nn import cmsis_kernels

    return Backend("cmsis-nn", cmsis_kernels(CoreFeatures.of(board)), paths)


def _warn_once(key: str, text: str, verbose: bool) -> None:
    """Print a warning the first time for this cache, and every time with --verbose.

    A warning repeated by every command teaches users to ignore stderr; a file in the
    cache remembers that this one was shown. A cache that cannot be written to
    remembers nothing, so there the warning keeps appearing rather than vanishing unseen.
    """
    marker = cache_root() / "notices" / key
    if marker.is_file() and not verbose:
        return
    print(f"tinyml: warning: {text}", file=sys.stderr)
    with contextlib.suppress(OSError):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(text + "\n")
