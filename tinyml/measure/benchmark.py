"""Benchmark results: latency per inference and per layer, outputs checked against TFLite Micro, as JSON
and as a table, beside the cost model's estimate for the board the user named.

What the device counts depends on its timer. A hardware board's cycle counter (DWT) counts core cycles at the
board's clock. An emulated board counts SysTick ticks at its own clock; under QEMU `-icount shift=0` every
instruction takes one nanosecond of virtual time, so a tick is 10^9/clock instructions (40 on MPS2), and the
counts say how many instructions ran, not how long the real chip takes. For that, the report gives the cost
model's estimate on the board the user named (`tinyml bench --board stm32f746 --emulate`: the F746 at 216 MHz).
"""

from __future__ import annotations

import statistics
from typing import Any

from tinyml.ir.graph import Graph
from tinyml.kernels.costs import core_name, op_cycles
from tinyml.measure.protocol import Result
from tinyml.measure.report.data import layer_groups, tile_count
from tinyml.ops.region import COPY
from tinyml.plan import MemoryPlan
from tinyml.target.boards import Board
from tinyml.target.qemu import instructions_per_cycle

SCHEMA = "tinyml.bench/3"


def counter_unit(board: Board) -> str:
    """What the firmware's counter counts: "cycles" (a cycle counter) or "ticks" (SysTick, on emulated boards)."""
    return "ticks" if board.raw.get("runtime", {}).get("cycles") == "systick" else "cycles"


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def estimate(graph: Graph, plan: MemoryPlan, board: Board) -> tuple[dict[str, Any], list[int]]:
    """The cost model's latency for this plan on `board`: the total (cycles, ms at its clock), and each op's cycles."""
    core = core_name(board)
    pairs = enumerate(zip(graph.ops, plan.kernels, strict=True))
    ops = [op_cycles(op, k, core, i in plan.in_place) for i, (op, k) in pairs]
    clock = board.raw.get("cpu", {}).get("clock_hz")
    total = sum(ops)
    return {
        "board": board.name,
        "core": core,
        "clock_hz": clock,
        "cycles": total,
        "ms": round(total * 1000 / clock, 4) if clock else None,
    }, ops


def bench_report(
    graph: Graph,
    board: Board,
    results: list[Result],
    expected: list[bytes],
    port: str | None,
    plan: MemoryPlan,
    target: Board | None = None,
) -> dict[str, Any]:
    """Latency and correctness figures for `tinyml bench` (what `--json` prints; schema below).

    `board` is the board that ran (an emulated stand-in for `--emulate`), `plan` the plan its code came from, and
    `target` the board the user named, which the estimate is for (default: `board`).

    Schema tinyml.bench/3: `clock_hz` is the counting clock and `counter` what the device counts: `"cycles"` (a
    hardware cycle counter; then `cycles` and `ms` give min, median and max per inference) or `"ticks"` (SysTick
    on an emulated board; then `ticks`, and when tinyml started the emulator, `instructions` = ticks ×
    10^9/clock_hz under QEMU -icount). `estimate` is the cost model's figure for `target`: `board`, `core`,
    `clock_hz`, `cycles`, `ms`. `layers` has one entry per layer of the model (as `tinyml report` numbers them):
    `index`, `op`, `output` (its output tensor; for a patch-stage layer, its first tile's), `tiles` (how many
    times it runs), `ops` (generated ops timed for it, region copies included), the median over runs of its
    count (`cycles` or `ticks`, as `counter`), `instructions` when measured, and `estimated_cycles`.
    Version 2 called SysTick ticks `cycles` and gave their time at the emulated clock; it had no estimate.
    """
    target = target or board
    clock = int(board.raw["cpu"]["clock_hz"])
    unit = counter_unit(board)
    emulated = port is None and bool(board.raw.get("emulated") or "@" in board.name)
    scale = instructions_per_cycle(board) if emulated else None
    guess, op_estimates = estimate(graph, plan, target)
    totals = [r.total_cycles for r in results]
    layers = []
    for k, positions in enumerate(layer_groups(graph)):
        op = next((graph.ops[i] for i in positions if graph.ops[i].type != COPY), graph.ops[positions[0]])
        counts = statistics.median([sum(r.layer_cycles[i] for i in positions) for r in results])
        layer: dict[str, Any] = {
            "index": k,
            "op": op.type,
            "output": op.outputs[0].name,
            "tiles": tile_count(graph, positions),
            "ops": len(positions),
            unit: counts,
        }
        if scale is not None:
            layer["instructions"] = round(counts * scale)
        layer["estimated_cycles"] = sum(op_estimates[i] for i in positions)
        layers.append(layer)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "model": {"name": graph.name, "sha256": graph.source_hash},
        "board": board.name,
        "port": port or "emulator",
        "clock_hz": clock,
        "runs": len(results),
        "matched": sum(r.output == e for r, e in zip(results, expected, strict=True)),
        "counter": unit,
        unit: _spread(totals),
    }
    if unit == "cycles":
        report["ms"] = {k: v * 1000 / clock for k, v in report["cycles"].items()}
    if scale is not None:
        report["instructions"] = {k: round(v * scale) for k, v in report[unit].items()}
    report["estimate"] = guess
    report["layers"] = layers
    return report


def estimate_text(report: dict[str, Any]) -> str:
    """The cost model's estimate in words, naming the board and clock it is for."""
    e = report["estimate"]
    at = f"{e['ms']:.3f} ms at {e['clock_hz'] / 1e6:g} MHz on {e['board']}" if e["ms"] is not None else e["board"]
    return f"{e['cycles']:,} cycles, {at} ({e['core']}; cost model fitted on QEMU instruction counts)"


def _counts(spread: dict[str, float], runs: int) -> str:
    """A count over the runs: the median, min and max; the value alone for one run."""
    if runs == 1:
        return f"{spread['median']:,.0f}"
    return f"median {spread['median']:,.0f}  (min {spread['min']:,.0f}, max {spread['max']:,.0f})"


def measured_lines(report: dict[str, Any]) -> list[str]:
    """What the device measured, each count named for what it is, and the estimate beside it."""
    lines = []
    runs = report["runs"]
    clock = f"{report['clock_hz'] / 1e6:g} MHz"
    if "instructions" in report:
        per_tick = 1e9 / report["clock_hz"]
        lines.append(
            f"  instructions  {_counts(report['instructions'], runs)}: QEMU -icount, {per_tick:g} per SysTick tick"
        )
    if report["counter"] == "ticks":
        lines.append(
            f"  timer ticks   {_counts(report['ticks'], runs)}: SysTick at the emulated {clock}, not the chip's time"
        )
    else:
        ms = report["ms"]
        lines.append(f"  cycles        {_counts(report['cycles'], runs)}")
        latency = (
            f"{ms['median']:.3f} ms"
            if runs == 1
            else f"median {ms['median']:.3f} ms  (min {ms['min']:.3f}, max {ms['max']:.3f})"
        )
        lines.append(f"  latency       {latency} at {clock}")
    lines.append(f"  estimate      {estimate_text(report)}")
    return lines


def format_bench(report: dict[str, Any]) -> str:
    """The bench report for people: the TFLite Micro check, the measured counts, the estimate, and per layer."""
    lines = [
        f"{report['model']['name']} on {report['board']} ({report['port']}), {report['runs']} runs",
        f"  outputs identical to TFLite Micro: {report['matched']}/{report['runs']}",
        *measured_lines(report),
    ]
    measured = "instructions" if "instructions" in report else report["counter"]
    total = max(sum(layer[measured] for layer in report["layers"]), 1)
    lines.append(f"  {'#':>3} {'op':<20} {measured:>12} {'share':>6} {'estimated cycles':>17}")
    for layer in report["layers"]:
        tiles = f"  {layer['tiles']} tiles" if layer["tiles"] > 1 else ""
        lines.append(
            f"  {layer['index']:>3} {layer['op']:<20} {layer[measured]:>12,.0f} {100 * layer[measured] / total:>5.1f}%"
            f" {layer['estimated_cycles']:>17,}" + tiles
        )
    return "\n".join(lines)
