"""The library API: every stage of tinyml assembled in one place.

The command line, the tests, the benchmarks and the model search all call these functions; nothing else
wires the stages together. A script compiles a model with

    from tinyml import pipeline
    compiled = pipeline.compile_model("model.tflite", "stm32f746")
    outputs = pipeline.run(compiled, [input_bytes])          # host or an emulated board
    report = pipeline.report(compiled)                        # what `tinyml report --json` prints

and reaches the stages (`load`, `plan`, `render`, `build`) one by one when it needs to look in between.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyml import __version__
from tinyml.errors import InputDataError, TinymlError, UsageError

if TYPE_CHECKING:
    import numpy as np

    from tinyml.codegen import ModelCode
    from tinyml.ir.graph import Graph, Tensor
    from tinyml.kernels.backends import Backend
    from tinyml.plan import MemoryPlan, Planned, PlanOptions
    from tinyml.target.boards import Board


def _default_plan_options() -> PlanOptions:
    from tinyml.plan import PlanOptions

    return PlanOptions()


@dataclass(frozen=True)
class CompileOptions:
    """Everything besides the model and the board that decides the generated code."""

    #: "auto" (CMSIS-NN on Cortex-M boards when found), "cmsis-nn" or "portable"
    kernels: str = "auto"
    #: a CMSIS-NN tree and a CMSIS (CMSIS_6) tree; default: $CMSIS_NN_ROOT/$CMSIS_ROOT, then installed packs
    cmsis_nn: str | None = None
    cmsis: str | None = None
    #: what the planner may do to save SRAM
    plan: PlanOptions = field(default_factory=_default_plan_options)
    #: build a hardware board's image for its closest emulated core (same memory limits)
    emulate: bool = False
    #: repeat notices that are otherwise shown once per cache (CMSIS-NN missing)
    verbose: bool = False


@dataclass
class Compiled:
    """A model compiled for a board: the plan behind the code, and the code."""

    #: the model file it came from
    model: Path
    board: Board
    backend: Backend
    planned: Planned
    code: ModelCode
    options: CompileOptions

    @property
    def graph(self) -> Graph:
        """The graph the code runs (patch-expanded when a patch stage was chosen)."""
        return self.planned.graph

    @property
    def plan(self) -> MemoryPlan:
        return self.planned.plan

    @property
    def program_name(self) -> str:
        return "firmware.elf" if self.board.kind == "mcu" else "app"


# --- the stages ---------------------------------------------------------------------------------------------------


def load(model: str | Path) -> Graph:
    """Front end and graph optimiser: a model file as an IR graph every kernel can take."""
    from tinyml.frontend import load_model
    from tinyml.passes import optimize

    return optimize(load_model(model))


def target(board: str | Board, emulate: bool = False) -> Board:
    """A board by name (case-insensitive, aliases too), or as given; `emulate` swaps in its emulated twin."""
    from tinyml.target.boards import Board, emulation_board, load_board

    b = board if isinstance(board, Board) else load_board(board)
    return emulation_board(b) if emulate else b


def backend_for(board: Board, options: CompileOptions) -> Backend:
    """The kernel backend the options ask for on this board."""
    from tinyml.kernels.backends import select_backend

    return select_backend(board, options.kernels, options.cmsis_nn, options.cmsis, options.verbose)


def plan(graph: Graph, board: Board, backend: Backend, options: PlanOptions | None = None) -> Planned:
    """Planning: each op's kernel, a patch stage where it pays, and every buffer's place in the arena."""
    from tinyml.plan import plan_model

    return plan_model(graph, backend, options)


def render(planned: Planned, board: Board, backend: Backend) -> ModelCode:
    """Code generation, in memory: model.h/model.c and the board's application files."""
    from tinyml.codegen import render_model

    return render_model(planned.graph, planned.plan, board, backend)


def compile_model(model: str | Path, board: str | Board, options: CompileOptions | None = None) -> Compiled:
    """Every stage up to the generated code: load, optimise, choose kernels, plan, render."""
    options = options or CompileOptions()
    b = target(board, options.emulate)
    graph = load(model)
    backend = backend_for(b, options)
    planned = plan(graph, b, backend, options.plan)
    return Compiled(Path(model), b, backend, planned, render(planned, b, backend), options)


# --- building ---------------------------------------------------------------------------------------------------


def build(compiled: Compiled, out_dir: str | Path | None = None, force: bool = False) -> Path:
    """The built program (firmware.elf, or the host's app): into `out_dir`, or from/into the build cache.

    An output directory is written and built beside itself and replaces `out_dir` only when everything
    succeeded, and only if `out_dir` holds nothing but tinyml's own unchanged output (or `force`).
    """
    if out_dir is None:
        program = cache_dir(compiled) / compiled.program_name
        if not program.is_file():
            _build_into(cache_dir(compiled), compiled, force=True, quiet=True)
        return program
    return _build_into(Path(out_dir), compiled, force)


def project_info(compiled: Compiled) -> dict[str, str]:
    """What an output directory's manifest records about where its files came from."""
    g = compiled.graph
    return {"tinyml": __version__, "model": g.name, "sha256": g.source_hash, "board": compiled.board.name}


def _build_into(target_dir: Path, compiled: Compiled, force: bool, quiet: bool = False) -> Path:
    from tinyml.codegen import write_project
    from tinyml.codegen.staging import staged_dir
    from tinyml.target.build import build as build_project

    with staged_dir(target_dir, force=force, quiet=quiet, info=project_info(compiled)) as tmp:
        write_project(compiled.code, tmp)
        name = build_project(tmp, compiled.board, compiled.backend.cmsis).name
    return target_dir / name


def cache_dir(compiled: Compiled) -> Path:
    """Where this exact project is built in the cache: keyed by every generated file, so any option that
    changes the code (kernels, in-place, patches, --io) gets its own build."""
    from tinyml.resources import cache_root
    from tinyml.target.build import source_fingerprint

    h = hashlib.sha256(f"{compiled.board.name}|{source_fingerprint()}".encode())
    cmsis = compiled.backend.cmsis
    if cmsis is not None:
        h.update(f"{cmsis.nn}|{cmsis.core}".encode())
    for name, text in sorted(compiled.code.files.items()):
        h.update(name.encode() + b"\0" + text.encode())
    return cache_root() / "builds" / h.hexdigest()[:20]


@dataclass(frozen=True)
class BuiltSize:
    """An image's measured size (from the ELF), for the report."""

    elf: Path
    flash_bytes: int
    ram_bytes: int


def built_size(compiled: Compiled) -> BuiltSize | None:
    """The size of the firmware `run`/`bench`/`deploy` already built for this model and board, or None.

    Never builds, so `report` stays fast; a missing readelf or an unreadable image just means no measurement.
    """
    from tinyml.target.build import firmware_size

    if compiled.board.kind != "mcu":
        return None
    elf = cache_dir(compiled) / "firmware.elf"
    try:
        if not elf.is_file():
            return None
        size = firmware_size(elf, compiled.board)
    except (TinymlError, subprocess.CalledProcessError, OSError):
        return None
    return BuiltSize(elf, size.flash_bytes, size.ram_bytes)


# --- running ------------------------------------------------------------------------------------------------------


def split_inputs(graph: Graph, data: bytes, where: str = "the input data") -> list[bytes]:
    """Raw input bytes (the input tensors in model order, inference after inference) cut per inference."""
    need = sum(t.nbytes for t in graph.inputs)
    if not data or len(data) % need:
        shapes = ", ".join(f"{t.type}{list(t.shape)}" for t in graph.inputs)
        raise InputDataError(
            f"{where} holds {len(data)} bytes; one inference needs {need} bytes ({shapes})",
            "write the input tensors as raw bytes in model order (numpy: array.astype(dtype).tofile(path))",
        )
    return [data[i : i + need] for i in range(0, len(data), need)]


def require_emulated(board: Board, what: str) -> None:
    """Refuse to start an emulator for a hardware board that was not compiled for emulation."""
    if board.kind == "mcu" and not board.raw.get("emulated"):
        raise UsageError(
            f"{what} needs an emulated board; {board.name} is hardware",
            "add --emulate, or use `tinyml deploy`/`tinyml bench --port` with the board attached",
        )


def run(compiled: Compiled, inputs: list[bytes]) -> list[bytes]:
    """One inference per input, on the host or under the board's emulator; each output as raw bytes."""
    from tinyml.measure.session import infer_all, session
    from tinyml.target.build import run_host

    require_emulated(compiled.board, "running")
    program = build(compiled)
    if compiled.board.kind == "host":
        out = run_host(program, b"".join(inputs))
        size = sum(t.nbytes for t in compiled.graph.outputs)
        return [out[i : i + size] for i in range(0, len(out), size)]
    with session(compiled.board, program, compiled.graph) as client:
        return [r.output for r in infer_all(client, inputs)]


def run_reference(graph: Graph, inputs: list[bytes]) -> list[bytes]:
    """The same inferences in tinyml's own IR interpreter (NumPy, TFLite's integer semantics)."""
    from tinyml.reference import run_bytes

    size = sum(t.nbytes for t in graph.outputs)
    out = run_bytes(graph, b"".join(inputs))
    return [out[i : i + size] for i in range(0, len(out), size)]


def tensors_of(tensors: list[Tensor], data: bytes) -> list[np.ndarray]:
    """Raw bytes of one inference as arrays, one per tensor (the graph's inputs or outputs; sub-byte values
    unpacked)."""
    arrays, pos = [], 0
    for t in tensors:
        arrays.append(t.type.unpack(data[pos : pos + t.nbytes], t.num_elements).reshape(t.shape))
        pos += t.nbytes
    return arrays


def tflm_expected(compiled: Compiled, inputs: list[bytes]) -> list[bytes]:
    """TFLite Micro's outputs for the same inputs: the oracle every device result is held to."""
    from tinyml.reference.tflm import tflm_outputs

    return [
        b"".join(o.tobytes() for o in tflm_outputs(compiled.model, tensors_of(compiled.graph.inputs, data)))
        for data in inputs
    ]


# --- measuring ----------------------------------------------------------------------------------------------------


def report(
    compiled: Compiled,
    *,
    sram_budget: int | None = None,
    flash_budget: int | None = None,
    measured: BuiltSize | None = None,
) -> dict[str, Any]:
    """The memory and compute report as data (what `tinyml report --json` prints).

    Code size and runtime RAM come from `measured` (or an image already in the build cache) when there is
    one, and are estimated otherwise.
    """
    from tinyml.measure.report import build_report

    size = measured or built_size(compiled)
    return build_report(
        compiled.planned,
        compiled.code,
        compiled.board,
        str(compiled.model),
        compiled.backend,
        elf=size.elf if size else None,
        elf_flash_bytes=size.flash_bytes if size else None,
        elf_ram_bytes=size.ram_bytes if size else None,
        sram_budget=sram_budget,
        flash_budget=flash_budget,
        prefer=compiled.options.plan.prefer,
    )
