"""Benchmark results: latency per inference and per layer, outputs checked against TFLite Micro, as JSON
and as a table.
"""

from __future__ import annotations

import statistics
from typing import Any

from tinyml.ir.graph import Graph
from tinyml.measure.protocol import Result
from tinyml.measure.report.data import layer_groups, tile_count
from tinyml.ops.region import COPY
from tinyml.target.boards import Board
from tinyml.target.qemu import instructions_per_cycle

SCHEMA = "tinyml.bench/2"


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
