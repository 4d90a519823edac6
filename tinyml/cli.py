"""Command line: composes the pipeline stages; decides nothing itself.

Every user-caused failure is a TinymlError, printed as one line naming the
problem and the fix, with the error's own exit status and no traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tinyml import __version__
from tinyml.errors import BudgetExceededError, InputDataError, MismatchError, SerialError, TinymlError, UsageError

if TYPE_CHECKING:
    from tinyml.codegen.render import ModelCode
    from tinyml.ir.graph import Graph
    from tinyml.plan import MemoryPlan, Planned
    from tinyml.plan.patches import PatchConfig
    from tinyml.target.boards import Board

INTERNAL_ERROR = 70


@dataclass
class Compiled:
    """The shared front half of every command: board, graph, plan and rendered code."""

    board: Board
    graph: Graph
    plan: MemoryPlan
    code: ModelCode
    model: str
    planned: Planned


def _pipeline(args: argparse.Namespace, emulate: bool = False) -> Compiled:
    """Front end, optimiser, kernel backend, planner, codegen: the stages every command shares."""
    from tinyml.codegen.render import render_model
    from tinyml.frontend.tflite import load_model
    from tinyml.kernels.backends import select_backend
    from tinyml.passes import optimize
    from tinyml.plan import PlanOptions, plan_model
    from tinyml.target.boards import emulation_board, load_board

    board = load_board(args.board)
    if emulate:
        board = emulation_board(board)
    graph = optimize(load_model(args.model))
    backend = select_backend(board, args.kernels, args.cmsis_nn, args.cmsis)
    options = PlanOptions(
        in_place=args.in_place,
        io_external=args.io == "external",
        patches=_patch_option(args.patches),
        max_mac_overhead=args.max_mac_overhead,
        prefer=args.prefer,
    )
    planned = plan_model(graph, backend, options)
    code = render_model(planned.graph, planned.plan, board, backend)
    return Compiled(board, planned.graph, planned.plan, code, args.model, planned)


def _patch_option(text: str) -> PatchConfig | str:
    """`auto`, `off`, or ROWSxCOLS@OPS (e.g. 4x4@3: a 4x4 grid over the first 3 ops)."""
    from tinyml.plan.patches import PatchConfig

    if text in ("auto", "off"):
        return text
    match = re.fullmatch(r"(\d+)x(\d+)@(\d+)", text)
    if match is None or min(int(g) for g in match.groups()) < 1:
        raise UsageError(f"--patches {text!r} is not auto, off or ROWSxCOLS@OPS", "e.g. --patches 4x4@3")
    rows, cols, split = (int(g) for g in match.groups())
    return PatchConfig(split, rows, cols)


def _build_into(target: Path, c: Compiled, force: bool, quiet: bool = False) -> Path:
    """Write and build the project in a staging directory that becomes `target` only on success, and only
    if `target` holds nothing but tinyml's own unchanged output (or `force`): see tinyml.codegen.staging."""
    from tinyml.codegen.project import write_project
    from tinyml.codegen.staging import staged_dir
    from tinyml.target.build import build

    info = {"tinyml": __version__, "model": c.graph.name, "sha256": c.graph.source_hash, "board": c.board.name}
    with staged_dir(target, force=force, quiet=quiet, info=info) as tmp:
        write_project(c.code, tmp)
        name = build(tmp, c.board, c.code.backend.cmsis).name
    return target / name


def _cache_dir(c: Compiled) -> Path:
    """Where this exact project is built in the cache: keyed by every generated file, so any option that
    changes the code (kernels, in-place, patches, --io) gets its own build."""
    from tinyml.resources import cache_root
    from tinyml.target.build import source_fingerprint

    h = hashlib.sha256(f"{c.board.name}|{source_fingerprint()}".encode())
    cmsis = c.code.backend.cmsis
    if cmsis is not None:
        h.update(f"{cmsis.nn}|{cmsis.core}".encode())
    for name, text in sorted(c.code.files.items()):
        h.update(name.encode() + b"\0" + text.encode())
    return cache_root() / "builds" / h.hexdigest()[:20]


def _cached_build(c: Compiled) -> Path:
    """The built program for this model and board, from the cache or built now."""
    project = _cache_dir(c)
    program = project / ("firmware.elf" if c.board.kind == "mcu" else "app")
    if not program.is_file():
        _build_into(project, c, force=True, quiet=True)
    return program


def _print_firmware_size(c: Compiled, elf: Path) -> None:
    from tinyml.target.build import firmware_size

    size = firmware_size(elf, c.board)
    print(
        f"  flash        {size.flash_bytes:,} of {size.flash_capacity:,} bytes "
        f"({100 * size.flash_bytes / size.flash_capacity:.1f}%; weights and constants {c.code.const_bytes:,})"
    )
    print(
        f"  RAM          {size.ram_bytes:,} of {size.ram_capacity:,} bytes "
        f"({100 * size.ram_bytes / size.ram_capacity:.1f}%; model arena {c.plan.peak:,}, the rest stack and runtime)"
    )
    print(f"  kernels      {_kernel_mix(c)}")


def _kernel_mix(c: Compiled) -> str:
    """How many layers run whose kernels, and how many of them in place: what --prefer decided."""
    counts: dict[str, list[int]] = {}
    for layer, kernel in zip(c.code.layers, c.plan.kernels, strict=True):
        if layer.code:  # views run nothing
            n = counts.setdefault(kernel.library, [0, 0])
            n[0] += 1
            n[1] += layer.index in c.plan.in_place
    return ", ".join(f"{lib} {n}" + (f" ({ip} in place)" if ip else "") for lib, (n, ip) in counts.items())


def _read_inputs(path: Path, c: Compiled) -> list[bytes]:
    """Split a raw input file into one chunk per inference."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read input file {path}: {e.strerror}", "pass an existing raw tensor file") from None
    need = sum(t.nbytes for t in c.graph.inputs)
    if not data or len(data) % need:
        shapes = ", ".join(f"{t.dtype}{list(t.shape)}" for t in c.graph.inputs)
        raise InputDataError(
            f"{path} holds {len(data)} bytes; one inference needs {need} bytes ({shapes})",
            "write the input tensors as raw bytes in model order (numpy: array.astype(dtype).tofile(path))",
        )
    return [data[i : i + need] for i in range(0, len(data), need)]


def _write_output(path: Path, data: bytes) -> None:
    if path.exists():
        print(f"tinyml: overwriting {path}", file=sys.stderr)
    path.write_bytes(data)


def _require_emulated(c: Compiled, command: str) -> None:
    if c.board.kind == "mcu" and not c.board.raw.get("emulated"):
        raise UsageError(
            f"{command} needs an emulated board; {c.board.name} is hardware",
            "add --emulate, or use `tinyml deploy`/`tinyml bench --port` with the board attached",
        )


def cmd_compile(args: argparse.Namespace) -> int:
    out = Path(args.output)
    c = _pipeline(args)
    program = _build_into(out, c, args.force)
    print(f"compiled {c.graph.name} for {c.board.name} into {out}/")
    if c.board.kind == "mcu":
        print(f"  firmware     {program} (and firmware.bin, firmware.hex)")
        _print_firmware_size(c, program)
    else:
        print(f"  program      {program}")
        print(f"  arena        {c.plan.peak:,} bytes (peak SRAM: activations, inputs, outputs, scratch)")
        print(f"  flash consts {c.code.const_bytes:,} bytes (weights, biases, requantization)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from tinyml.measure.session import infer_all, session
    from tinyml.target.build import run_host

    c = _pipeline(args, args.emulate)
    _require_emulated(c, "run")
    inputs = _read_inputs(Path(args.input), c)
    program = _cached_build(c)
    if c.board.kind == "host":
        result = run_host(program, b"".join(inputs))
    else:
        with session(c.board, program, c.graph) as client:
            result = b"".join(r.output for r in infer_all(client, inputs))
    _write_output(Path(args.output), result)
    print(f"ran {c.graph.name} on {c.board.name}: {len(inputs)} inference(s), {len(result)} bytes to {args.output}")
    return 0


def _bench_inputs(args: argparse.Namespace, c: Compiled) -> list[bytes]:
    """--inputs DIR (every *.bin file, sorted), else seeded random tensors."""
    from tinyml.reference.inputs import random_inputs

    if args.inputs:
        folder = Path(args.inputs)
        files = sorted(folder.glob("*.bin")) if folder.is_dir() else []
        if not files:
            raise UsageError(f"no .bin input files in {folder}", "put one raw input tensor per .bin file there")
        chunks = [chunk for f in files for chunk in _read_inputs(f, c)]
        return chunks[: args.runs] if args.runs else chunks
    return [b"".join(x.tobytes() for x in random_inputs(Path(c.model), seed)) for seed in range(args.runs or 10)]


def _expected(c: Compiled, inputs: list[bytes]) -> list[bytes]:
    """TFLite Micro's outputs for the same inputs: the reference every device result is held to."""
    import numpy as np

    from tinyml.reference.tflm import tflm_outputs

    expected = []
    for data in inputs:
        tensors, pos = [], 0
        for t in c.graph.inputs:
            tensors.append(np.frombuffer(data[pos : pos + t.nbytes], dtype=t.dtype).reshape(t.shape))
            pos += t.nbytes
        expected.append(b"".join(o.tobytes() for o in tflm_outputs(Path(c.model), tensors)))
    return expected


def cmd_bench(args: argparse.Namespace) -> int:
    from tinyml.measure.benchmark import bench_report, format_bench
    from tinyml.measure.session import infer_all, session

    c = _pipeline(args, args.emulate)
    if args.port is None and args.emulator == "qemu":
        _require_emulated(c, "bench without --port")
    inputs = _bench_inputs(args, c)
    expected = _expected(c, inputs)
    program = _cached_build(c)
    with session(c.board, program, c.graph, port=args.port, emulator=args.emulator) as client:
        results = infer_all(client, inputs)
    report = bench_report(c.graph, c.board, results, expected, args.port)
    print(json.dumps(report, indent=2) if args.json else format_bench(report))
    if report["matched"] != report["runs"]:
        raise MismatchError(
            f"{report['runs'] - report['matched']} of {report['runs']} outputs differ from TFLite Micro",
            "this is a tinyml bug; please report it with the model and board",
        )
    return 0


def _serial_port(board: Board) -> str:
    """The first ST-LINK virtual COM port, for a board just flashed."""
    from serial.tools import list_ports

    for port in list_ports.comports():
        if port.vid == 0x0483:  # STMicroelectronics
            return str(port.device)
    raise SerialError(
        f"{board.name} was flashed, but no ST-LINK serial port is visible",
        f"pass its port with --port (e.g. {board.raw.get('flash', {}).get('serial_hint', '/dev/ttyACM0')})",
    )


def cmd_deploy(args: argparse.Namespace) -> int:
    from tinyml.measure.session import infer_all, session
    from tinyml.reference.inputs import random_inputs
    from tinyml.target.flash import choose_flasher, flash

    emulating = args.emulate or args.emulator == "renode"
    c = _pipeline(args, args.emulate and args.emulator == "qemu")
    hardware = c.board.kind == "mcu" and not c.board.raw.get("emulated") and not emulating
    if c.board.kind != "mcu":
        raise UsageError(f"deploy needs a microcontroller board, not {c.board.name}", "see `tinyml boards`")
    if hardware:
        choose_flasher(c.board, args.flasher)  # before building: say at once when no tool is installed
    program = _build_into(Path(args.output), c, args.force) if args.output else _cached_build(c)
    print(f"built {c.graph.name} for {c.board.name}: {program}")
    _print_firmware_size(c, program)
    if hardware:
        tool = flash(c.board, program.parent, args.flasher)
        port = args.port or _serial_port(c.board)
        with session(c.board, program, c.graph, port=port) as client:
            info = client.info
        assert info is not None
        print(f"flashed with {tool}; {info.board} answers on {port}: model {info.model_name}, {info.clock_hz:,} Hz")
        print(f"measure it: tinyml bench {args.model} --board {args.board} --port {port}")
        return 0
    x = random_inputs(Path(args.model), 0)
    data = b"".join(t.tobytes() for t in x)
    where = "Renode" if args.emulator == "renode" else "QEMU"
    with session(c.board, program, c.graph, emulator=args.emulator) as client:
        result = infer_all(client, [data])[0]
    expected = _expected(c, [data])[0]
    out = c.graph.outputs[0]
    values = list(memoryview(result.output).cast("b")) if out.dtype == "int8" else result.output.hex()
    print(f"ran on {c.board.name} under {where}: one inference on seeded random input")
    print(f"  output       {values}")
    print(f"  cycles       {result.total_cycles:,} at {c.board.raw['cpu']['clock_hz'] / 1e6:g} MHz")
    if args.emulator == "qemu":
        from tinyml.target.qemu import instructions_per_cycle

        print(f"  instructions {round(result.total_cycles * instructions_per_cycle(c.board)):,} (QEMU -icount)")
    same = result.output == expected
    print(f"  TFLite Micro {'identical output' if same else 'DIFFERENT output'}")
    if not same:
        raise MismatchError("the output differs from TFLite Micro", "this is a tinyml bug; please report it")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tinyml.target.boards import load_board
    from tinyml.target.platformio import export_platformio, platformio_facts

    platformio_facts(load_board(args.board))  # refuse emulated boards before compiling anything
    c = _pipeline(args)
    info = {"tinyml": __version__, "model": c.graph.name, "sha256": c.graph.source_hash, "board": c.board.name}
    export_platformio(c.code, Path(args.platformio), model_path=args.model, force=args.force, info=info)
    print(f"exported {c.graph.name} for {c.board.name} as a PlatformIO project in {args.platformio}/")
    print(f"  build and flash: cd {args.platformio} && pio run -t upload")
    print(f"  measure:         tinyml bench {args.model} --board {args.board} --port /dev/ttyACM0")
    return 0


def _cached_firmware(c: Compiled) -> tuple[Path, int, int] | None:
    """The firmware `run`/`bench`/`deploy` already built for this model and board: (ELF, flash, RAM), or None.

    Looks in the cache where `_cached_build` would build it (the key covers every generated file); never
    builds, so `report` stays fast. A missing readelf or an unreadable image just means no measurement.
    """
    import subprocess

    from tinyml.target.build import firmware_size

    if c.board.kind != "mcu":
        return None
    elf = _cache_dir(c) / "firmware.elf"
    try:
        if not elf.is_file():
            return None
        size = firmware_size(elf, c.board)
    except (TinymlError, subprocess.CalledProcessError, OSError):
        return None
    return elf, size.flash_bytes, size.ram_bytes


def _plot_path(text: str) -> Path:
    """--plot's file, checked before anything is compiled: .svg or .png, in a directory that exists."""
    from tinyml.measure.report import PLOT_FORMATS

    path = Path(text)
    if path.suffix.lower().lstrip(".") not in PLOT_FORMATS:
        raise UsageError(f"--plot {text}: unknown image type {path.suffix!r}", "name a .svg or .png file")
    if not path.parent.is_dir():
        raise UsageError(f"--plot {text}: no directory {path.parent}", "create it first, or plot elsewhere")
    if path.is_dir():
        raise UsageError(f"--plot {text} is a directory", "name a .svg or .png file")
    return path


def cmd_report(args: argparse.Namespace) -> int:
    from tinyml.measure import report as rep

    # every option is checked before compiling, so a typo fails at once with status 2
    sram_budget = rep.parse_size(args.sram_budget, "--sram-budget") if args.sram_budget is not None else None
    flash_budget = rep.parse_size(args.flash_budget, "--flash-budget") if args.flash_budget is not None else None
    max_growth = rep.parse_percent(args.max_growth, "--max-growth") if args.max_growth is not None else None
    if max_growth is not None and args.baseline is None:
        raise UsageError("--max-growth needs --baseline OLD.json", "save a baseline with `tinyml report --json`")
    baseline = rep.load_baseline(Path(args.baseline)) if args.baseline is not None else None
    plot = _plot_path(args.plot) if args.plot is not None else None

    c = _pipeline(args)
    elf, elf_flash, elf_ram = _cached_firmware(c) or (None, None, None)
    report = rep.build_report(
        c.planned,
        c.code,
        c.board,
        args.model,
        c.code.backend,
        elf=elf,
        elf_flash_bytes=elf_flash,
        elf_ram_bytes=elf_ram,
        sram_budget=sram_budget,
        flash_budget=flash_budget,
        prefer=args.prefer,
    )
    if baseline is not None:
        rep.compare(report, baseline, args.baseline, max_growth)
    if plot is not None:
        _write_output(plot, rep.plot_timeline(report, plot.suffix.lower().lstrip(".")))
    if args.json:
        print(json.dumps(report, indent=2))
    elif args.markdown:
        print(rep.format_markdown(report))
    elif args.github:
        print(rep.format_github(report))
    else:
        print(rep.format_text(report))
    if plot is not None:  # on stderr, so that stdout stays the report alone (--json, --markdown)
        print(f"tinyml: wrote the SRAM timeline to {plot}", file=sys.stderr)
    if report["failures"]:
        messages = "; ".join(f["message"] for f in report["failures"])
        raise BudgetExceededError(messages, rep.failure_fix(report))
    return 0


def cmd_packs(args: argparse.Namespace) -> int:
    from tinyml.target import packs

    if args.action == "install":
        done = packs.install_files([Path(f) for f in args.files]) if args.files else packs.install()
        for pack in done:
            print(f"{pack.label} {'is already installed in' if pack.already else 'installed:'} {pack.path}")
        return 0
    if args.files:
        raise UsageError("`tinyml packs list` takes no files", "to install pack files: tinyml packs install FILE.pack")
    found = packs.installed()
    for name, versions in found.items():
        for version, path in versions:
            print(f"{name:<9} {version:<10} {path}")
    if not any(found.values()):
        print(
            f"no CMSIS packs in {packs.packs_dir()}; `tinyml packs install` downloads them, "
            "`tinyml packs install FILE.pack ...` installs pack files"
        )
    paths, where = packs.find_cmsis(args.cmsis_nn, args.cmsis)
    print(f"in use: {where}" if paths else f"CMSIS-NN not available (looked for {where})")
    return 0


def cmd_boards(args: argparse.Namespace) -> int:
    from tinyml.target.boards import list_boards

    print(f"{'board':<16} {'core':<11} {'clock':>8} {'flash':>7} {'RAM':>7}  {'how':<9} description")
    for b in list_boards():
        if b.kind == "host":
            print(f"{b.name:<16} {'(host)':<11} {'':>8} {'':>7} {'':>7}  {'gcc':<9} {b.description}")
            continue
        mem = {m["kind"]: m["size"] for m in b.raw["memory"]}
        how = "QEMU" if b.raw.get("emulated") else "hardware"
        alias = f" (alias {', '.join(b.aliases)})" if b.aliases else ""
        print(
            f"{b.name:<16} {b.raw['cpu']['core']:<11} {b.raw['cpu']['clock_hz'] / 1e6:>5g} MHz "
            f"{mem['flash'] // 1024:>5}K {mem['ram'] // 1024:>5}K  {how:<9} {b.description}{alias}"
        )
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tinyml",
        description="Compile int8 TFLite models to plain C for microcontrollers, bit-exact with TFLite Micro.",
    )
    p.add_argument("--version", action="version", version=f"tinyml {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.set_defaults(func=func)
        return sp

    def model_and_board(sp: argparse.ArgumentParser, default: str | None = "host") -> None:
        sp.add_argument("model", metavar="MODEL", help="int8 .tflite model file")
        sp.add_argument("--board", default=default, required=default is None, help="target board (see `tinyml boards`)")

    def cmsis_paths(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--cmsis-nn", metavar="DIR", help="a CMSIS-NN tree (default: $CMSIS_NN_ROOT, then packs)")
        sp.add_argument("--cmsis", metavar="DIR", help="a CMSIS (CMSIS_6) tree (default: $CMSIS_ROOT, then packs)")

    def kernels(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--kernels",
            choices=["auto", "cmsis-nn", "portable"],
            default="auto",
            help="kernel backend (default auto: CMSIS-NN on Cortex-M boards when available)",
        )
        cmsis_paths(sp)
        sp.add_argument(
            "--prefer",
            choices=["balanced", "memory", "speed"],  # tinyml.plan.memory.PREFERENCES (imported lazily)
            default="balanced",
            help="balanced (default): the fastest kernels within 10%% of the smallest arena; "
            "memory: the smallest arena; speed: the fastest kernels even where they need more RAM",
        )
        sp.add_argument(
            "--no-in-place", dest="in_place", action="store_false", help="never let an op overwrite its input"
        )
        sp.add_argument(
            "--io",
            choices=["arena", "external"],
            default="arena",
            help="external: keep the model's inputs and outputs in their own buffers, outside the arena",
        )
        sp.add_argument(
            "--patches",
            default="auto",
            metavar="auto|off|RxC@N",
            help="patch-based inference for the first N ops over an RxC grid (default auto: the lowest peak)",
        )
        sp.add_argument(
            "--max-mac-overhead",
            type=float,
            default=1.2,
            metavar="X",
            help="auto patches may cost at most X times the MACs (recomputed halos; default 1.2)",
        )

    def emulate(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--emulate", action="store_true", help="run a hardware board's build on its closest emulated core"
        )

    sp = command("compile", cmd_compile, "generate the C project for a model and build it")
    model_and_board(sp)
    kernels(sp)
    sp.add_argument("-o", "--output", required=True, metavar="DIR", help="project directory to create")
    sp.add_argument("--force", action="store_true", help="replace DIR even if it holds files you added or edited")

    sp = command("run", cmd_run, "compile (cached by content) and run inferences on the host or an emulated board")
    model_and_board(sp)
    kernels(sp)
    emulate(sp)
    sp.add_argument("--input", required=True, metavar="IN.bin", help="raw input tensor bytes, inputs in model order")
    sp.add_argument("--output", required=True, metavar="OUT.bin", help="where to write the raw output tensor bytes")

    sp = command("bench", cmd_bench, "measure a model on a board over its serial port, checked against TFLite Micro")
    model_and_board(sp, default=None)
    kernels(sp)
    emulate(sp)
    sp.add_argument("--port", metavar="URL", help="pyserial URL of the board: /dev/ttyACM0, socket://HOST:PORT")
    sp.add_argument("--runs", type=int, default=0, metavar="N", help="inferences to run (default 10)")
    sp.add_argument("--inputs", metavar="DIR", help="raw input tensors, one per .bin file (default: seeded random)")
    sp.add_argument("--emulator", choices=["qemu", "renode"], default="qemu", help="emulator to start without --port")
    sp.add_argument("--json", action="store_true", help="print the results as JSON (schema tinyml.bench/1)")

    sp = command("deploy", cmd_deploy, "build, flash and check a board (or run on an emulator)")
    model_and_board(sp, default=None)
    kernels(sp)
    emulate(sp)
    sp.add_argument("--flasher", choices=["openocd", "st-flash", "pyocd"], help="flashing tool (default: installed)")
    sp.add_argument("--port", metavar="URL", help="the board's serial port (default: the ST-LINK's)")
    sp.add_argument("--emulator", choices=["qemu", "renode"], default="qemu", help="emulator for --emulate")
    sp.add_argument("-o", "--output", metavar="DIR", help="keep the firmware project in DIR")
    sp.add_argument("--force", action="store_true", help="replace DIR even if it holds files you added or edited")

    sp = command("export", cmd_export, "write a PlatformIO project for a hardware board")
    model_and_board(sp, default=None)
    kernels(sp)
    sp.add_argument("--platformio", required=True, metavar="DIR", help="PlatformIO project directory to create")
    sp.add_argument("--force", action="store_true", help="replace DIR even if it holds files you added or edited")

    sp = command("report", cmd_report, "memory and compute report and budget checks, before anything is built")
    model_and_board(sp)
    kernels(sp)
    fmt = sp.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the report as JSON (schema tinyml.report/2)")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown summary for a pull-request comment")
    fmt.add_argument("--github", action="store_true", help="print GitHub Actions workflow commands (::error/::notice)")
    sp.add_argument(
        "--sram-budget", metavar="SIZE", help="RAM the model may use: 300000, 256K, 1.5M (default: the board's)"
    )
    sp.add_argument("--flash-budget", metavar="SIZE", help="flash the model may use; default: the board's flash")
    sp.add_argument("--baseline", metavar="OLD.json", help="an earlier `report --json`: show the change of each figure")
    sp.add_argument(
        "--max-growth", metavar="PCT", help="fail (exit 3) when peak SRAM, flash or MACs grew more than PCT (5%%)"
    )
    sp.add_argument("--plot", metavar="FILE", help="draw the SRAM timeline per layer into FILE (.svg or .png)")

    sp = command(
        "packs", cmd_packs, "get the CMSIS-NN and CMSIS packs (install: download, or from .pack files), or list them"
    )
    sp.add_argument("action", choices=["install", "list"])
    sp.add_argument(
        "files", nargs="*", metavar="FILE.pack", help="install these pack files (no network) instead of downloading"
    )
    cmsis_paths(sp)

    command("boards", cmd_boards, "list the boards tinyml can target")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except TinymlError as e:
        fix = f" (fix: {e.fix})" if e.fix else ""
        print(f"tinyml: error: {e.message}{fix}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("tinyml: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tinyml report | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:  # a bug in tinyml, not the user's fault
        if os.environ.get("TINYML_DEBUG"):
            traceback.print_exc()
        print(
            f"tinyml: internal error: {type(e).__name__}: {e} "
            "(please report it with the model; set TINYML_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
