"""Command line: composes the pipeline stages; decides nothing itself.

Every user-caused failure is a TinymlError, printed as one line naming the
problem and the fix, with the error's own exit status and no traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from tinyml import __version__
from tinyml.errors import InputDataError, TinymlError, UsageError

INTERNAL_ERROR = 70


def _pipeline(model: str, board_name: str):  # type: ignore[no-untyped-def]
    """Front end, optimiser, planner, codegen: the stages every command shares."""
    from tinyml.boards import load_board
    from tinyml.codegen import render_model
    from tinyml.frontend import load_model
    from tinyml.optimize import optimize
    from tinyml.planner import plan_memory

    board = load_board(board_name)
    graph = optimize(load_model(model))
    plan = plan_memory(graph)
    code = render_model(graph, plan, board)
    return board, graph, plan, code


def _build_into(target: Path, board, graph, code, force: bool, quiet: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Write and build the project in a staging directory that becomes `target` only on success."""
    from tinyml.build import build
    from tinyml.codegen import write_project
    from tinyml.staging import staged_dir

    info = {"tinyml": __version__, "model": graph.name, "sha256": graph.source_hash, "board": board.name}
    with staged_dir(target, force=force, quiet=quiet, info=info) as tmp:
        write_project(code, tmp)
        build(tmp, board)


def cmd_compile(args: argparse.Namespace) -> int:
    out = Path(args.output)
    board, graph, plan, code = _pipeline(args.model, args.board)
    _build_into(out, board, graph, code, args.force)
    print(f"compiled {graph.name} for {board.name} into {out}/")
    print(f"  program      {out / 'app'}")
    print(f"  arena        {plan.peak:,} bytes (peak SRAM: activations, inputs, outputs, scratch)")
    print(f"  flash consts {code.const_bytes:,} bytes (weights, biases, requantization)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from tinyml.build import cache_root, run_host, source_fingerprint

    in_path, out_path = Path(args.input), Path(args.output)
    try:
        data = in_path.read_bytes()
    except OSError as e:
        raise UsageError(
            f"cannot read input file {in_path}: {e.strerror}", "pass an existing raw tensor file"
        ) from None
    board, graph, _, code = _pipeline(args.model, args.board)
    need = sum(t.nbytes for t in graph.inputs)
    if not data or len(data) % need:
        shapes = ", ".join(f"{t.dtype}{list(t.shape)}" for t in graph.inputs)
        raise InputDataError(
            f"{in_path} holds {len(data)} bytes; one inference needs {need} bytes ({shapes})",
            "write the input tensors as raw bytes in model order (numpy: array.astype(dtype).tofile(path))",
        )
    key = hashlib.sha256(f"{graph.source_hash}|{board.name}|{source_fingerprint()}".encode()).hexdigest()[:20]
    project = cache_root() / "builds" / key
    if not (project / "app").is_file():
        _build_into(project, board, graph, code, force=True, quiet=True)
    result = run_host(project / "app", data)
    if out_path.exists():
        print(f"tinyml: overwriting {out_path}", file=sys.stderr)
    out_path.write_bytes(result)
    print(f"ran {graph.name} on {board.name}: {len(data) // need} inference(s), {len(result)} bytes to {out_path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from tinyml.report import build_report, format_text

    board, graph, plan, code = _pipeline(args.model, args.board)
    report = build_report(graph, plan, code, board, args.model)
    print(json.dumps(report, indent=2) if args.json else format_text(report))
    return 0


def cmd_boards(args: argparse.Namespace) -> int:
    from tinyml.boards import list_boards

    for b in list_boards():
        alias = f" (alias {', '.join(b.aliases)})" if b.aliases else ""
        print(f"{b.name:<20} {b.description}{alias}")
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

    def model_and_board(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("model", metavar="MODEL", help="int8 .tflite model file")
        sp.add_argument("--board", default="host", help="target board (default: host; see `tinyml boards`)")

    sp = command("compile", cmd_compile, "generate the C project for a model and build it")
    model_and_board(sp)
    sp.add_argument("-o", "--output", required=True, metavar="DIR", help="project directory to create")
    sp.add_argument("--force", action="store_true", help="replace DIR even if it holds files tinyml did not write")

    sp = command("run", cmd_run, "compile (cached by content) and run one or more inferences")
    model_and_board(sp)
    sp.add_argument("--input", required=True, metavar="IN.bin", help="raw input tensor bytes, inputs in model order")
    sp.add_argument("--output", required=True, metavar="OUT.bin", help="where to write the raw output tensor bytes")

    sp = command("report", cmd_report, "memory and compute report, before anything is built")
    model_and_board(sp)
    sp.add_argument("--json", action="store_true", help="print the report as JSON (schema tinyml.report/1)")

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
