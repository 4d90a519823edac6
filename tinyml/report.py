"""Measure stage: memory and compute figures for a planned, rendered model.

Every figure comes from the same objects the code is generated from (the plan
and the rendered constants), so the report cannot disagree with the firmware.
"""

from __future__ import annotations

from typing import Any

from tinyml.backends import PORTABLE, Backend
from tinyml.boards import Board
from tinyml.codegen import ModelCode
from tinyml.ir import Graph
from tinyml.planner import MemoryPlan

SCHEMA = "tinyml.report/1"
#: flash for code (kernels, runtime, bench server) when no image has been built; measured ~10-12 KB
CODE_ESTIMATE_BYTES = 12 * 1024
#: RAM besides the arena: the runtime's buffers and statics
RUNTIME_RAM_BYTES = 1024


def board_fit(board: Board, arena: int, consts: int) -> dict[str, Any] | None:
    """Whether the model fits the board's flash and RAM, before anything is built (estimates, marked as such)."""
    if board.kind != "mcu":
        return None
    from tinyml.firmware import DEFAULT_STACK_SIZE

    capacity = {m["kind"]: int(m["size"]) for m in board.raw["memory"] if m["kind"] in ("flash", "ram")}
    flash = consts + CODE_ESTIMATE_BYTES
    ram = arena + DEFAULT_STACK_SIZE + RUNTIME_RAM_BYTES
    return {
        "flash_bytes": flash,
        "flash_capacity": capacity["flash"],
        "ram_bytes": ram,
        "ram_capacity": capacity["ram"],
        "estimated": True,
        "fits": flash <= capacity["flash"] and ram <= capacity["ram"],
    }


def build_report(
    graph: Graph,
    plan: MemoryPlan,
    code: ModelCode,
    board: Board,
    model_path: str,
    backend: Backend = PORTABLE,
) -> dict[str, Any]:
    """The report as plain data (what `--json` prints)."""
    layers = []
    for layer in code.layers:
        op = layer.op
        kernel = backend.kernel(op)
        layers.append(
            {
                "index": layer.index,
                "op": op.type,
                "output": op.outputs[0].name,
                "input_shapes": [list(t.shape) for t in op.inputs if t is not None and not t.is_const],
                "output_shape": list(op.outputs[0].shape),
                "macs": kernel.macs(op),
                "scratch_bytes": plan.scratch.get(layer.index, (0, 0))[1],
                "live_bytes": plan.live_bytes[layer.index],
                "weights_bytes": layer.const_bytes,
                "view": not layer.code,
            }
        )
    io_bytes = sum(t.nbytes for t in graph.inputs) + sum(t.nbytes for t in graph.outputs)
    peak_layer = max(range(len(layers)), key=lambda i: layers[i]["live_bytes"]) if layers else None
    return {
        "schema": SCHEMA,
        "model": {"name": graph.name, "path": model_path, "sha256": graph.source_hash},
        "board": board.name,
        "peak_sram_bytes": plan.peak,
        "arena_bytes": plan.peak,
        "scratch_bytes": max((s for _, s in plan.scratch.values()), default=0),
        "io_bytes": io_bytes,
        "weights_bytes": code.const_bytes,
        "macs": sum(layer["macs"] for layer in layers),
        "planner": {
            "strategy": plan.strategy,
            "candidates": plan.candidates,
            "live_set_bound": plan.live_set_bound,
        },
        "peak_layer": peak_layer,
        "board_fit": board_fit(board, plan.peak, code.const_bytes),
        "layers": layers,
    }


def format_text(report: dict[str, Any]) -> str:
    """A human-readable table of the report."""
    lines = [
        f"model {report['model']['name']} on {report['board']}",
        f"  peak SRAM  {report['peak_sram_bytes']:>10,} bytes  (arena, all-inclusive; planner "
        f"{report['planner']['strategy']}, live-set bound {report['planner']['live_set_bound']:,})",
        f"  scratch    {report['scratch_bytes']:>10,} bytes  (largest kernel scratch)",
        f"  I/O        {report['io_bytes']:>10,} bytes  (inputs and outputs, inside the arena)",
        f"  weights    {report['weights_bytes']:>10,} bytes  (flash constants: weights, biases, multipliers)",
        f"  MACs       {report['macs']:>10,}",
    ]
    fit = report.get("board_fit")
    if fit is not None:
        verdict = "fits" if fit["fits"] else "DOES NOT FIT"
        lines.append(
            f"  {report['board']}: {verdict}: flash ~{fit['flash_bytes']:,} of {fit['flash_capacity']:,} bytes, "
            f"RAM ~{fit['ram_bytes']:,} of {fit['ram_capacity']:,} bytes (estimates: code and stack included)"
        )
    lines += ["", f"  {'#':>3} {'op':<20} {'output shape':<18} {'MACs':>11} {'live':>8} {'scratch':>8} {'weights':>8}"]
    for layer in report["layers"]:
        shape = "x".join(str(d) for d in layer["output_shape"])
        mark = " <- peak" if layer["index"] == report["peak_layer"] else ""
        lines.append(
            f"  {layer['index']:>3} {layer['op']:<20} {shape:<18} {layer['macs']:>11,} {layer['live_bytes']:>8,} "
            f"{layer['scratch_bytes']:>8,} {layer['weights_bytes']:>8,}{mark}"
        )
    return "\n".join(lines)
