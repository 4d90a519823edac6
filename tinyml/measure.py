"""Measure stage: run a built image on a device or emulator, check it against TFLite Micro, time it.

A session is a `BenchClient` on the board's serial port: one given by the user
(`--port`), or QEMU/Renode started here with the UART on a loopback socket.
Either way the same protocol bytes cross a real serial stream.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tinyml.bench import BenchClient, Result
from tinyml.boards import Board
from tinyml.emulator import emulate, instructions_per_cycle
from tinyml.errors import RunError
from tinyml.firmware import frame_timeout_ms
from tinyml.ir import Graph

SCHEMA = "tinyml.bench/1"


@contextmanager
def session(
    board: Board, elf: Path, graph: Graph, port: str | None = None, emulator: str = "qemu", timeout: float = 120.0
) -> Iterator[BenchClient]:
    """A verified connection to `elf` running on `board` (at `port`, or in an emulator started here)."""
    baud = int(board.raw.get("runtime", {}).get("baud", 115200))
    options = {"baudrate": baud, "frame_timeout": frame_timeout_ms(board) / 1000, "infer_timeout": timeout}
    if port is not None:
        with BenchClient(port, **options) as client:
            client.verify(graph.source_hash, name=graph.name)
            yield client
        return
    if emulator == "renode":
        from tinyml.renode import run_renode

        with run_renode(board, elf) as run, BenchClient(run.url, **options) as client:
            client.verify(graph.source_hash, name=graph.name)
            yield client
        return
    with emulate(board, elf) as emu:
        with BenchClient(emu.url, connect_timeout=30.0, **options) as client:
            client.verify(graph.source_hash, name=graph.name)
            yield client
            client.exit(0)
        status = emu.wait(timeout=30.0)
        if status != 0:
            raise RunError(f"the firmware on {board.name} exited with status {status}", "see the board's console")


def infer_all(client: BenchClient, inputs: list[bytes]) -> list[Result]:
    """One inference per input; a kernel that rejects its arguments is a tinyml bug, reported as such."""
    results = []
    for data in inputs:
        result = client.infer(data)
        if result.status != 0:
            raise RunError(
                f"layer {-result.status - 1} rejected its arguments on the device (status {result.status})",
                "this is a tinyml bug; please report it with the model",
            )
        results.append(result)
    return results


def bench_report(
    graph: Graph, board: Board, results: list[Result], expected: list[bytes], port: str | None
) -> dict[str, Any]:
    """Latency and correctness figures for `tinyml bench` (what `--json` prints)."""
    clock = int(board.raw["cpu"]["clock_hz"])
    totals = [r.total_cycles for r in results]
    emulated = port is None and bool(board.raw.get("emulated") or "@" in board.name)
    layers = []
    for i, op in enumerate(graph.ops):
        cycles = [r.layer_cycles[i] for r in results]
        layers.append({"index": i, "op": op.type, "output": op.outputs[0].name, "cycles": statistics.median(cycles)})
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "model": {"name": graph.name, "sha256": graph.source_hash},
        "board": board.name,
        "port": port or "emulator",
        "clock_hz": clock,
        "runs": len(results),
        "matched": sum(r.output == e for r, e in zip(results, expected, strict=True)),
        "cycles": {"min": min(totals), "median": statistics.median(totals), "max": max(totals)},
        "ms": {
            k: v * 1000 / clock
            for k, v in (("min", min(totals)), ("median", statistics.median(totals)), ("max", max(totals)))
        },
        "layers": layers,
    }
    if emulated:
        scale = instructions_per_cycle(board)
        report["instructions"] = {k: round(v * scale) for k, v in report["cycles"].items()}
    return report


def format_bench(report: dict[str, Any]) -> str:
    c, ms = report["cycles"], report["ms"]
    lines = [
        f"{report['model']['name']} on {report['board']} ({report['port']}), {report['runs']} runs",
        f"  outputs identical to TFLite Micro: {report['matched']}/{report['runs']}",
        f"  cycles   min {c['min']:,}  median {c['median']:,.0f}  max {c['max']:,}",
        f"  latency  min {ms['min']:.3f} ms  median {ms['median']:.3f} ms  max {ms['max']:.3f} ms "
        f"at {report['clock_hz'] / 1e6:g} MHz",
    ]
    if "instructions" in report:
        i = report["instructions"]
        lines.append(f"  instructions (QEMU -icount)  median {i['median']:,}  (min {i['min']:,}, max {i['max']:,})")
    lines.append(f"  {'#':>3} {'op':<20} {'cycles':>12} {'share':>6}")
    total = max(c["median"], 1)
    for layer in report["layers"]:
        lines.append(
            f"  {layer['index']:>3} {layer['op']:<20} {layer['cycles']:>12,.0f} {100 * layer['cycles'] / total:>5.1f}%"
        )
    return "\n".join(lines)
