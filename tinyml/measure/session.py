"""Measure stage: run a built image on a device or emulator, check it against TFLite Micro, time it.

A session is a `BenchClient` on the board's serial port: one given by the user
(`--port`), or QEMU/Renode started here with the UART on a loopback socket.
Either way the same protocol bytes cross a real serial stream.

The device times every generated op; reports show the model's own layers, a
patch stage's tiles and region copies summed into the layer they run.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tinyml.errors import RunError
from tinyml.ir.graph import Graph
from tinyml.kernels.portable.region import COPY
from tinyml.measure.protocol import BenchClient, Result
from tinyml.measure.report.data import layer_groups, tile_count
from tinyml.target.boards import Board
from tinyml.target.firmware import frame_timeout_ms
from tinyml.target.qemu import emulate, instructions_per_cycle

SCHEMA = "tinyml.bench/2"


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
        from tinyml.target.renode import run_renode

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
    """Latency and correctness figures for `tinyml bench` (what `--json` prints).

    Schema tinyml.bench/2: `layers` has one entry per layer of the model (as `tinyml report` numbers them):
    `index`, `op`, `output` (its output tensor; for a patch-stage layer, its first tile's), `tiles` (how many
    times it runs: its patch stage's tile count, else 1), `ops` (generated ops timed for it, region copies
    included) and `cycles` (the median over runs of their sum). Version 1 had one entry per generated op.
    """
    clock = int(board.raw["cpu"]["clock_hz"])
    totals = [r.total_cycles for r in results]
    emulated = port is None and bool(board.raw.get("emulated") or "@" in board.name)
    layers = []
    for k, positions in enumerate(layer_groups(graph)):
        op = next((graph.ops[i] for i in positions if graph.ops[i].type != COPY), graph.ops[positions[0]])
        cycles = [sum(r.layer_cycles[i] for i in positions) for r in results]
        layers.append(
            {
                "index": k,
                "op": op.type,
                "output": op.outputs[0].name,
                "tiles": tile_count(graph, positions),
                "ops": len(positions),
                "cycles": statistics.median(cycles),
            }
        )
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
    """The bench report for people: latency, the TFLite Micro check, and cycles per layer of the model."""
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
        tiles = f"  {layer['tiles']} tiles" if layer["tiles"] > 1 else ""
        lines.append(
            f"  {layer['index']:>3} {layer['op']:<20} {layer['cycles']:>12,.0f} {100 * layer['cycles'] / total:>5.1f}%"
            + tiles
        )
    return "\n".join(lines)
