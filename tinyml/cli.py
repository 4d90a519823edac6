"""Command line: composes the pipeline stages; decides nothing itself.

Every user-caused failure is a TinymlError, printed as one line naming the
problem and the fix, with the error's own exit status and no traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from tinyml import __version__
from tinyml.errors import BudgetExceededError, InputDataError, MismatchError, SerialError, TinymlError, UsageError
from tinyml.quant.options import INPUT_RANGES

if TYPE_CHECKING:
    from tinyml.ir.graph import Graph, Tensor
    from tinyml.pipeline import Compiled, CompileOptions
    from tinyml.plan.patches import PatchConfig
    from tinyml.quant import QuantOptions
    from tinyml.quant.mixed import MixedOptions
    from tinyml.quant.options import QatOptions
    from tinyml.quant.ptq import Int8Model
    from tinyml.target.boards import Board

INTERNAL_ERROR = 70


def _compile_options(args: argparse.Namespace, emulate: bool = False) -> CompileOptions:
    """The shared compiler options of a command (target, kernels, memory planning) as the library takes them."""
    from tinyml.pipeline import CompileOptions
    from tinyml.plan import PlanOptions

    plan = PlanOptions(
        in_place=args.in_place,
        io_external=args.io == "external",
        patches=args.patches,
        max_mac_overhead=args.max_mac_overhead,
        prefer=args.prefer,
        sram_budget=args.sram_budget,
    )
    return CompileOptions(
        args.kernels,
        args.cmsis_nn,
        args.cmsis,
        plan,
        emulate,
        args.verbose,
        calib=args.calib,
        quant=_quant_options(args),
        progress=not args.quiet,
    )


def _quant_options(args: argparse.Namespace) -> QuantOptions:
    """How a float model is quantized (--calib-samples, --input-range, --float-io)."""
    from tinyml.quant import QuantOptions

    return QuantOptions(samples=args.calib_samples, input_range=args.input_range, float_io=args.float_io)


def _target(args: argparse.Namespace, emulate: bool = False) -> Board:
    """--board, or with `emulate` its emulated stand-in: looked at first, so a wrong board fails before compiling."""
    from tinyml import pipeline

    return pipeline.target(args.board, emulate)


def _compile(args: argparse.Namespace, board: Board, check_budget: bool = True) -> Compiled:
    """Compile for `board`. With --sram-budget, a plan that does not fit it stops here (status 3), before anything
    is built: the board's own RAM is checked when the firmware links."""
    from tinyml import pipeline

    c = pipeline.compile_model(args.model, board, _compile_options(args))
    _quantized_note(args, c.quantized)
    if check_budget and args.sram_budget is not None and pipeline.ram_needed(c) > args.sram_budget:
        from tinyml.measure.report import failure_fix

        report = pipeline.report(c)  # the report's own words: what needs the RAM, and where it peaks
        over = [f["message"] for f in report["failures"] if f["kind"] == "budget" and f["figure"] == "sram"]
        if over:
            raise BudgetExceededError(over[0], failure_fix(report))
    return c


def _quantized_note(args: argparse.Namespace, q: Int8Model | None) -> None:
    """Say on stderr which int8 model stands for a float one (or that --calib had nothing to do)."""
    if q is not None:
        n = q.metadata["calibration"]["samples"]
        how = "quantized earlier" if q.cached else f"quantized to int8 with {n} calibration samples"
        print(f"tinyml: {args.model} {how}: {q.path}", file=sys.stderr)
    elif args.calib is not None:
        print(f"tinyml: note: {args.model} is an int8 model already; --calib is not used", file=sys.stderr)


def _calib_args(args: argparse.Namespace) -> str:
    """The quantization options of this command line, for the next command it suggests."""
    if args.calib is None:
        return ""
    extra = f" --calib {args.calib}"
    if args.calib_samples != 200:
        extra += f" --calib-samples {args.calib_samples}"
    if args.input_range != "0..1":
        extra += f" --input-range={args.input_range}"
    return extra + (" --float-io" if args.float_io else "")


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


def _read_inputs(path: Path, graph: Graph, model: Path) -> list[bytes]:
    """Split a raw input file into one chunk per inference."""
    from tinyml import pipeline

    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read input file {path}: {e.strerror}", "pass an existing raw tensor file") from None
    try:
        return pipeline.split_inputs(graph, data, str(path))
    except InputDataError as e:
        raise InputDataError(
            e.message, f"write the input tensors as raw bytes in model order; `tinyml info {model}` shows how"
        ) from None


def _write_output(path: Path, data: bytes) -> None:
    """Write a result file whole or not at all (via a sibling temporary file), saying when it replaces one."""
    if path.exists():
        print(f"tinyml: overwriting {path}", file=sys.stderr)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException as e:  # a full disk or Ctrl-C: leave no partial file behind
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise UsageError(f"cannot write {path}: {e.strerror}", "write it somewhere else") from None
        raise


def cmd_compile(args: argparse.Namespace) -> int:
    from tinyml import pipeline

    out = args.output
    c = _compile(args, _target(args))
    program = pipeline.build(c, out, args.force)
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
    from tinyml import pipeline

    if args.output.resolve() == args.input.resolve():
        raise UsageError(f"--output {args.output} is the input file", "write the outputs to another file")
    if args.reference:
        path, quantized = pipeline.int8_model(args.model, args.calib, _quant_options(args), progress=not args.quiet)
        _quantized_note(args, quantized)
        graph = pipeline.load(path)
        inputs = _read_inputs(args.input, graph, args.model)
        outputs = pipeline.run_reference(graph, inputs)
        where = "tinyml's reference interpreter"
    else:
        board = _target(args, args.emulate)
        pipeline.require_emulated(board, "run")
        c = _compile(args, board)
        graph, where = c.graph, c.board.name
        inputs = _read_inputs(args.input, graph, args.model)
        outputs = pipeline.run(c, inputs)
    result = b"".join(outputs)
    _write_output(args.output, result)
    print(f"ran {graph.name} on {where}: {len(inputs)} inference(s), {len(result)} bytes to {args.output}")
    return 0


def _bench_inputs(args: argparse.Namespace, c: Compiled) -> list[bytes]:
    """--inputs DIR (every *.bin file, sorted; at most --runs of them), else --runs (10) seeded random tensors."""
    from tinyml.reference.inputs import random_inputs

    if args.inputs:
        chunks = [chunk for f in sorted(args.inputs.glob("*.bin")) for chunk in _read_inputs(f, c.graph, c.model)]
        if not chunks:
            raise UsageError(f"no .bin input files in {args.inputs}", "put one raw input tensor per .bin file there")
        return chunks[: args.runs]
    return [b"".join(x.tobytes() for x in random_inputs(c.model, seed)) for seed in range(args.runs or 10)]


def cmd_bench(args: argparse.Namespace) -> int:
    from tinyml import pipeline
    from tinyml.measure.benchmark import bench_report, format_bench
    from tinyml.measure.session import infer_all, session

    board = _target(args, args.emulate)
    if board.kind != "mcu":
        raise UsageError(
            f"bench measures a microcontroller over its serial port; {board.name} is not one",
            "run a model on this computer with `tinyml run`, or pick a board from `tinyml boards`",
        )
    if args.port is None and args.emulator == "qemu":
        pipeline.require_emulated(board, "bench without --port")
    c = _compile(args, board)
    inputs = _bench_inputs(args, c)
    expected = pipeline.tflm_expected(c, inputs)
    program = pipeline.build(c)
    with session(c.board, program, c.graph, port=args.port, emulator=args.emulator) as client:
        results = infer_all(client, inputs)
    report = bench_report(c.graph, c.board, results, expected, args.port, c.plan, _target(args))
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


def _output_lines(graph: Graph, data: bytes, limit: int = 16) -> list[str]:
    """Each output tensor decoded by its type and shape (a float model's outputs as numbers, not bytes),
    its first `limit` values: what a user compares with their own expectation."""
    from tinyml import pipeline

    lines = []
    for i, (t, values) in enumerate(zip(graph.outputs, pipeline.tensors_of(graph.outputs, data), strict=True)):
        flat = values.reshape(-1)
        shown = ", ".join(f"{v:.6g}" if flat.dtype.kind == "f" else str(int(v)) for v in flat[:limit])
        more = f", … {flat.size - limit} more" if flat.size > limit else ""
        label = "output" if len(graph.outputs) == 1 else f"output {i}"
        lines.append(f"  {label:<12} {t.type}{list(t.shape)} [{shown}{more}]")
    return lines


def cmd_deploy(args: argparse.Namespace) -> int:
    from tinyml import pipeline
    from tinyml.measure.benchmark import bench_report, measured_lines
    from tinyml.measure.session import infer_all, session
    from tinyml.reference.inputs import random_inputs
    from tinyml.target.flash import choose_flasher, flash

    emulating = args.emulate or args.emulator == "renode"
    board = _target(args, args.emulate and args.emulator == "qemu")
    hardware = board.kind == "mcu" and not board.raw.get("emulated") and not emulating
    if board.kind != "mcu":
        raise UsageError(f"deploy needs a microcontroller board, not {board.name}", "see `tinyml boards`")
    if hardware:
        choose_flasher(board, args.flasher)  # before compiling: say at once when no tool is installed
    c = _compile(args, board)
    program = pipeline.build(c, args.output, args.force) if args.output else pipeline.build(c)
    print(f"built {c.graph.name} for {c.board.name}: {program}")
    _print_firmware_size(c, program)
    if hardware:
        tool = flash(c.board, program.parent, args.flasher)
        port = args.port or _serial_port(c.board)
        with session(c.board, program, c.graph, port=port) as client:
            info = client.info
        assert info is not None
        print(f"flashed with {tool}; {info.board} answers on {port}: model {info.model_name}, {info.clock_hz:,} Hz")
        print(f"measure it: tinyml bench {args.model} --board {args.board} --port {port}{_calib_args(args)}")
        return 0
    data = b"".join(t.tobytes() for t in random_inputs(c.model, 0))
    where = "Renode" if args.emulator == "renode" else "QEMU"
    with session(c.board, program, c.graph, emulator=args.emulator) as client:
        result = infer_all(client, [data])[0]
    expected = pipeline.tflm_expected(c, [data])[0]
    print(f"ran on {c.board.name} under {where}: one inference on seeded random input")
    for line in _output_lines(c.graph, result.output):
        print(line)
    port = None if args.emulator == "qemu" else args.emulator  # QEMU's counts are instructions (-icount)
    measured = bench_report(c.graph, c.board, [result], [expected], port, c.plan, _target(args))
    for line in measured_lines(measured):
        print(line)
    same = result.output == expected
    print(f"  TFLite Micro {'identical output' if same else 'DIFFERENT output'}")
    if not same:
        raise MismatchError("the output differs from TFLite Micro", "this is a tinyml bug; please report it")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tinyml import pipeline
    from tinyml.target.platformio import export_platformio, platformio_facts

    board = _target(args)
    platformio_facts(board)  # refuse emulated boards before compiling anything
    c = _compile(args, board)
    info = pipeline.project_info(c)
    model = str(c.model) if c.quantized else args.model  # the project's README benches the int8 file
    export_platformio(c.code, args.platformio, model_path=model, force=args.force, info=info)
    print(f"exported {c.graph.name} for {c.board.name} as a PlatformIO project in {args.platformio}/")
    print(f"  build and flash: cd {args.platformio} && pio run -t upload")
    print(f"  measure:         tinyml bench {args.model} --board {args.board} --port /dev/ttyACM0{_calib_args(args)}")
    return 0


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
    from tinyml import pipeline
    from tinyml.measure import report as rep

    # every option is checked before compiling, so a typo fails at once with status 2
    max_growth = rep.parse_percent(args.max_growth, "--max-growth") if args.max_growth is not None else None
    if max_growth is not None and args.baseline is None:
        raise UsageError("--max-growth needs --baseline OLD.json", "save a baseline with `tinyml report --json`")
    baseline = rep.load_baseline(Path(args.baseline)) if args.baseline is not None else None
    plot = _plot_path(args.plot) if args.plot is not None else None

    c = _compile(args, _target(args), check_budget=False)
    report = pipeline.report(c, flash_budget=args.flash_budget)
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


def cmd_quantize(args: argparse.Namespace) -> int:
    from tinyml import pipeline
    from tinyml.frontend.detect import FLOAT_KINDS

    given = [flag for flag, dest in _QAT_ONLY.items() if getattr(args, dest) is not None]
    if args.bits is not None and not args.qat and given == ["--bits"]:
        return _requantize(args)
    if args.output.resolve() == Path(args.model).resolve():
        raise UsageError(f"-o {args.output} is the float model itself", "write the int8 model to another file")
    if given and not args.qat:
        raise UsageError(
            f"{given[0]} is an option of quantization-aware training",
            f"add --qat to train the model (with --train DATA), or leave out {given[0]}",
        )
    mixed = _mixed_options(args)
    if mixed is not None:
        result = _quantize_mixed(args, mixed)
    elif args.qat:
        result = _train_quantized(args)
    else:
        if args.calib is None:
            raise UsageError(
                "quantizing a float model needs calibration data: --calib DATA",
                "add --calib DATA (an .npz of inputs, or a folder of images or of .bin tensors), "
                "or fine-tune it with --qat --train DATA",
            )
        result = pipeline.quantize(args.model, args.calib, _quant_options(args), progress=not args.quiet)
    _write_output(args.output, result.raw)
    meta, cal = result.metadata, result.metadata["calibration"]
    chosen = "a seeded choice" if cal["samples"] < cal["available"] else "all"
    scaled = f"; pixels scaled to {cal['input_range']}" if cal["input_range"] else ""
    if mixed is not None:
        _print_mixed(args, result)
    elif args.qat:
        qat, train = meta["qat"], meta["qat"]["training"]
        print(
            f"trained {args.model}, a {FLOAT_KINDS[result.kind]}, with fake quantization at {qat['options']['bits']} "
            f"and converted it with {meta['converter']}: {args.output}"
        )
        print(
            f"  training     {train['epochs']} epoch(s) over {train['samples']:,} samples from {train['file']} in "
            f"{train['seconds']:g} s; last epoch: loss {train['loss']:.4f}, accuracy {100 * train['accuracy']:.1f}%"
        )
        print(
            f"  ranges from  {cal['samples']:,} of {cal['available']:,} samples ({chosen}) from {cal['file']}{scaled}"
        )
        print(f"  layers       {', '.join(f'{name} {b}' for name, b in qat['layers'].items())}")
    if mixed is not None or not args.qat:
        if mixed is None:
            print(
                f"quantized {args.model}, a {FLOAT_KINDS[result.kind]}, to int8 with {meta['converter']}: {args.output}"
            )
        print(
            f"  calibration  {cal['samples']:,} of {cal['available']:,} samples ({chosen}) from {cal['file']}{scaled}"
        )
    info = model_info(args.output)
    for label, tensors in (("input", info["inputs"]), ("output", info["outputs"])):
        for i, t in enumerate(tensors):
            name = label if len(tensors) == 1 else f"{label} {i}"
            q = t["quantization"]
            quant = f"scale {_f32(q['scale'])}, zero point {q['zero_point']}" if q and "scale" in q else "float"
            print(f"  {name:<12} {t['dtype']}{t['shape']}, {quant}")
    counts: dict[int, int] = {}
    for t in meta["tensors"]:
        counts[t["bits"]] = counts.get(t["bits"], 0) + 1
    held = ", ".join(f"{n} at {b} bits" for b, n in sorted(counts.items(), reverse=True))
    print(
        f"  size         {args.output.stat().st_size:,} bytes; quantized tensors: {held}, recorded in its "
        '"tinyml" metadata entry'
    )
    if mixed is not None:
        budgets = "".join(
            f" --{which}-budget {value}"
            for which, value in (("sram", args.sram_budget), ("flash", args.flash_budget))
            if value is not None
        )
        print(f"next: tinyml report {args.output} --board {args.board}{budgets}")
    else:
        print(f"next: tinyml compile {args.output} --board BOARD -o DIR")
    return 0


def _requantize(args: argparse.Namespace) -> int:
    """`quantize MODEL_int8.tflite --bits w4a8`: the int8 model's weights requantized to 4 bits, in every layer that
    takes them, or with --board in the layers Rusci's rule picks to fit the board's flash (or the budgets)."""
    from tinyml.quant.mixed import MixedOptions
    from tinyml.quant.requant import choose_layers, read_int8, requantize

    path = Path(args.model)
    raw = read_int8(path)
    if args.output.resolve() == path.resolve():
        raise UsageError(f"-o {args.output} is the int8 model itself", "write the 4-bit model to another file")
    if args.bits != (4, 8):
        raise UsageError(
            f"--bits w{args.bits[0]}a{args.bits[1]} without --qat: an int8 model's weights can only be requantized "
            "to 4 bits, with its activations kept (w4a8)",
            "use --bits w4a8, or train the float model at other bits: --qat --train DATA --bits ...",
        )
    given = [flag for flag, dest in _MIXED.items() if getattr(args, dest) is not None]
    if given and args.board is None:
        raise UsageError(
            f"{given[0]} chooses which layers get 4-bit weights to fit a board, so it needs --board",
            f"add --board BOARD (`tinyml boards` lists them), or leave out {given[0]}",
        )
    if args.mixed == "sensitivity":
        raise UsageError(
            "--mixed sensitivity measures each layer against the float model, which an int8 model no longer has",
            "leave out --mixed (an int8 model's layers are chosen by Rusci's rule, --mixed rusci)",
        )
    if args.calib is not None:
        print(
            f"tinyml: note: {args.model} is an int8 model; requantizing its weights needs no --calib", file=sys.stderr
        )
    chosen = None
    if args.board is not None:
        from tinyml import pipeline

        pipeline.target(args.board)  # an unknown board fails before anything is planned
        mixed = MixedOptions(
            board=args.board,
            rule="rusci",
            sram_budget=args.sram_budget,
            flash_budget=args.flash_budget,
            kernels=args.kernels or "auto",
        )
        chosen = choose_layers(raw, path, mixed)
        result = requantize(raw, path, only=chosen.ops, extra={"mixed": chosen.entry})
    else:
        result = requantize(raw, path)
    _write_output(args.output, result.raw)
    layers = result.layers
    done = [x for x in layers if x.op in result.converted]
    print(f"requantized the weights of {args.model}, an int8 TFLite model, to 4 bits (w4a8): {args.output}")
    kinds: dict[str, int] = {}
    for x in done:
        label = f"{x.type} per {'channel' if x.per_channel else 'tensor'}"
        kinds[label] = kinds.get(label, 0) + 1
    print(
        f"  layers       {len(done)} of {len(layers)} at 4 bits"
        + (f": {', '.join(f'{k} x{n}' for k, n in kinds.items())}" if kinds else "")
    )
    reasons = chosen.entry["layers"] if chosen is not None else {}
    for x in layers:
        if x not in done:
            why = x.why or reasons[x.name]["why"]["weights"].removeprefix("8 bits: ")
            print(f"  kept 8 bits  op {x.op} {x.type} ({x.name}): {why}")
    before = sum(x.int8_bytes for x in layers)
    after = sum(x.int4_bytes if x in done else x.int8_bytes for x in layers)
    errors = [result.error[x.op] for x in done]
    error = (
        f"; error of the 4-bit weights {min(errors):.2f} to {max(errors):.2f} int8 steps (RMS per layer)"
        if errors
        else ""
    )
    print(f"  weights      {before:,} -> {after:,} bytes ({after / before:.2f}x){error}")
    if chosen is not None:
        _print_budgets_and_memory(chosen.entry, "; Rusci's rule, weights only")
    print(f'  size         {args.output.stat().st_size:,} bytes; recorded in its "tinyml" metadata entry')
    board = args.board or "BOARD"
    print(f"next: tinyml compile {args.output} --board {board} -o DIR")
    return 0


def _print_budgets_and_memory(m: dict[str, Any], how: str = "") -> None:
    """A mixed-precision metadata entry's budgets, and the model's memory at 8 bits and as chosen."""
    limits = []
    for which, label in (("sram", "SRAM"), ("flash", "flash")):
        b = m["budgets"][which]
        if b is not None:
            source = f"--{which}-budget" if b["source"] == "option" else f"{m['board']}'s"
            limits.append(f"{label} {b['limit_bytes']:,} bytes ({source})")
    print(f"  budgets      {', '.join(limits) or 'none'}; kernels {m['kernels']}{how}")
    for label, figures in (("at 8 bits", m["int8"]), ("chosen", m["chosen"])):
        print(
            f"  {label:<12} SRAM {figures['sram_bytes']:,} bytes, flash {figures['flash_bytes']:,} bytes "
            f"(weights {figures['weights_bytes']:,})"
        )


#: the options that ask for mixed precision, and their argparse names (--board turns it on)
_MIXED = {"--sram-budget": "sram_budget", "--flash-budget": "flash_budget", "--mixed": "mixed", "--kernels": "kernels"}


def _mixed_options(args: argparse.Namespace) -> MixedOptions | None:
    """`quantize --board B [--sram-budget S] [--flash-budget F] [--mixed RULE] [--kernels K]`: what mixed
    precision aims for; None without --board (the other options alone are refused: they need a board)."""
    from tinyml.quant.mixed import MixedOptions

    given = [flag for flag, dest in _MIXED.items() if getattr(args, dest) is not None]
    if args.board is None:
        if given:
            raise UsageError(
                f"{given[0]} chooses bits per layer to fit a board, so it needs --board",
                f"add --board BOARD (`tinyml boards` lists them), or leave out {given[0]}",
            )
        return None
    if args.bits is not None:
        raise UsageError(
            "--bits gives every layer the same bits, while --board chooses bits per layer to fit the board",
            "leave out --bits (mixed precision), or --board and the budgets (the same bits everywhere)",
        )
    if args.qat and args.train is None:
        raise UsageError(
            "--qat fine-tunes the model at the chosen bits, so it needs labelled training data: --train DATA",
            "add --train DATA: a folder with one sub-folder of images per class, or an .npz with x and y",
        )
    if args.calib is None and not args.qat:
        raise UsageError(
            "mixed precision needs calibration data: --calib DATA",
            "add --calib DATA (an .npz of inputs, or a folder of images or of .bin tensors)",
        )
    from tinyml import pipeline

    pipeline.target(args.board)  # an unknown board fails before TensorFlow loads
    return MixedOptions(
        board=args.board,
        rule=args.mixed or "sensitivity",
        sram_budget=args.sram_budget,
        flash_budget=args.flash_budget,
        kernels=args.kernels or "auto",
    )


def _quantize_mixed(args: argparse.Namespace, mixed: MixedOptions) -> Int8Model:
    """`quantize --board`: bits per layer chosen, the model calibrated (or fine-tuned with --qat) and converted."""
    from tinyml import pipeline

    qat = _qat_options(args) if args.qat else None
    return pipeline.quantize_mixed(
        args.model,
        mixed,
        _quant_options(args),
        calib=args.calib,
        train=args.train if args.qat else None,
        qat=qat,
        progress=not args.quiet,
    )


def _print_mixed(args: argparse.Namespace, result: Int8Model) -> None:
    """What mixed precision chose: the budgets, the memory at 8 bits and as chosen, and each layer's bits, the
    memory its cuts saved and why."""
    from tinyml.frontend.detect import FLOAT_KINDS

    meta = result.metadata
    m = meta["mixed"]
    how = "fine-tuned at those bits" if "qat" in meta else "calibrated"
    print(
        f"quantized {args.model}, a {FLOAT_KINDS[result.kind]}, with bits per layer chosen for {m['board']} "
        f"({m['rule']} rule), {how}, converted with {meta['converter']}: {args.output}"
    )
    _print_budgets_and_memory(m)
    if m["sensitivity"] is not None:
        s = m["sensitivity"]
        print(
            f"  sensitivity  {m['cost']:.4g} in total ({s['metric']} against the float model, {s['samples']} samples)"
        )
    layers = sorted(m["layers"].items(), key=lambda item: item[1]["op"])  # in graph order
    print(f"  {'layer':<12} {'bits':<6} {'SRAM saved':>10} {'flash saved':>11}")
    for name, layer in layers:
        bits = f"w{layer['weights']}a{layer['activations']}"
        saved = layer["saved"]
        print(f"  {name:<12} {bits:<6} {saved['sram_bytes']:>10,} {saved['flash_bytes']:>11,}")
    for name, layer in layers:
        for kind, why in layer["why"].items():
            if layer[kind] < 8:
                print(f"  why          {name} {kind} at {layer[kind]} bits: {why}")
    if "qat" in meta:
        train = meta["qat"]["training"]
        print(
            f"  training     {train['epochs']} epoch(s) over {train['samples']:,} samples from {train['file']} in "
            f"{train['seconds']:g} s; last epoch: loss {train['loss']:.4f}, accuracy {100 * train['accuracy']:.1f}%"
        )


#: the options only quantization-aware training takes, and their argparse names
_QAT_ONLY = {
    "--train": "train",
    "--epochs": "epochs",
    "--bits": "bits",
    "--batch-size": "batch_size",
    "--learning-rate": "learning_rate",
}


def _train_quantized(args: argparse.Namespace) -> Int8Model:
    """`quantize --qat`: its options checked, the model trained and converted."""
    from tinyml import pipeline

    if args.train is None:
        raise UsageError(
            "--qat fine-tunes the model, so it needs labelled training data: --train DATA",
            "add --train DATA: a folder with one sub-folder of images per class, or an .npz with x and y",
        )
    return pipeline.train_quantized(
        args.model, args.train, _qat_options(args), _quant_options(args), calib=args.calib, progress=not args.quiet
    )


def _qat_options(args: argparse.Namespace) -> QatOptions:
    """--epochs, --batch-size, --learning-rate and --bits, their defaults where not given."""
    from tinyml.quant.options import QatOptions

    defaults = QatOptions()
    return QatOptions(
        epochs=args.epochs or defaults.epochs,
        batch_size=args.batch_size or defaults.batch_size,
        learning_rate=args.learning_rate or defaults.learning_rate,
        bits=args.bits or defaults.bits,
    )


def cmd_eval(args: argparse.Namespace) -> int:
    from tinyml import pipeline
    from tinyml.measure.eval import format_eval

    board = _target(args, args.emulate)
    if args.port is None:
        pipeline.require_emulated(board, "eval without --port")
    elif board.kind == "host":
        raise UsageError("--port names a board's serial port; the host needs none", "leave out --port")
    c = _compile(args, board)
    result = pipeline.evaluate(
        c, args.data, float_model=args.float, limit=args.limit, port=args.port, progress=not args.quiet
    )
    print(json.dumps(result.as_json(), indent=2) if args.json else format_eval(result))
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


def cmd_ops(args: argparse.Namespace) -> int:
    from tinyml.kernels.catalog import as_json, as_markdown, as_text, catalog

    entries = catalog()
    if args.json:
        print(json.dumps(as_json(entries), indent=2))
    else:
        print(as_markdown(entries) if args.markdown else as_text(entries), end="")
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


def _quant_info(t: Tensor) -> dict[str, Any] | None:
    """A tensor's quantization as users need it: real = scale * (q - zero_point)."""
    q = t.quant
    if q is None:
        return None
    if q.per_channel:
        return {"scales": list(q.scales), "zero_points": list(q.zero_points), "axis": q.axis}
    return {"scale": q.scale, "zero_point": q.zero_point}


def model_info(path: Path) -> dict[str, Any]:
    """What `tinyml info --json` prints (schema tinyml.info/1): the model's interface and its ops, as in the file.

    Read with the front end only, so it works on models tinyml cannot compile (unsupported ops) and fails on
    unreadable files with the front end's own errors.
    """
    from collections import Counter

    from tinyml.frontend.tflite import load_model

    graph = load_model(path)

    def tensors(ts: list[Tensor]) -> list[dict[str, Any]]:
        return [
            {
                "name": t.name,
                "shape": list(t.shape),
                "dtype": t.type.name,
                "bytes": t.nbytes,
                "quantization": _quant_info(t),
            }
            for t in ts
        ]

    return {
        "schema": "tinyml.info/1",
        "model": {"name": graph.name, "file": str(path), "bytes": path.stat().st_size, "sha256": graph.source_hash},
        "inputs": tensors(graph.inputs),
        "outputs": tensors(graph.outputs),
        "bytes_per_inference": {
            "inputs": sum(t.nbytes for t in graph.inputs),
            "outputs": sum(t.nbytes for t in graph.outputs),
        },
        "op_counts": dict(Counter(op.type for op in graph.ops).most_common()),
        "ops": [
            {
                "index": op.index,
                "type": op.type,
                "output": op.outputs[0].name,
                "shape": list(op.outputs[0].shape),
                "dtype": op.outputs[0].type.name,
            }
            for op in graph.ops
        ],
    }


def _f32(value: float) -> str:
    """A float32 scale in its shortest exact form (0.5847029, not 0.5847029089927673)."""
    import numpy as np

    return str(np.float32(value))


def _tensor_line(i: int, t: dict[str, Any]) -> str:
    q = t["quantization"]
    if q is None:
        quant = "not quantized"
    elif "scale" in q:
        quant = f"scale {_f32(q['scale'])}, zero point {q['zero_point']}"
    else:
        quant = f"per-channel on axis {q['axis']} ({len(q['scales'])} scales)"
    kind = f"{t['dtype']}{t['shape']}"
    return f"  {i:>2}  {t['name'][:32]:<32} {kind:<20} {t['bytes']:>8,} bytes  {quant}"


def _numpy_recipe(info: dict[str, Any]) -> list[str]:
    """How to write an input file for `run --input`, and read `run --output`'s file, with numpy, for this model.

    Quantizes as TFLite does: round(x / scale) + zero_point in float32, clipped to the type's range.
    """
    import numpy as np

    from tinyml.ir.types import TYPES

    inputs, outputs = info["inputs"], info["outputs"]
    one = len(inputs) == 1
    lines = [
        f"input file for `tinyml run --input`: {info['bytes_per_inference']['inputs']:,} bytes per inference,",
        "each input's raw bytes in the order above, inferences back to back; with numpy:",
        "  import numpy as np",
    ]
    for i, t in enumerate(inputs):
        x, q = ("x", "q") if one else (f"x{i}", f"q{i}")
        dtype, quant = t["dtype"], t["quantization"]
        lines.append(f"  {x} = ...  # your data: an array of shape {tuple(t['shape'])}")
        etype = TYPES.get(dtype)
        if quant is not None and "scale" in quant and etype is not None and etype.is_int and not etype.sub_byte:
            limits = etype
            zp = quant["zero_point"]
            shift = f" + {zp}" if zp > 0 else f" - {-zp}" if zp < 0 else ""
            scaled = f"np.round(np.float32({x}) / np.float32({_f32(quant['scale'])})){shift}"
            lines.append(f"  {q} = np.clip({scaled}, {limits.min}, {limits.max}).astype(np.{dtype})")
        else:
            lines.append(f"  {q} = np.asarray({x}, np.{dtype})")
    if one:
        lines.append('  q.tofile("in.bin")')
    else:
        lines.append('  with open("in.bin", "wb") as f:')
        lines.extend(f"      q{i}.tofile(f)" for i in range(len(inputs)))
    lines += [
        f"output file of `tinyml run --output`: {info['bytes_per_inference']['outputs']:,} bytes per inference,",
        "each output's raw bytes in the order above; with numpy:",
    ]
    if len(outputs) == 1:
        t = outputs[0]
        lines.append(f'  y = np.fromfile("out.bin", np.{t["dtype"]}).reshape(-1, {", ".join(map(str, t["shape"]))})')
        quant = t["quantization"]
        if quant is not None and "scale" in quant:
            zp = quant["zero_point"]
            shifted = f"(y.astype(np.float32) + {-zp})" if zp < 0 else f"(y.astype(np.float32) - {zp})"
            lines.append(f"  real = np.float32({_f32(quant['scale'])}) * {shifted if zp else 'y.astype(np.float32)'}")
    else:
        n = info["bytes_per_inference"]["outputs"]
        lines.append(f'  data = np.fromfile("out.bin", np.uint8)[:{n}]  # the first inference; the next starts at {n}')
        offset = 0
        for i, t in enumerate(outputs):
            count = int(np.prod(t["shape"], dtype=np.int64))
            lines.append(
                f"  y{i} = np.frombuffer(data, np.{t['dtype']}, count={count}, offset={offset})"
                f".reshape({', '.join(map(str, t['shape']))})"
            )
            offset += t["bytes"]
    return lines


def cmd_search(args: argparse.Namespace) -> int:
    from tinyml import pipeline
    from tinyml.nas.cost import Budgets
    from tinyml.nas.search import SearchOptions, run_search

    board = _target(args)
    if board.kind != "mcu":
        raise UsageError(f"the search fits a microcontroller's memory; {board.name} is not one", "see `tinyml boards`")
    capacity = {m["kind"]: int(m["size"]) for m in board.raw["memory"]}  # without a budget, the board's own
    budgets = Budgets(
        sram=args.sram_budget or capacity.get("ram"),
        flash=args.flash_budget or capacity.get("flash"),
        latency_ms=args.latency_budget,
    )
    options = SearchOptions(
        seed=args.seed,
        bits=args.bits,
        image_size=args.image_size,
        limit=args.limit,
        stage1_samples=args.stage1_samples,
        supernet_epochs=args.supernet_epochs,
        population=args.population,
        generations=args.generations,
        parents=min(args.parents, args.population),
        proxy=args.proxy,
        rank_check=args.rank_check,
        rank_epochs=args.rank_epochs,
        finalists=args.finalists,
        finalist_epochs=args.finalist_epochs,
        qat_epochs=args.qat_epochs,
        workers=args.workers,
        ray=args.ray,
        budget_hours=args.budget_hours,
    )
    result = run_search(args.data, board, budgets, args.output, options, progress=not args.quiet)
    best, out = result.best, result.out
    estimate = next((c.estimate for c in result.evolution.history if c.key == best.key), None)
    print(f"best model: {_describe_arch(best.arch)}")
    print(
        f"  top-1        {100 * best.accuracy:.1f}% as compiled, on {best.test_samples:,} held-out images "
        f"(float {100 * best.float_accuracy:.1f}%; supernet estimate {100 * (estimate or 0):.1f}%)"
    )
    print(f"  quantized    {best.quantization}")
    latency = f"{best.latency_ms:.1f} ms (cost model)" if best.latency_ms is not None else "unknown"
    print(
        f"  on {pipeline.target(args.board).name:<10}peak SRAM {best.peak_sram:,} B, RAM {best.ram:,} B, flash "
        f"{best.flash:,} B (weights {best.weights:,}), latency {latency}"
    )
    same = "identical output" if best.bit_exact else "DIFFERENT output"
    print(f"  TFLite Micro {same} on {best.checked} held-out images")
    for f in result.finalists:
        if f.key != best.key:
            print(f"  finalist     {100 * f.accuracy:.1f}% {f.quantization}, peak SRAM {f.peak_sram:,} B: {f.key}")
    print(
        f"wrote {out}/best.keras, best.tflite, pareto.json ({len(result.front)} models on the Pareto front), "
        f"pareto.png and search.log"
    )
    within = f" --sram-budget {args.sram_budget}" if args.sram_budget else ""
    print(f"next: tinyml deploy {out}/best.tflite --board {args.board}{within} --emulate")
    if not best.bit_exact:
        raise MismatchError(
            "the best model's output differs from TFLite Micro", "this is a tinyml bug; please report it"
        )
    if best.failures:
        raise BudgetExceededError(best.failures[0], "raise the budgets, or search again with --bits mixed")
    return 0


def _describe_arch(arch: dict[str, Any]) -> str:
    from tinyml.nas.space import Arch

    return Arch.from_dict(arch).describe()


def cmd_info(args: argparse.Namespace) -> int:
    info = model_info(Path(args.model))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    m = info["model"]
    print(f"{m['name']}: {m['file']}, {m['bytes']:,} bytes, sha256 {m['sha256'][:16]}…")
    print("inputs")
    for i, t in enumerate(info["inputs"]):
        print(_tensor_line(i, t))
    print("outputs")
    for i, t in enumerate(info["outputs"]):
        print(_tensor_line(i, t))
    counts = ", ".join(f"{op} {n}" for op, n in info["op_counts"].items())
    print(f"ops ({len(info['ops'])}): {counts}")
    for op in info["ops"]:
        print(f"  {op['index']:>3}  {op['type']:<24} -> {op['dtype']}{op['shape']}")
    for line in _numpy_recipe(info):
        print(line)
    return 0


# --- options: every value is checked while the command line is parsed, before any work starts ------------------


class _Parser(argparse.ArgumentParser):
    """argparse with tinyml's error form: one line naming the problem and the fix, exit status 2."""

    def error(self, message: str) -> NoReturn:
        fix = "" if "(fix: " in message else f" (fix: see `{self.prog} --help`)"
        self.exit(2, f"tinyml: error: {message}{fix}\n")


def _bad(problem: str, fix: str) -> argparse.ArgumentTypeError:
    """An option value argparse refuses; `_Parser.error` prints it after the option's name."""
    return argparse.ArgumentTypeError(f"{problem} (fix: {fix})")


def _positive_int(text: str) -> int:
    """A count (--runs): 0 and negatives mean nothing, so they are refused rather than replaced by a default."""
    try:
        value = int(text)
    except ValueError:
        raise _bad(f"{text!r} is not a whole number", "give a count of at least 1, e.g. 20") from None
    if value < 1:
        raise _bad(f"{text} is less than 1", "give a count of at least 1, e.g. 20")
    return value


def _positive_float(text: str) -> float:
    """A rate (--learning-rate): a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise _bad(f"{text!r} is not a number above 0", "give a positive number, e.g. 0.0001")
    return value


def _bits(text: str) -> tuple[int, int]:
    """--bits: 8, or wXaY (X-bit weights, Y-bit activations)."""
    from tinyml.quant.options import parse_bits

    try:
        return parse_bits(text)
    except ValueError as e:
        raise _bad(str(e), "for example --bits 8, --bits w4a8 or --bits w8a4") from None


def _mac_factor(text: str) -> float:
    """--max-mac-overhead: a factor of at least 1 (1.2 or 1.2x: up to 20% more MACs than without patches)."""
    try:
        value = float(text.strip().lower().removesuffix("x"))
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 1:
        raise _bad(f"{text!r} is not a factor of at least 1", "e.g. 1.2 (at most 20% more MACs); 1 allows none")
    return value


def _latency_ms(text: str) -> float:
    """--latency-budget: 50ms, 0.05s or 50 (milliseconds), above 0."""
    spec = text.strip().lower().replace(" ", "")
    scale = 1000.0 if spec.endswith("s") and not spec.endswith("ms") else 1.0
    try:
        value = float(spec.removesuffix("ms").removesuffix("s")) * scale
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise _bad(f"{text!r} is not a time", "give milliseconds or seconds: 50ms, 0.5s")
    return value


def _ray_address(text: str) -> str:
    """--ray: auto, HOST:PORT or ray://HOST:PORT."""
    from tinyml.nas.runner import parse_ray_address

    try:
        return parse_ray_address(text)
    except ValueError as e:
        raise _bad(str(e), "e.g. --ray auto, or --ray HEAD:6379 (the address `ray start --head` printed)") from None


def _whole(text: str) -> int:
    """--seed, --qat-epochs: a whole number, 0 allowed."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise _bad(f"{text!r} is not a whole number from 0", "give 0, 1, 2 ...")
    return value


def _size(option: str) -> Callable[[str], int]:
    """A memory size option's type (300000, 256K, 1.5M): checked while the command line is parsed."""

    def parse(text: str) -> int:
        from tinyml.measure.report import parse_size

        try:
            return parse_size(text, option)
        except UsageError as e:
            raise _bad(f"{text!r} is not a memory size", e.fix) from None

    return parse


def _patches(text: str) -> PatchConfig | str:
    """--patches: `auto`, `off`, or ROWSxCOLS@OPS (e.g. 4x4@3: a 4x4 grid over the first 3 ops)."""
    from tinyml.plan.patches import PatchConfig

    spec = text.strip().lower()
    if spec in ("auto", "off"):
        return spec
    match = re.fullmatch(r"(\d+)x(\d+)@(\d+)", spec)
    if match is None or min(int(g) for g in match.groups()) < 1:
        raise _bad(f"{text!r} is not auto, off or ROWSxCOLS@OPS", "e.g. --patches 4x4@3: a 4x4 grid over 3 ops")
    rows, cols, split = (int(g) for g in match.groups())
    return PatchConfig(split, rows, cols)


def _port(text: str) -> str:
    """--port: a device path or a pyserial URL. A socket:// or rfc2217:// URL's HOST:PORT is checked here:
    pyserial's own message for a malformed one is an internal comparison error."""
    if not text.strip():
        raise _bad("an empty port", "e.g. --port /dev/ttyACM0, or --port socket://127.0.0.1:4321 for an emulator")
    scheme, sep, rest = text.partition("://")
    if sep and scheme.lower() in ("socket", "rfc2217"):
        host, _, port = rest.split("/")[0].split("?")[0].rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise _bad(
                f"{text!r} is not {scheme}://HOST:PORT (port 1 to 65535)", f"e.g. --port {scheme}://127.0.0.1:4321"
            )
    return text


def _path_type(check: Callable[[Path], Path]) -> Callable[[str], Path]:
    """A path option's type: refuses an empty name, and turns any OS error while looking at it into a message."""

    @functools.wraps(check)
    def parse(text: str) -> Path:
        if not text.strip():
            raise _bad("an empty path", "name a file or directory")
        try:
            return check(Path(text))
        except OSError as e:
            raise _bad(f"cannot use {text}: {e.strerror}", "check the path") from None

    return parse


@_path_type
def _input_file(path: Path) -> Path:
    """An existing, readable file (--input)."""
    if path.is_dir():
        raise _bad(f"{path} is a directory", "name a file of raw input tensors; `tinyml info MODEL` says how")
    if not path.is_file():
        raise _bad(f"no file {path}", "check the path; `tinyml info MODEL` says how to write an input file")
    if not os.access(path, os.R_OK):
        raise _bad(f"cannot read {path} (permission denied)", "check the file's permissions")
    return path


@_path_type
def _input_dir(path: Path) -> Path:
    """An existing directory that holds .bin input files (--inputs)."""
    if not path.is_dir():
        problem = f"{path} is not a directory" if path.exists() else f"no directory {path}"
        raise _bad(problem, "name a directory of .bin files, one raw input tensor per file")
    if not any(p.is_file() for p in path.glob("*.bin")):
        raise _bad(f"no .bin files in {path}", "put one raw input tensor per .bin file there")
    return path


@_path_type
def _data_path(path: Path) -> Path:
    """--calib, --data: an existing file (.npz) or folder (images, .bin tensors); its content is checked later."""
    if not path.exists():
        raise _bad(
            f"no file or folder {path}",
            "pass an .npz of inputs, a folder of images (.jpg, .png, .bmp) or a folder of float32 .bin tensors",
        )
    return path


@_path_type
def _model_path(path: Path) -> Path:
    """--float: an existing model file or SavedModel directory."""
    if not path.exists():
        raise _bad(f"no file or folder {path}", "pass the float model: .keras, .h5, a SavedModel folder, .tflite")
    return path


@_path_type
def _source_dir(path: Path) -> Path:
    """An existing directory (--cmsis-nn, --cmsis); whether it holds the right tree is checked where it is used."""
    if not path.is_dir():
        problem = f"{path} is not a directory" if path.exists() else f"no directory {path}"
        raise _bad(problem, "name a checkout, or leave the option out to use the environment or installed packs")
    return path


def _writable_dir(folder: Path) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _bad(f"cannot write in {folder} (permission denied)", "choose a place you can write to")


@_path_type
def _output_file(path: Path) -> Path:
    """Where a result file goes (run --output): checked first, so a mistyped path does not waste the work."""
    if path.is_dir():
        raise _bad(f"{path} is a directory", "name a file in it, e.g. out.bin")
    folder = path.parent
    if not folder.is_dir():
        problem = f"{folder} is not a directory" if folder.exists() else f"no directory {folder}"
        raise _bad(f"{path}: {problem}", "create the directory first, or write elsewhere")
    _writable_dir(folder)
    if path.exists() and not os.access(path, os.W_OK):
        raise _bad(f"cannot write {path} (permission denied)", "choose another file")
    return path


@_path_type
def _output_dir(path: Path) -> Path:
    """A project directory to create (-o, --platformio): an existing file there, or a place where no directory
    can be created, is refused before compiling. Foreign files inside it are refused by the staging step."""
    if path.exists() and not path.is_dir():
        raise _bad(f"{path} is a file, not a directory", "choose a new directory name")
    ancestor = path.resolve().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise _bad(f"cannot create {path}: {ancestor} is a file", "choose another directory")
    _writable_dir(ancestor)
    return path


EXAMPLES = {
    "compile": """\
  tinyml compile model.tflite --board stm32f746 -o fw        # fw/firmware.elf, .bin and .hex
  tinyml compile model.tflite --board host -o app            # app/app: raw tensors on stdin -> stdout
  tinyml compile model.tflite --board nucleo-l4r5zi --prefer memory -o fw   # the smallest arena
  tinyml compile model.tflite --board stm32f746 --sram-budget 128K -o fw   # the fastest plan within 128 KB
  tinyml compile model.keras --calib images/ --board stm32f746 -o fw   # a float model, quantized on the way""",
    "run": """\
  tinyml run model.tflite --input in.bin --output out.bin    # on this computer
  tinyml run model.tflite --board mps2-an500 --input in.bin --output out.bin      # emulated Cortex-M7
  tinyml run model.tflite --board stm32f746 --emulate --input in.bin --output out.bin
  tinyml run model.tflite --reference --input in.bin --output ref.bin   # the reference interpreter, no C
`tinyml info model.tflite` says how to write in.bin and read out.bin with numpy.""",
    "bench": """\
  tinyml bench model.tflite --board stm32f746 --port /dev/ttyACM0 --runs 20
  tinyml bench model.tflite --board mps2-an500 --inputs samples/ --json
  tinyml bench model.tflite --board stm32f746 --emulate      # its firmware on the closest emulated core""",
    "deploy": """\
  tinyml deploy model.tflite --board stm32f746               # build, flash, check it answers
  tinyml deploy model.tflite --board stm32f746 --emulate     # the same firmware under QEMU
  tinyml deploy model.tflite --board nucleo-f767zi --flasher st-flash -o fw
  tinyml deploy model.keras --board stm32f746 --emulate --calib images/   # quantized on the way""",
    "export": """\
  tinyml export model.tflite --board stm32f746 --platformio proj   # then: cd proj && pio run -t upload
  tinyml export model.tflite --board nucleo-l4r5zi --kernels portable --platformio proj""",
    "report": """\
  tinyml report model.tflite --board stm32f746
  tinyml report model.tflite --board stm32f746 --sram-budget 256K --flash-budget 768K --github
  tinyml report model.tflite --board stm32f746 --baseline old.json --max-growth 5% --plot mem.svg""",
    "quantize": """\
  tinyml quantize model.keras -o model.tflite --calib calib.npz         # int8 in and out
  tinyml quantize saved_model/ -o model.tflite --calib images/ --input-range=-1..1 --calib-samples 500
  tinyml quantize float.tflite -o model.tflite --calib tensors/ --float-io   # float32 in and out
  tinyml quantize model.keras -o model.tflite --qat --train images/ --epochs 3   # quantization-aware training
  tinyml quantize model.keras -o w4.tflite --qat --train images/ --bits w4a8 --calib calib.npz   # 4-bit weights
  tinyml quantize model.keras -o mixed.tflite --calib calib.npz --board stm32f746 --sram-budget 64K   # bits per layer
  tinyml quantize model.keras -o mixed.tflite --calib calib.npz --board netduinoplus2 --qat --train images/ --epochs 2
  tinyml quantize model_int8.tflite -o w4.tflite --bits w4a8     # an int8 model's weights to 4 bits, no data needed
  tinyml quantize model_int8.tflite -o w4.tflite --bits w4a8 --board stm32f746 --flash-budget 150K   # the layers to fit
then compile model.tflite as any int8 model; or skip this step: tinyml compile model.keras --calib DATA ...""",
    "eval": """\
  tinyml eval model.tflite --data test_images/ --board host --float model.keras
  tinyml eval model.keras --calib calib/ --data test.npz --board stm32f746 --emulate --limit 500
  tinyml eval model.tflite --data test_images/ --board stm32f746 --port /dev/ttyACM0   # flashed by deploy""",
    "info": """\
  tinyml info model.tflite                                    # inputs, outputs, ops, numpy recipe
  tinyml info model.tflite --json                             # schema tinyml.info/1""",
    "packs": """\
  tinyml packs install                                        # download ARM's CMSIS-NN and CMSIS packs
  tinyml packs install ARM.CMSIS-NN.7.0.0.pack ARM.CMSIS.6.3.0.pack   # pack files you have (no network)
  tinyml packs list                                           # what is installed, and what is in use
  tinyml packs list --cmsis-nn CMSIS-NN --cmsis CMSIS_6         # checkouts of ARM-software/CMSIS-NN, CMSIS_6""",
    "boards": """\
  tinyml boards""",
    "search": """\
  tinyml search --data images/ --board stm32f746 --sram-budget 64K --flash-budget 256K -o search
  tinyml search --data train.npz --board stm32f746 --sram-budget 64K --latency-budget 50ms --bits mixed -o s
  tinyml search --data images/ --board stm32f746 --budget-hours 1.5 --workers 2 -o search   # Ctrl-C, rerun: resumes
  tinyml search --data images/ --board stm32f746 --ray HEAD:6379 -o search   # trials on a Ray cluster
then: tinyml deploy search/best.tflite --board stm32f746 --sram-budget 64K --emulate""",
    "ops": """\
  tinyml ops                                                  # operators, their types and kernels
  tinyml ops --json                                           # schema tinyml.ops/1""",
}


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="tinyml",
        description="Compile int8 TFLite models to plain C for microcontrollers, bit-exact with TFLite Micro.",
        epilog="start with:\n  tinyml info model.tflite\n  tinyml report model.tflite --board stm32f746\n"
        "  tinyml boards\n`tinyml COMMAND --help` shows a command's options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"tinyml {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=f"examples:\n{EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sp.set_defaults(func=func)
        return sp

    def model(sp: argparse.ArgumentParser, text: str = "int8 .tflite model file") -> None:
        sp.add_argument("model", metavar="MODEL", help=text)

    def target(sp: argparse.ArgumentParser, required: bool = True) -> argparse._ArgumentGroup:
        """MODEL, and the `target` group with --board (required except where `host` is the natural default)."""
        model(
            sp, "int8 .tflite model file, or a float model (.keras, .h5, SavedModel folder, float .tflite) with --calib"
        )
        g = sp.add_argument_group("target")
        default = "" if required else " (default: host, this computer)"
        g.add_argument(
            "--board",
            required=required,
            default=None if required else "host",
            help=f"target board, in any letter case; `tinyml boards` lists them{default}",
        )
        return g

    def emulate(g: argparse._ArgumentGroup) -> None:
        g.add_argument(
            "--emulate", action="store_true", help="run a hardware board's build on its closest emulated core"
        )

    def cmsis_paths(g: argparse._ArgumentGroup) -> None:
        g.add_argument(
            "--cmsis-nn", metavar="DIR", type=_source_dir, help="a CMSIS-NN tree (default: $CMSIS_NN_ROOT, then packs)"
        )
        g.add_argument(
            "--cmsis", metavar="DIR", type=_source_dir, help="a CMSIS (CMSIS_6) tree (default: $CMSIS_ROOT, then packs)"
        )

    def compiler(sp: argparse.ArgumentParser) -> None:
        """The options every compiling command shares: kernels, memory planning, --verbose."""
        g = sp.add_argument_group("kernels")
        g.add_argument(
            "--kernels",
            choices=["auto", "cmsis-nn", "portable"],
            default="auto",
            help="kernel backend (default auto: CMSIS-NN on Cortex-M boards when available)",
        )
        cmsis_paths(g)
        g = sp.add_argument_group("memory planning")
        g.add_argument(
            "--prefer",
            choices=["speed", "memory"],  # tinyml.plan.PREFERENCES (imported lazily)
            default="speed",
            help="speed (default): the fastest plan that fits the board's RAM or --sram-budget, saving memory "
            "(slower in-place kernels, patches) only where needed; memory: the smallest arena",
        )
        g.add_argument(
            "--sram-budget",
            metavar="SIZE",
            type=_size("--sram-budget"),
            help="RAM the firmware may use, stack and runtime included: 300000, 256K, 1.5M (default: the board's)",
        )
        g.add_argument(
            "--no-in-place", dest="in_place", action="store_false", help="never let an op overwrite its input"
        )
        g.add_argument(
            "--io",
            choices=["arena", "external"],
            default="arena",
            help="external: keep the model's inputs and outputs in their own buffers, outside the arena",
        )
        g.add_argument(
            "--patches",
            default="auto",
            type=_patches,
            metavar="auto|off|RxC@N",
            help="patch-based inference for the first N ops over an RxC grid (default auto: the lowest peak)",
        )
        g.add_argument(
            "--max-mac-overhead",
            type=_mac_factor,
            default=1.2,
            metavar="X",
            help="auto patches may cost at most X times the MACs, X >= 1 (recomputed halos; default 1.2)",
        )
        sp.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            help="repeat notices shown once per cache (such as CMSIS-NN missing) on every run",
        )
        calibration(sp, "float models (quantized to int8 on the way, cached)")

    def calibration(sp: argparse.ArgumentParser, title: str) -> None:
        """How a float model is quantized to int8: its calibration data and the choices around it."""
        g = sp.add_argument_group(title)
        g.add_argument(
            "--calib",
            metavar="DATA",
            type=_data_path,
            help="calibration data: an .npz (one array, or one per input by name), a folder of images (.jpg, "
            ".png, .bmp; resized to the input), or a folder of float32 .bin tensors of the input's shape",
        )
        g.add_argument(
            "--calib-samples",
            type=_positive_int,
            default=200,
            metavar="N",
            help="calibrate with at most N samples, a seeded choice (default 200)",
        )
        g.add_argument(
            "--input-range",
            choices=list(INPUT_RANGES),
            default="0..1",
            help="what image pixels 0..255 (and uint8 arrays of an .npz) become: 0..1 (default), -1..1 or 0..255",
        )
        g.add_argument(
            "--float-io", action="store_true", help="keep float32 inputs and outputs (default: int8, as on devices)"
        )
        g.add_argument("--quiet", action="store_true", help="no progress bars (they show on a terminal only)")

    def project_dir(g: argparse._ArgumentGroup, *flags: str, required: bool, help_text: str) -> None:
        g.add_argument(*flags, required=required, metavar="DIR", type=_output_dir, help=help_text)
        g.add_argument("--force", action="store_true", help="replace DIR even if it holds files you added or edited")

    sp = command("compile", cmd_compile, "generate the C project for a model and build it")
    target(sp)
    compiler(sp)
    project_dir(
        sp.add_argument_group("output"), "-o", "--output", required=True, help_text="project directory to create"
    )

    sp = command("run", cmd_run, "compile (cached by content) and run inferences on the host or an emulated board")
    emulate(target(sp, required=False))
    compiler(sp)
    g = sp.add_argument_group("data")
    g.add_argument(
        "--input",
        required=True,
        metavar="IN.bin",
        type=_input_file,
        help="raw input tensor bytes, inputs in model order (`tinyml info MODEL` says how to write it)",
    )
    g.add_argument(
        "--output", required=True, metavar="OUT.bin", type=_output_file, help="where to write the raw output bytes"
    )
    g.add_argument(
        "--reference",
        action="store_true",
        help="run tinyml's reference interpreter (NumPy, TFLite's integer arithmetic) instead of compiled code",
    )

    sp = command("bench", cmd_bench, "measure a model on a board over its serial port, checked against TFLite Micro")
    g = target(sp)
    emulate(g)
    g.add_argument(
        "--port", metavar="URL", type=_port, help="pyserial URL of the board: /dev/ttyACM0, socket://HOST:PORT"
    )
    g.add_argument("--emulator", choices=["qemu", "renode"], default="qemu", help="emulator to start without --port")
    compiler(sp)
    g = sp.add_argument_group("measurement")
    g.add_argument(
        "--runs",
        type=_positive_int,
        metavar="N",
        help="inferences to run, at least 1 (default: 10 random inputs, or every file of --inputs)",
    )
    g.add_argument(
        "--inputs", metavar="DIR", type=_input_dir, help="raw input tensors, one per .bin file (default: seeded random)"
    )
    g.add_argument("--json", action="store_true", help="print the results as JSON (schema tinyml.bench/3)")

    sp = command("deploy", cmd_deploy, "build, flash and check a board (or run on an emulator)")
    g = target(sp)
    emulate(g)
    g.add_argument("--emulator", choices=["qemu", "renode"], default="qemu", help="emulator for --emulate")
    g.add_argument("--flasher", choices=["openocd", "st-flash", "pyocd"], help="flashing tool (default: installed)")
    g.add_argument("--port", metavar="URL", type=_port, help="the board's serial port (default: the ST-LINK's)")
    compiler(sp)
    g = sp.add_argument_group("output")
    project_dir(g, "-o", "--output", required=False, help_text="keep the firmware project in DIR")

    sp = command("export", cmd_export, "write a PlatformIO project for a hardware board")
    target(sp)
    compiler(sp)
    g = sp.add_argument_group("output")
    project_dir(g, "--platformio", required=True, help_text="PlatformIO project directory to create")

    sp = command("report", cmd_report, "memory and compute report and budget checks, before anything is built")
    target(sp)
    compiler(sp)
    g = sp.add_argument_group("output format")
    fmt = g.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the report as JSON (schema tinyml.report/4)")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown summary for a pull-request comment")
    fmt.add_argument("--github", action="store_true", help="print GitHub Actions workflow commands (::error/::notice)")
    g.add_argument("--plot", metavar="FILE", help="draw the SRAM timeline per layer into FILE (.svg or .png)")
    g = sp.add_argument_group("budgets")
    g.add_argument(
        "--flash-budget",
        metavar="SIZE",
        type=_size("--flash-budget"),
        help="flash the firmware may use: 768K, 1M (default: the board's flash)",
    )
    g.add_argument("--baseline", metavar="OLD.json", help="an earlier `report --json`: show the change of each figure")
    g.add_argument(
        "--max-growth", metavar="PCT", help="fail (exit 3) when peak SRAM, flash or MACs grew more than PCT (5%%)"
    )

    sp = command(
        "quantize",
        cmd_quantize,
        "quantize a float model (Keras, SavedModel, float .tflite) to int8 TFLite, or an int8 one's weights to 4 bits",
    )
    model(sp, "float model: .keras, .h5, a SavedModel folder, or a float .tflite; or an int8 .tflite with --bits w4a8")
    g = sp.add_argument_group("output")
    g.add_argument(
        "-o", "--output", required=True, metavar="OUT.tflite", type=_output_file, help="the int8 model to write"
    )
    calibration(sp, "quantization (--calib is required without --qat)")
    g = sp.add_argument_group("quantization-aware training")
    g.add_argument(
        "--qat",
        action="store_true",
        help="fine-tune the float Keras model (.keras, .h5) with fake quantization on --train data, then convert it",
    )
    g.add_argument(
        "--train",
        metavar="DATA",
        type=_data_path,
        help="labelled training data: a folder with one sub-folder of images per class (sorted names give the "
        "labels), or an .npz with x (inputs) and y (labels); ranges start from --calib, else from this data",
    )
    g.add_argument("--epochs", type=_positive_int, metavar="N", help="passes over the training data (default 1)")
    g.add_argument(
        "--bits",
        type=_bits,
        metavar="8|wXaY",
        help="8 (default), or X-bit weights and Y-bit activations, each 8, 4 or 2: w4a8, w8a4, w4a4, w2a8 ... "
        "(sub-byte activations go to layers followed by a ReLU or ReLU6, which becomes a ReLU6); without --qat, "
        "w4a8 requantizes an int8 .tflite's weights to 4 bits (with --board, the layers that fit the budgets)",
    )
    g.add_argument("--batch-size", type=_positive_int, metavar="N", help="samples per training step (default 32)")
    g.add_argument(
        "--learning-rate", type=_positive_float, metavar="LR", help="Adam's step size (default 0.0001: fine-tuning)"
    )
    g = sp.add_argument_group("mixed precision: 8, 4 or 2 bits per layer, chosen to fit a board")
    g.add_argument(
        "--board",
        help="choose each layer's weight and activation bits so that the model fits this board's RAM and flash "
        "(or the budgets below) with the least accuracy lost; `tinyml boards` lists them",
    )
    g.add_argument(
        "--sram-budget",
        metavar="SIZE",
        type=_size("--sram-budget"),
        help="RAM the firmware may use, stack and runtime included: 64K, 300000 (default: the board's)",
    )
    g.add_argument(
        "--flash-budget",
        metavar="SIZE",
        type=_size("--flash-budget"),
        help="flash the firmware may use, code included: 256K, 1M (default: the board's)",
    )
    g.add_argument(
        "--mixed",
        choices=["sensitivity", "rusci"],  # tinyml.quant.search.RULES (imported lazily)
        help="sensitivity (default): the least total sensitivity, each layer's measured on the calibration data "
        "(the loss increase with labels, else the output's disagreement); rusci: Rusci et al.'s memory-driven rule "
        "(the largest tensors and layers first)",
    )
    g.add_argument(
        "--kernels",
        choices=["auto", "cmsis-nn", "portable"],
        help="the kernels the model will run on, whose scratch and code count (default auto, as compile)",
    )

    sp = command("eval", cmd_eval, "top-1 accuracy of the compiled model on labelled data, measured where it runs")
    g = target(sp)
    emulate(g)
    g.add_argument("--port", metavar="URL", type=_port, help="run on the board at this serial port (flashed already)")
    compiler(sp)
    g = sp.add_argument_group("evaluation")
    g.add_argument(
        "--data",
        required=True,
        metavar="DATA",
        type=_data_path,
        help="labelled data: a folder with one sub-folder of images per class (sorted names give the labels), "
        "or an .npz with x and y",
    )
    g.add_argument(
        "--float",
        metavar="FLOAT_MODEL",
        type=_model_path,
        help="also run this float model (TensorFlow, on the host), and count how often both agree",
    )
    g.add_argument("--limit", type=_positive_int, metavar="N", help="evaluate at most N samples (a seeded choice)")
    g.add_argument("--json", action="store_true", help="print the results as JSON (schema tinyml.eval/1)")

    sp = command("search", cmd_search, "search a model that fits the board (TinyNAS), train, quantize and check it")
    g = sp.add_argument_group("data and target")
    g.add_argument(
        "--data",
        required=True,
        metavar="DATA",
        type=_data_path,
        help="labelled images: a folder with one sub-folder of images per class (sorted names give the labels), "
        "or an .npz with x (images) and y (labels)",
    )
    g.add_argument("--board", required=True, help="target board, in any letter case; `tinyml boards` lists them")
    g = sp.add_argument_group("budgets (default: the board's RAM and flash)")
    g.add_argument(
        "--sram-budget", metavar="SIZE", type=_size("--sram-budget"), help="RAM the model may use: 64K, 300000"
    )
    g.add_argument(
        "--flash-budget", metavar="SIZE", type=_size("--flash-budget"), help="flash the model may use: 256K, 1M"
    )
    g.add_argument(
        "--latency-budget", metavar="TIME", type=_latency_ms, help="estimated latency on the board: 50ms, 0.5s"
    )
    g.add_argument(
        "--bits",
        choices=["8", "mixed"],
        default="8",
        help="8 (default): int8; mixed: 8, 4 or 2 bits per layer chosen under the budgets (candidates are "
        "measured with 4-bit weights)",
    )
    g = sp.add_argument_group("running")
    g.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        type=_output_dir,
        help="directory for the results and the log; rerunning the same command resumes the search there",
    )
    g.add_argument("--seed", type=_whole, default=0, metavar="N", help="the same seed gives the same search (0)")
    g.add_argument(
        "--budget-hours",
        type=_positive_float,
        metavar="H",
        help="stop the evolution early enough to finish within H hours (the results are still written)",
    )
    g.add_argument(
        "--workers",
        type=_positive_int,
        default=max(1, os.cpu_count() or 1),
        metavar="N",
        help="trials in N local processes (default: the number of cores)",
    )
    g.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        type=_ray_address,
        help="run the trials as Ray tasks: auto (this machine's cluster, or a new local one) or HEAD:6379",
    )
    g.add_argument("--quiet", action="store_true", help="no progress bars (they show on a terminal only)")
    g = sp.add_argument_group("sizes of the search (defaults suit a laptop)")
    g.add_argument("--image-size", type=_positive_int, metavar="PX", help="resize the images first (default: theirs)")
    g.add_argument("--limit", type=_positive_int, metavar="N", help="use at most N images (a seeded choice)")
    g.add_argument(
        "--stage1-samples",
        type=_positive_int,
        default=100,
        metavar="N",
        help="candidates sampled per width and resolution in stage 1 (100)",
    )
    g.add_argument("--supernet-epochs", type=_positive_int, default=8, metavar="N", help="epochs of the supernet (8)")
    g.add_argument("--population", type=_positive_int, default=16, metavar="N", help="candidates per generation (16)")
    g.add_argument("--generations", type=_positive_int, default=6, metavar="N", help="generations bred (6)")
    g.add_argument("--parents", type=_positive_int, default=4, metavar="N", help="parents per generation (4)")
    g.add_argument(
        "--proxy",
        choices=["none", "synflow", "naswot"],
        default="none",
        help="zero-cost proxy that picks half the children before the supernet estimates them (default none)",
    )
    g.add_argument(
        "--rank-check",
        type=_positive_int,
        default=4,
        metavar="K",
        help="candidates trained from scratch to measure how well the estimates rank them (4)",
    )
    g.add_argument("--rank-epochs", type=_positive_int, default=3, metavar="N", help="their epochs (3)")
    g.add_argument("--finalists", type=_positive_int, default=2, metavar="N", help="best candidates finished (2)")
    g.add_argument(
        "--finalist-epochs",
        type=_positive_int,
        default=10,
        metavar="N",
        help="epochs of fine-tuning each finalist from the supernet's weights (10)",
    )
    g.add_argument(
        "--qat-epochs",
        type=_whole,
        default=2,
        metavar="N",
        help="epochs of quantization-aware training where int8 loses accuracy (2; 0: never)",
    )

    sp = command("info", cmd_info, "a model's inputs, outputs (shape, type, scale, zero point) and ops")
    model(sp)
    sp.add_argument("--json", action="store_true", help="print it as JSON (schema tinyml.info/1)")

    sp = command(
        "packs", cmd_packs, "get the CMSIS-NN and CMSIS packs (install: download, or from .pack files), or list them"
    )
    sp.add_argument("action", choices=["install", "list"])
    sp.add_argument(
        "files", nargs="*", metavar="FILE.pack", help="install these pack files (no network) instead of downloading"
    )
    cmsis_paths(sp.add_argument_group("CMSIS trees"))

    command("boards", cmd_boards, "list the boards tinyml can target")

    sp = command("ops", cmd_ops, "list the operators tinyml compiles, with their types and kernels")
    fmt = sp.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print them as JSON (schema tinyml.ops/1)")
    fmt.add_argument("--markdown", action="store_true", help="print them as a Markdown table (as in the README)")
    return p


def _joined_values(argv: Sequence[str]) -> list[str]:
    """`--input-range -1..1` as `--input-range=-1..1`: argparse takes a value starting with '-' for an option."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] == "--input-range" and arg in INPUT_RANGES:
            out[-1] = f"--input-range={arg}"
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from tinyml import interrupt

    interrupt.install()
    try:
        args = _parser().parse_args(_joined_values(sys.argv[1:] if argv is None else argv))
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
