"""Measure stage: memory and compute figures for a planned, rendered model, and the CI budget checks on them.

Every figure comes from the same objects the code is generated from (the plan
and the rendered constants), so the report cannot disagree with the firmware.
Code size and RAM beyond the arena come from a built image when one is at hand,
otherwise from estimates that say so. The report is plain data (`--json`, schema
in docs/report-schema.md); text, Markdown, GitHub workflow commands and the plot
are all drawn from that data alone, so every format shows the same numbers.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from tinyml import __version__
from tinyml.codegen.render import ModelCode, render_model
from tinyml.ir.graph import Graph, Operator, Tensor
from tinyml.kernels.backends import PORTABLE, Backend
from tinyml.kernels.costs import core_name, op_cycles
from tinyml.measure.report.budgets import budget_entry, budget_failures, fits
from tinyml.ops import Role, definition
from tinyml.ops.region import COPY
from tinyml.plan import MemoryPlan, Planned, align
from tinyml.target.boards import Board

SCHEMA = "tinyml.report/4"

# Code-size estimate for when no image has been built. Fitted on firmware built for the MLPerf Tiny models, layer by
# layer and patch by patch (VWW: 410 layers), portable kernels on the Cortex-M7: within 1.7 KB or 13% of the
# measured size on each.
#: startup code, vector table, UART driver, cycle counter and the bench server
CODE_BASE_BYTES = 3 * 1024
#: each distinct kernel function the model calls
CODE_PER_KERNEL_BYTES = 1024
#: each layer's call site
CODE_PER_CALL_BYTES = 80
#: each distinct constant parameter struct (the build merges identical ones: patch stages repeat them per tile)
CODE_PER_STRUCT_BYTES = 24
#: in a layer's generated C: the kernel it calls, and its constant parameter structs
_CALL = re.compile(r"status = (?:\(tm_status\))?(\w+)\(")
_STRUCT = re.compile(r"static const (\w+) \w+ = ([^;]*);")
# RAM the runtime takes besides the arena and the stack: measured 32-36 bytes plus the bench server's per-layer
# cycle counts (4 bytes a layer); 64 leaves room for the arena's 16-byte alignment.
RUNTIME_STATIC_BYTES = 64
RUNTIME_PER_LAYER_BYTES = 4

# --- option values --------------------------------------------------------------------------------------------------


# --- the report as data ---------------------------------------------------------------------------------------------


def _live_split(graph: Graph, plan: MemoryPlan) -> list[dict[str, int]]:
    """Bytes live during each op, split into activations, model inputs/outputs and scratch.

    The planner adds one buffer per storage (named after its tensors, " = "-joined) and then one per op with
    scratch. A storage can chain tensors through in-place ops, so at each op the part of its size that holds a
    live model input or output counts as I/O and the rest as activations; the parts add up to `plan.live_bytes`.
    """
    n_ops = len(graph.ops)
    io = [t for t in [*graph.inputs, *graph.outputs] if not t.is_const]
    born = {id(t): 0 for t in graph.inputs}
    last = {id(t): 0 for t in graph.inputs}
    for i, op in enumerate(graph.ops):
        for t in op.outputs:
            born.setdefault(id(t), i)
        for t in [*op.inputs, *op.outputs]:
            if t is not None and not t.is_const:
                last[id(t)] = i
    for t in graph.outputs:
        last[id(t)] = n_ops
    io_by_name: dict[str, list[Tensor]] = {}
    for t in io:
        io_by_name.setdefault(t.name, []).append(t)

    n_storage = len(plan.buffers) - len(plan.scratch)
    split = [{"activations": 0, "io": 0, "scratch": 0} for _ in range(n_ops)]
    for k, b in enumerate(plan.buffers):
        members = [t for name in b.name.split(" = ") for t in io_by_name.get(name, [])] if k < n_storage else []
        for i in range(max(b.first, 0), min(b.last, n_ops - 1) + 1):
            size = b.size_at(i)
            if k >= n_storage:
                split[i]["scratch"] += size
                continue
            io_live = max(
                (align(t.nbytes) for t in members if born.get(id(t), 0) <= i <= last.get(id(t), 0)), default=0
            )
            split[i]["io"] += min(size, io_live)
            split[i]["activations"] += size - min(size, io_live)
    return split


def _region_sizes(board: Board) -> dict[str, int]:
    return {m["kind"]: int(m["size"]) for m in board.raw.get("memory", []) if m.get("kind") in ("flash", "ram")}


def board_ram_bytes(board: Board) -> int | None:
    """The size of the board's RAM region (what a plan must fit by default); None for the host."""
    return _region_sizes(board).get("ram") if board.kind == "mcu" else None


def code_estimate(code: ModelCode) -> int:
    """Flash for code when no image has been built: runtime, kernels, call sites and distinct parameter structs."""
    called = [layer for layer in code.layers if layer.code]
    kernels = {f for layer in called for f in _CALL.findall(layer.code)}
    structs = {(t, " ".join(init.split())) for layer in called for t, init in _STRUCT.findall(layer.code)}
    return (
        CODE_BASE_BYTES
        + CODE_PER_KERNEL_BYTES * len(kernels)
        + CODE_PER_CALL_BYTES * len(called)
        + CODE_PER_STRUCT_BYTES * len(structs)
    )


def runtime_ram_estimate(code: ModelCode) -> int:
    """RAM the bare-metal runtime's statics take besides the arena (see RUNTIME_STATIC_BYTES)."""
    return RUNTIME_STATIC_BYTES + RUNTIME_PER_LAYER_BYTES * len(code.layers)


def layer_groups(graph: Graph) -> list[list[int]]:
    """Positions in `graph.ops` of each of the model's own layers, in order: what reports show as one row each.

    A patch stage runs each of its layers once per tile, with region copies in between, ahead of the rest of the
    graph. Only patch expansion inserts region copies, so the stage ends at the last one. Expansion keeps each op's
    source `index` and gives each copy the index of the layer it gathers for or scatters from, so grouping the
    stage by index folds the copies into the layers they serve. Every op after the stage is a layer of its own.
    """
    end = max((i + 1 for i, op in enumerate(graph.ops) if op.type == COPY), default=0)
    stage: dict[int, list[int]] = {}
    for i in range(end):
        stage.setdefault(graph.ops[i].index, []).append(i)
    return [*stage.values(), *([i] for i in range(end, len(graph.ops)))]


def tile_count(graph: Graph, positions: list[int]) -> int:
    """How many times a layer runs: once per tile in a patch stage (its region copies aside), else once."""
    return sum(1 for i in positions if graph.ops[i].type != COPY)


def _op_rows(graph: Graph, plan: MemoryPlan, code: ModelCode, core: str) -> list[dict[str, Any]]:
    """Every generated op's figures (a patch stage has one per tile and per region copy), before grouping."""
    split = _live_split(graph, plan)
    rows = []
    for layer in code.layers:
        op, i = layer.op, layer.index
        weights = layer.flash_bytes(Role.WEIGHTS)
        rows.append(
            {
                "op": op.type,
                "cycles": op_cycles(op, plan.kernels[i], core, i in plan.in_place),
                "kernel": plan.kernels[i].library,
                "in_place": i in plan.in_place,
                "macs": definition(op).macs(op),
                "live_bytes": plan.live_bytes[i],
                "live_activations_bytes": split[i]["activations"],
                "live_io_bytes": split[i]["io"],
                "scratch_bytes": split[i]["scratch"],
                "weights_bytes": weights,
                "constants_bytes": layer.const_bytes - weights,
                "view": not layer.code,
            }
        )
    return rows


def _layer(index: int, op: Operator, rows: list[dict[str, Any]], tiles: int, whole_macs: int) -> dict[str, Any]:
    """One layer of the model from the generated ops that run it: MACs, flash and ops summed (the region copies of a
    patch stage included), SRAM as live at the busiest of them."""
    calls = [r for r in rows if r["op"] != COPY]
    busiest = max(rows, key=lambda r: r["live_bytes"])
    kernels = Counter(r["kernel"] for r in calls)
    return {
        "index": index,
        "op": op.type,
        "output": op.outputs[0].name,
        "input_shapes": [list(t.shape) for t in op.inputs if t is not None and not t.is_const and not t.variable],
        "output_shape": list(op.outputs[0].shape),
        "kernel": "+".join(k for k, _ in kernels.most_common()),
        "in_place": all(r["in_place"] for r in calls),
        "tiles": tiles,
        "ops": len(rows),
        "macs": sum(r["macs"] for r in rows),
        "unpatched_macs": whole_macs,
        "cycles": sum(r["cycles"] for r in rows),
        "live_bytes": busiest["live_bytes"],
        "live_activations_bytes": busiest["live_activations_bytes"],
        "live_io_bytes": busiest["live_io_bytes"],
        "scratch_bytes": busiest["scratch_bytes"],
        "bits": _bits(op),
        "weights_bytes": sum(r["weights_bytes"] for r in rows),
        "constants_bytes": sum(r["constants_bytes"] for r in rows),
        "view": all(r["view"] for r in rows),
    }


def _bits(op: Operator) -> dict[str, int | None]:
    """The bits of a layer's weights (None without weights) and of its output, as the graph's types hold them."""
    weights = definition(op).inputs_with(op, Role.WEIGHTS)
    return {"weights": weights[0].type.bits if weights else None, "output": op.outputs[0].type.bits}


def _precision(model_path: str, graph: Graph) -> dict[str, Any] | None:
    """What `tinyml quantize --board` recorded in the model of its choice of bits per layer, or None: the target
    and budgets it chose for, the memory at 8 bits and as chosen, and per layer its bits, the memory they save and
    its row in `layers` (`graph` is the graph those rows number)."""
    from tinyml.quant import metadata

    path = Path(model_path)
    try:
        entry = metadata.read(path.read_bytes()) if path.is_file() else None
    except OSError:
        return None
    mixed = entry.get("mixed") if entry else None
    if not isinstance(mixed, dict):
        return None
    position = {op.index: k for k, op in enumerate(graph.ops)}  # the file's operator -> the report's layer
    return {
        "rule": mixed["rule"],
        "board": mixed["board"],
        "kernels": mixed["kernels"],
        "budgets": mixed["budgets"],
        "int8": mixed["int8"],
        "chosen": mixed["chosen"],
        "layers": {
            name: {
                "layer": position.get(layer["op"]),
                "weights": layer["weights"],
                "activations": layer["activations"],
                "saved": layer["saved"],
            }
            for name, layer in mixed["layers"].items()
        },
    }


def _layers(planned: Planned, code: ModelCode, core: str) -> list[dict[str, Any]]:
    """One entry per layer of the model as written (before patch expansion), in execution order."""
    rows = _op_rows(planned.graph, planned.plan, code, core)
    whole = planned.unpatched or planned
    groups = layer_groups(planned.graph)
    if len(groups) != len(whole.graph.ops):
        raise AssertionError(f"{len(groups)} layer groups for the {len(whole.graph.ops)} layers of the model")
    return [
        _layer(
            k,
            op,
            [rows[i] for i in positions],
            tile_count(planned.graph, positions),
            definition(op).macs(op),
        )
        for k, (op, positions) in enumerate(zip(whole.graph.ops, groups, strict=True))
    ]


def _patch_stage(
    planned: Planned, code: ModelCode, layers: list[dict[str, Any]], peak: int, board: Board, backend: Backend
) -> dict[str, Any] | None:
    """What the patch stage saves (peak SRAM) and costs (MACs, code, runtime RAM) against the layer-by-layer plan
    the planner compared it with; None without one. Code and runtime RAM are estimated for both, so alike."""
    config, flat = planned.patches, planned.unpatched
    if config is None or flat is None:
        return None
    stage = layers[: config.split]
    flat_code = render_model(flat.graph, flat.plan, board, backend, layers_only=True)
    unpatched_peak = flat.plan.peak + flat.plan.outside_bytes
    macs = sum(layer["macs"] for layer in stage)
    whole = sum(layer["unpatched_macs"] for layer in stage)
    return {
        "grid": [config.rows, config.cols],
        "tiles": stage[0]["tiles"],
        "layers": [layer["index"] for layer in stage],
        "peak_bytes": peak,
        "unpatched_peak_bytes": unpatched_peak,
        "saved_bytes": unpatched_peak - peak,
        "macs": macs,
        "unpatched_macs": whole,
        "extra_macs": macs - whole,
        "mac_overhead": round(planned.mac_overhead, 4),
        "extra_code_bytes": code_estimate(code) - code_estimate(flat_code),
        "extra_runtime_bytes": runtime_ram_estimate(code) - runtime_ram_estimate(flat_code)
        if board.kind == "mcu"
        else 0,
    }


def build_report(
    planned: Planned,
    code: ModelCode,
    board: Board,
    model_path: str,
    backend: Backend = PORTABLE,
    *,
    elf: Path | None = None,
    elf_flash_bytes: int | None = None,
    elf_ram_bytes: int | None = None,
    stack_bytes: int | None = None,
    sram_budget: int | None = None,
    flash_budget: int | None = None,
    prefer: str = "speed",
    smallest_peak: int | None = None,
) -> dict[str, Any]:
    """The report as plain data (what `--json` prints; fields in docs/report-schema.md).

    `planned` is the planner's result `code` was rendered from; with a patch stage its layers are grouped back into
    the model's own and compared with the layer-by-layer plan. `elf` and its sizes come from a firmware image
    already built for this model and board; without them code and runtime RAM are estimates. Explicit budgets
    replace the board's RAM or flash capacity. `smallest_peak` is the smallest peak SRAM `--prefer memory` reaches
    (this plan's own peak when not given).
    """
    from tinyml.target.firmware import DEFAULT_STACK_SIZE

    graph, plan = planned.graph, planned.plan
    mcu = board.kind == "mcu"
    external_io = sum(plan.external.values())  # --io external: I/O buffers outside the arena
    state = plan.state_bytes  # stateful ops' persistent state, outside the arena too
    core = core_name(board)
    layers = _layers(planned, code, core)

    peak_layer = max(range(len(layers)), key=lambda i: layers[i]["live_bytes"]) if layers else None
    at_peak = layers[peak_layer] if peak_layer is not None else None
    sram = {
        "peak_bytes": plan.peak + external_io + state,
        "arena_bytes": plan.peak,
        "activations_bytes": at_peak["live_activations_bytes"] if at_peak else 0,
        "scratch_bytes": at_peak["scratch_bytes"] if at_peak else 0,
        "io_bytes": (at_peak["live_io_bytes"] if at_peak else 0) + external_io,
        "fragmentation_bytes": plan.peak - (at_peak["live_bytes"] if at_peak else 0),
        "external_io_bytes": external_io,
        "state_bytes": state,
        "peak_layer": peak_layer,
        "smallest_peak_bytes": plan.peak + external_io + state if smallest_peak is None else smallest_peak,
        "largest_scratch_bytes": max((s for _, s in plan.scratch.values()), default=0),
        "planner": {"strategy": plan.strategy, "candidates": plan.candidates, "live_set_bound": plan.live_set_bound},
    }

    weights = sum(layer["weights_bytes"] for layer in layers)
    measured_flash = elf is not None and elf_flash_bytes is not None
    code_bytes = elf_flash_bytes - code.const_bytes if measured_flash else code_estimate(code)
    flash = {
        "total_bytes": code.const_bytes + code_bytes,
        "weights_bytes": weights,
        "constants_bytes": code.const_bytes - weights,
        "code_bytes": code_bytes,
        "code_source": "elf" if measured_flash else "estimate",
        "elf": str(elf) if elf is not None else None,
    }

    stack = (DEFAULT_STACK_SIZE if stack_bytes is None else stack_bytes) if mcu else 0
    if not mcu:
        runtime, ram_source = 0, "plan"
    elif elf_ram_bytes is not None:
        runtime, ram_source = elf_ram_bytes - plan.peak - external_io - state - stack, "elf"
    else:
        runtime, ram_source = runtime_ram_estimate(code), "estimate"
    ram = {
        "total_bytes": plan.peak + external_io + state + stack + runtime,
        "arena_bytes": plan.peak,
        "external_io_bytes": external_io,
        "state_bytes": state,
        "stack_bytes": stack,
        "runtime_bytes": runtime,
        "source": ram_source,
    }

    capacity = _region_sizes(board) if mcu else {}
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "tinyml": __version__,
        "model": {"name": graph.name, "path": model_path, "sha256": graph.source_hash},
        "board": {
            "name": board.name,
            "kind": board.kind,
            "ram_bytes": capacity.get("ram"),
            "flash_bytes": capacity.get("flash"),
        },
        "kernels": backend.name,
        "prefer": prefer,
        "macs": sum(layer["macs"] for layer in layers),
        "latency": _latency(sum(layer["cycles"] for layer in layers), board, core),
        "patches": _patch_stage(planned, code, layers, sram["peak_bytes"], board, backend),
        "sram": sram,
        "ram": ram,
        "flash": flash,
        "budget": {
            "sram": budget_entry(ram["total_bytes"], sram_budget, capacity.get("ram")),
            "flash": budget_entry(flash["total_bytes"], flash_budget, capacity.get("flash")),
        },
        "fits": None,
        "failures": [],
        "layers": layers,
        "precision": _precision(model_path, (planned.unpatched or planned).graph),
        "baseline": None,
    }
    if any(b is not None for b in report["budget"].values()):
        report["fits"] = fits(report)
    report["failures"] = budget_failures(report)
    return report


def _latency(cycles: int, board: Board, core: str) -> dict[str, Any]:
    """An inference's estimated cycles, and its time at the board's clock (none for the host)."""
    clock = board.raw.get("cpu", {}).get("clock_hz") if board.kind == "mcu" else None
    return {
        "cycles": cycles,
        "ms": round(cycles * 1000 / clock, 4) if clock else None,
        "clock_hz": int(clock) if clock else None,
        "core": core,
        "source": "estimate",
    }


# --- baseline comparison --------------------------------------------------------------------------------------------


# --- formats --------------------------------------------------------------------------------------------------------


# --- plot -----------------------------------------------------------------------------------------------------------
