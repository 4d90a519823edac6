"""The library API: every stage of tinyml assembled in one place.

The command line, the tests, the benchmarks and the model search all call these functions; nothing else
wires the stages together. A script compiles a model with

    from tinyml import pipeline
    compiled = pipeline.compile_model("model.tflite", "stm32f746")
    outputs = pipeline.run(compiled, [input_bytes])          # host or an emulated board
    report = pipeline.report(compiled)                        # what `tinyml report --json` prints

and reaches the stages (`load`, `plan`, `render`, `build`) one by one when it needs to look in between.

A float model (Keras `.keras`/`.h5`, a SavedModel directory, a float `.tflite`) is quantized to int8 on the way
when calibration data comes with it, and the quantized model is cached by content:

    options = pipeline.CompileOptions(calib="calib_images/")
    compiled = pipeline.compile_model("model.keras", "stm32f746", options)
    result = pipeline.evaluate(compiled, "test_images/", float_model="model.keras")   # top-1, as it runs

`train_quantized` fine-tunes a float Keras model with fake quantization instead (quantization-aware training), and
`quantize_mixed` chooses 8, 4 or 2 bits per layer so that the model fits a board's memory.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
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
    from tinyml.measure.eval import EvalResult
    from tinyml.plan import MemoryPlan, Planned, PlanOptions, PlanTarget
    from tinyml.quant import QuantOptions
    from tinyml.quant.mixed import MixedOptions
    from tinyml.quant.options import QatOptions
    from tinyml.quant.ptq import Int8Model
    from tinyml.target.boards import Board


def _default_plan_options() -> PlanOptions:
    from tinyml.plan import PlanOptions

    return PlanOptions()


def _default_quant_options() -> QuantOptions:
    from tinyml.quant import QuantOptions

    return QuantOptions()


@dataclass(frozen=True)
class CompileOptions:
    """Everything besides the model and the board that decides the generated code."""

    #: "auto" (CMSIS-NN on Cortex-M boards when found), "cmsis-nn" or "portable"
    kernels: str = "auto"
    #: a CMSIS-NN tree and a CMSIS (CMSIS_6) tree; default: $CMSIS_NN_ROOT/$CMSIS_ROOT, then installed packs
    cmsis_nn: str | None = None
    cmsis: str | None = None
    #: what the planner aims for (--prefer, within --sram-budget) and what it may do to save SRAM
    plan: PlanOptions = field(default_factory=_default_plan_options)
    #: build a hardware board's image for its closest emulated core (same memory limits)
    emulate: bool = False
    #: repeat notices that are otherwise shown once per cache (CMSIS-NN missing)
    verbose: bool = False
    #: calibration data for a float model, which is then quantized to int8 on the way (cached by content):
    #: an .npz, a folder of images or a folder of float32 .bin tensors (tinyml.quant.data)
    calib: str | Path | None = None
    #: how a float model is quantized
    quant: QuantOptions = field(default_factory=_default_quant_options)
    #: progress bars while calibrating (shown on a terminal only)
    progress: bool = True


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
    #: the float model `model` was quantized from, when it was (`model` is then the cached int8 file)
    quantized: Int8Model | None = None

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


def quantize(
    model: str | Path, calib: str | Path, options: QuantOptions | None = None, *, progress: bool = True
) -> Int8Model:
    """A float model quantized to int8 with calibration data, in memory (`tinyml quantize` writes `.raw`)."""
    from tinyml.quant.ptq import quantize as ptq

    return ptq(model, calib, options, progress=progress)


def train_quantized(
    model: str | Path,
    train: str | Path,
    options: QatOptions | None = None,
    quant: QuantOptions | None = None,
    *,
    calib: str | Path | None = None,
    progress: bool = True,
) -> Int8Model:
    """A float Keras model fine-tuned with fake quantization on labelled `train` data (quantization-aware
    training at `options.bits`), in memory (`tinyml quantize --qat` writes `.raw`)."""
    from tinyml.quant.qat import train_quantized as qat

    return qat(model, train, options, quant, calib=calib, progress=progress)


def quantize_mixed(
    model: str | Path,
    mixed: MixedOptions,
    quant: QuantOptions | None = None,
    *,
    calib: str | Path | None = None,
    train: str | Path | None = None,
    qat: QatOptions | None = None,
    progress: bool = True,
) -> Int8Model:
    """A float Keras model with 8, 4 or 2 bits per layer for weights and activations, chosen so that it fits
    `mixed.board`'s RAM and flash (or `mixed`'s budgets) with the least accuracy lost, in memory (`tinyml quantize
    --board` writes `.raw`). Ranges come from `calib`; with labelled `train` data and `qat`, it is fine-tuned at the
    chosen bits before conversion."""
    from tinyml.quant.mixed import quantize_mixed as mixed_precision

    return mixed_precision(model, mixed, quant, calib=calib, train=train, qat=qat, progress=progress)


def int8_model(
    model: str | Path,
    calib: str | Path | None = None,
    options: QuantOptions | None = None,
    *,
    progress: bool = True,
) -> tuple[Path, Int8Model | None]:
    """The int8 .tflite `model` stands for: the file itself, or, for a float model with calibration data, its
    quantized twin from the cache (quantized now if it is not there yet). A float model without data goes on to
    the front end, which says what to add."""
    from tinyml.quant.ptq import float_source, quantized

    if calib is None or float_source(model) is None:
        return Path(model), None
    q = quantized(model, calib, options, progress=progress)
    assert q.path is not None
    return q.path, q


def load(
    model: str | Path,
    calib: str | Path | None = None,
    quant: QuantOptions | None = None,
    *,
    progress: bool = True,
) -> Graph:
    """Front end and graph optimiser: a model file as an IR graph every kernel can take (a float model with
    `calib` quantized first, see `int8_model`)."""
    from tinyml.frontend import load_model
    from tinyml.passes import optimize

    path, _ = int8_model(model, calib, quant, progress=progress)
    graph = optimize(load_model(path))
    _warn_unpacked(graph, path)
    return graph


def _warn_unpacked(graph: Graph, path: Path) -> None:
    """One warning line for each tensor the model's "tinyml" metadata marks as fewer than 8 bits (as `tinyml
    quantize --qat` records them) that stays int8 in `graph`, and why: packing follows what the clamps and values
    prove (tinyml.passes.subbyte), so a mark they do not bear out costs memory, never exactness."""
    import sys

    from tinyml.passes.subbyte import unpacked_marks
    from tinyml.quant.metadata import read

    entry = read(path.read_bytes())
    try:
        marks = {int(t["index"]): int(t["bits"]) for t in (entry or {}).get("tensors", [])}
    except (KeyError, TypeError, ValueError):
        return  # an entry this version cannot read says nothing
    for line in unpacked_marks(graph, marks):
        print(f"tinyml: warning: {line}", file=sys.stderr)


def target(board: str | Board, emulate: bool = False) -> Board:
    """A board by name (case-insensitive, aliases too), or as given; `emulate` swaps in its emulated twin."""
    from tinyml.target.boards import Board, emulation_board, load_board

    b = board if isinstance(board, Board) else load_board(board)
    return emulation_board(b) if emulate else b


def backend_for(board: Board, options: CompileOptions) -> Backend:
    """The kernel backend the options ask for on this board."""
    from tinyml.kernels.backends import select_backend

    return select_backend(board, options.kernels, options.cmsis_nn, options.cmsis, options.verbose)


def plan_target(board: Board) -> PlanTarget:
    """What the planner must know of `board`: its core (kernels are priced in its cycles) and the RAM a plan must
    fit, with the stack and the runtime's statics counted as the report counts them. The host has no limit."""
    from tinyml.kernels.costs import core_name
    from tinyml.measure.report.data import RUNTIME_PER_LAYER_BYTES, RUNTIME_STATIC_BYTES, board_ram_bytes
    from tinyml.plan import PlanTarget
    from tinyml.target.firmware import DEFAULT_STACK_SIZE

    if board.kind != "mcu":
        return PlanTarget(core_name(board))
    reserved = DEFAULT_STACK_SIZE + RUNTIME_STATIC_BYTES
    return PlanTarget(core_name(board), board_ram_bytes(board), reserved, RUNTIME_PER_LAYER_BYTES)


def plan(graph: Graph, board: Board, backend: Backend, options: PlanOptions | None = None) -> Planned:
    """Planning: each op's kernel, a patch stage where one is needed, and every buffer's place in the arena.

    By default the fastest plan on the board's core that fits its RAM (or `options.sram_budget`); see PlanOptions.
    """
    from tinyml.plan import plan_model

    return plan_model(graph, backend, options, plan_target(board))


def smallest_peak(compiled: Compiled) -> int:
    """The smallest peak SRAM `--prefer memory` reaches for this model, board and options (planned again unless
    planning already worked it out)."""
    from dataclasses import replace

    planned = compiled.planned
    if planned.smallest_peak is not None:
        return planned.smallest_peak
    options = replace(compiled.options.plan, prefer="memory")
    graph = compiled.planned.unpatched.graph if compiled.planned.unpatched else compiled.graph
    return plan(graph, compiled.board, compiled.backend, options).peak


def render(planned: Planned, board: Board, backend: Backend) -> ModelCode:
    """Code generation, in memory: model.h/model.c and the board's application files."""
    from tinyml.codegen import render_model

    return render_model(planned.graph, planned.plan, board, backend)


def compile_model(model: str | Path, board: str | Board, options: CompileOptions | None = None) -> Compiled:
    """Every stage up to the generated code: load, optimise, choose kernels, plan, render."""
    options = options or CompileOptions()
    b = target(board, options.emulate)
    path, quantized = int8_model(model, options.calib, options.quant, progress=options.progress)
    graph = load(path)
    backend = backend_for(b, options)
    planned = plan(graph, b, backend, options.plan)
    return Compiled(path, b, backend, planned, render(planned, b, backend), options, quantized)


# --- building ---------------------------------------------------------------------------------------------------


def build(compiled: Compiled, out_dir: str | Path | None = None, force: bool = False) -> Path:
    """The built program (firmware.elf, or the host's app): into `out_dir`, or from/into the build cache.

    An output directory is written and built beside itself and replaces `out_dir` only when everything
    succeeded, and only if `out_dir` holds nothing but tinyml's own unchanged output (or `force`).
    """
    if out_dir is None:
        from tinyml.resources import cache_lock

        where = cache_dir(compiled)
        program = where / compiled.program_name
        with cache_lock(where):
            if not program.is_file():
                _build_into(where, compiled, force=True, quiet=True)
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


def run(
    compiled: Compiled,
    inputs: list[bytes],
    *,
    port: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[bytes]:
    """One inference per input, on the host, under the board's emulator, or on the board at `port` (flashed with
    this model already); each output as raw bytes. `progress(n)` hears of every n inferences done."""
    from tinyml.measure.session import infer_all, session
    from tinyml.target.build import run_host

    if port is None:
        require_emulated(compiled.board, "running")
    program = build(compiled)
    if compiled.board.kind == "host":
        size = sum(t.nbytes for t in compiled.graph.outputs)
        step = max(1, len(inputs) if progress is None else 64)  # the host program streams; chunks show progress
        outputs: list[bytes] = []
        for start in range(0, len(inputs), step):
            chunk = inputs[start : start + step]
            out = run_host(program, b"".join(chunk))
            outputs += [out[i : i + size] for i in range(0, len(out), size)]
            if progress is not None:
                progress(len(chunk))
        return outputs
    with session(compiled.board, program, compiled.graph, port=port) as client:
        results = []
        for data in inputs:
            results += infer_all(client, [data])
            if progress is not None:
                progress(1)
        return [r.output for r in results]


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
    """TFLite Micro's outputs for the same inputs, streamed through one interpreter as the device streams them (a
    stateful model's state carries from each to the next): the oracle every device result is held to."""
    from tinyml.reference.tflm import tflm_stream

    inferences = [tensors_of(compiled.graph.inputs, data) for data in inputs]
    return [b"".join(o.tobytes() for o in outs) for outs in tflm_stream(compiled.model, inferences)]


# --- measuring ----------------------------------------------------------------------------------------------------


def evaluate(
    compiled: Compiled,
    data: str | Path,
    *,
    float_model: str | Path | None = None,
    limit: int | None = None,
    port: str | None = None,
    progress: bool = True,
) -> EvalResult:
    """Top-1 accuracy of the compiled model on labelled data, measured by running it where `run` runs it (the
    host, an emulated board, or the board at `port`); with `float_model`, that model's accuracy on the host too,
    and how often the two agree. Images are scaled by the compile options' input range."""
    from tinyml.measure.eval import evaluate as measure

    def runner(inputs: list[bytes], tick: Callable[[int], None]) -> list[bytes]:
        return run(compiled, inputs, port=port, progress=tick)

    where = f"{compiled.board.name} at {port}" if port else compiled.board.name
    return measure(
        compiled.graph,
        data,
        runner,
        where=where,
        model=compiled.quantized.source if compiled.quantized else compiled.model,
        int8_file=compiled.model,
        float_model=float_model,
        limit=limit,
        quant=compiled.options.quant,
        progress=progress,
    )


def ram_needed(compiled: Compiled) -> int:
    """RAM the firmware needs, as the planner counts it: arena, I/O buffers and state outside it, and on a board the
    stack and the runtime's statics (estimated; the report uses a built image's figure when there is one)."""
    plan = compiled.plan
    external = plan.outside_bytes
    return plan_target(compiled.board).ram_bytes_of(plan.peak, external, len(compiled.graph.ops))


def report(
    compiled: Compiled,
    *,
    flash_budget: int | None = None,
    measured: BuiltSize | None = None,
) -> dict[str, Any]:
    """The memory and compute report as data (what `tinyml report --json` prints).

    The SRAM budget is the one the model was planned for (`PlanOptions.sram_budget`, else the board's RAM). Code
    size and runtime RAM come from `measured` (or an image already in the build cache) when there is one, and are
    estimated otherwise. Latency is the cost model's estimate on the board's core.
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
        sram_budget=compiled.options.plan.sram_budget,
        flash_budget=flash_budget,
        prefer=compiled.options.plan.prefer,
        smallest_peak=smallest_peak(compiled),
    )
