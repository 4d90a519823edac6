"""Measure stage: memory and compute figures for a planned, rendered model, and the CI budget checks on them.

Every figure comes from the same objects the code is generated from (the plan
and the rendered constants), so the report cannot disagree with the firmware.
Code size and RAM beyond the arena come from a built image when one is at hand,
otherwise from estimates that say so. The report is plain data (`--json`, schema
in docs/report-schema.md); text, Markdown, GitHub workflow commands and the plot
are all drawn from that data alone, so every format shows the same numbers.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from tinyml import __version__
from tinyml.codegen.render import LayerCode, ModelCode, render_model
from tinyml.errors import UsageError
from tinyml.ir.graph import Graph, Operator, Tensor
from tinyml.kernels.backends import PORTABLE, Backend
from tinyml.kernels.portable.region import COPY
from tinyml.plan.memory import MemoryPlan, Planned, align
from tinyml.target.boards import Board

SCHEMA = "tinyml.report/3"
#: report schemas `--baseline` accepts: every figure it compares means the same in these
BASELINE_SCHEMAS = ("tinyml.report/2", SCHEMA)

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

#: the input that holds an op's filter (weights) tensor, by op type
FILTER_INPUT = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1}

_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([km]?)(?:i?b)?\s*$", re.IGNORECASE)
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%?\s*$")

#: every figure a baseline comparison shows: key, label, where it is in the report, headline (--max-growth applies)
FIGURES: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("peak_sram", "peak SRAM", ("sram", "peak_bytes"), True),
    ("activations", "activations", ("sram", "activations_bytes"), False),
    ("scratch", "scratch", ("sram", "scratch_bytes"), False),
    ("io", "input/output", ("sram", "io_bytes"), False),
    ("ram", "RAM on the board", ("ram", "total_bytes"), False),
    ("flash", "flash total", ("flash", "total_bytes"), True),
    ("weights", "weights", ("flash", "weights_bytes"), False),
    ("code", "code", ("flash", "code_bytes"), False),
    ("constants", "constants", ("flash", "constants_bytes"), False),
    ("macs", "MACs", ("macs",), True),
)


# --- option values --------------------------------------------------------------------------------------------------


def parse_size(text: str, option: str) -> int:
    """`300000`, `256K`, `1.5M` (K and M are binary, as memory sizes are) as bytes; UsageError otherwise."""
    m = _SIZE.match(text)
    value = None
    if m:
        try:
            value = int(Decimal(m.group(1)) * _UNITS[m.group(2).lower()])
        except InvalidOperation:
            value = None
    if not value or value <= 0:
        raise UsageError(
            f"{option} {text!r} is not a memory size",
            "give bytes, or K or M (1K = 1024 bytes): 300000, 256K, 1.5M",
        )
    return value


def parse_percent(text: str, option: str) -> float:
    """`5%`, `5`, `0.5%` as a percentage; UsageError otherwise."""
    m = _PERCENT.match(text)
    if not m:
        raise UsageError(f"{option} {text!r} is not a percentage", "give a number of percent: 5%, 0.5%, 10")
    return float(m.group(1))


# --- the report as data ---------------------------------------------------------------------------------------------


def _filter_bytes(layer: LayerCode) -> int:
    """Bytes of this layer's flash arrays that hold its filter tensor, as is or re-laid out for a fast kernel
    (the rest are computed constants)."""
    k = FILTER_INPUT.get(layer.op.type)
    w = layer.op.inputs[k] if k is not None and k < len(layer.op.inputs) else None
    if w is None or w.data is None:
        return 0
    for arr in layer.consts:
        if arr.values is w.data or (arr.values.shape == w.data.shape and np.array_equal(arr.values, w.data)):
            return arr.nbytes
        if "_fast_weights" in arr.name:
            return arr.nbytes
    return 0


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


def _op_rows(graph: Graph, plan: MemoryPlan, code: ModelCode) -> list[dict[str, Any]]:
    """Every generated op's figures (a patch stage has one per tile and per region copy), before grouping."""
    split = _live_split(graph, plan)
    rows = []
    for layer in code.layers:
        op, i = layer.op, layer.index
        weights = _filter_bytes(layer)
        rows.append(
            {
                "op": op.type,
                "kernel": plan.kernels[i].library,
                "in_place": i in plan.in_place,
                "macs": plan.kernels[i].macs(op),
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
        "input_shapes": [list(t.shape) for t in op.inputs if t is not None and not t.is_const],
        "output_shape": list(op.outputs[0].shape),
        "kernel": "+".join(k for k, _ in kernels.most_common()),
        "in_place": all(r["in_place"] for r in calls),
        "tiles": tiles,
        "ops": len(rows),
        "macs": sum(r["macs"] for r in rows),
        "unpatched_macs": whole_macs,
        "live_bytes": busiest["live_bytes"],
        "live_activations_bytes": busiest["live_activations_bytes"],
        "live_io_bytes": busiest["live_io_bytes"],
        "scratch_bytes": busiest["scratch_bytes"],
        "weights_bytes": sum(r["weights_bytes"] for r in rows),
        "constants_bytes": sum(r["constants_bytes"] for r in rows),
        "view": all(r["view"] for r in rows),
    }


def _layers(planned: Planned, code: ModelCode) -> list[dict[str, Any]]:
    """One entry per layer of the model as written (before patch expansion), in execution order."""
    rows = _op_rows(planned.graph, planned.plan, code)
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
            whole.plan.kernels[k].macs(op),
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
    flat_code = render_model(flat.graph, flat.plan, board, backend)
    unpatched_peak = flat.plan.peak + sum(flat.plan.external.values())
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
    prefer: str = "balanced",
) -> dict[str, Any]:
    """The report as plain data (what `--json` prints; fields in docs/report-schema.md).

    `planned` is the planner's result `code` was rendered from; with a patch stage its layers are grouped back into
    the model's own and compared with the layer-by-layer plan. `elf` and its sizes come from a firmware image
    already built for this model and board; without them code and runtime RAM are estimates. Explicit budgets
    replace the board's RAM or flash capacity.
    """
    from tinyml.target.firmware import DEFAULT_STACK_SIZE

    graph, plan = planned.graph, planned.plan
    mcu = board.kind == "mcu"
    external_io = sum(plan.external.values())  # --io external: I/O buffers outside the arena
    layers = _layers(planned, code)

    peak_layer = max(range(len(layers)), key=lambda i: layers[i]["live_bytes"]) if layers else None
    at_peak = layers[peak_layer] if peak_layer is not None else None
    sram = {
        "peak_bytes": plan.peak + external_io,
        "arena_bytes": plan.peak,
        "activations_bytes": at_peak["live_activations_bytes"] if at_peak else 0,
        "scratch_bytes": at_peak["scratch_bytes"] if at_peak else 0,
        "io_bytes": (at_peak["live_io_bytes"] if at_peak else 0) + external_io,
        "fragmentation_bytes": plan.peak - (at_peak["live_bytes"] if at_peak else 0),
        "external_io_bytes": external_io,
        "peak_layer": peak_layer,
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
        runtime, ram_source = elf_ram_bytes - plan.peak - external_io - stack, "elf"
    else:
        runtime, ram_source = runtime_ram_estimate(code), "estimate"
    ram = {
        "total_bytes": plan.peak + external_io + stack + runtime,
        "arena_bytes": plan.peak,
        "external_io_bytes": external_io,
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
        "patches": _patch_stage(planned, code, layers, sram["peak_bytes"], board, backend),
        "sram": sram,
        "ram": ram,
        "flash": flash,
        "budget": {
            "sram": _budget(ram["total_bytes"], sram_budget, capacity.get("ram")),
            "flash": _budget(flash["total_bytes"], flash_budget, capacity.get("flash")),
        },
        "fits": None,
        "failures": [],
        "layers": layers,
        "baseline": None,
    }
    if any(b is not None for b in report["budget"].values()):
        report["fits"] = _fits(report)
    report["failures"] = _budget_failures(report)
    return report


def _budget(used: int, explicit: int | None, capacity: int | None) -> dict[str, Any] | None:
    limit, source = (explicit, "option") if explicit is not None else (capacity, "board")
    if limit is None:
        return None
    return {
        "limit_bytes": limit,
        "used_bytes": used,
        "left_bytes": limit - used,
        "used_percent": round(100 * used / limit, 2),
        "source": source,
        "ok": used <= limit,
    }


def _fits(report: dict[str, Any]) -> bool:
    return all(b["ok"] for b in report["budget"].values() if b is not None)


def _budget_name(report: dict[str, Any], which: str) -> str:
    budget = report["budget"][which]
    if budget["source"] == "option":
        return f"--{which}-budget of {budget['limit_bytes']:,} bytes"
    region = "RAM" if which == "sram" else "flash"
    return f"{report['board']['name']}'s {budget['limit_bytes']:,}-byte {region}"


def _budget_failures(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per budget the model is over, each naming the layer responsible."""
    failures = []
    name = report["model"]["name"]
    sram = report["budget"]["sram"]
    if sram is not None and not sram["ok"]:
        ram, s = report["ram"], report["sram"]
        extra = " and ".join(
            f"{n:,} {what}" for n, what in ((ram["stack_bytes"], "stack"), (ram["runtime_bytes"], "runtime")) if n
        )
        where = f" {_peak_where(report)}" if s["peak_layer"] is not None else ""
        failures.append(
            {
                "kind": "budget",
                "figure": "sram",
                "message": f"{name} needs {ram['total_bytes']:,} bytes of SRAM, {-sram['left_bytes']:,} over the "
                f"{_budget_name(report, 'sram')}: its peak is {s['peak_bytes']:,} bytes{where}"
                + (f", plus {extra}" if extra else ""),
            }
        )
    flash = report["budget"]["flash"]
    if flash is not None and not flash["ok"]:
        f = report["flash"]
        layers = report["layers"]
        big = max(layers, key=lambda x: x["weights_bytes"] + x["constants_bytes"]) if layers else None
        where = (
            f"; the largest layer is {big['index']} {big['op']} with {big['weights_bytes'] + big['constants_bytes']:,}"
            " bytes"
            if big
            else ""
        )
        code_note = " (estimate)" if f["code_source"] == "estimate" else ""
        failures.append(
            {
                "kind": "budget",
                "figure": "flash",
                "message": f"{name} needs {f['total_bytes']:,} bytes of flash, {-flash['left_bytes']:,} over the "
                f"{_budget_name(report, 'flash')}: weights {f['weights_bytes']:,}, code {f['code_bytes']:,}"
                f"{code_note}, constants {f['constants_bytes']:,}{where}",
            }
        )
    return failures


# --- baseline comparison --------------------------------------------------------------------------------------------


def _figure(report: dict[str, Any], path: tuple[str, ...]) -> int:
    value: Any = report
    for key in path:
        value = value[key]
    if not isinstance(value, int):
        raise TypeError(f"{'.'.join(path)} is not an integer")
    return value


def load_baseline(path: Path) -> dict[str, Any]:
    """A report saved with `--json`, checked to be one this version can compare with.

    Version 2 reports are accepted: every compared figure means the same there (their per-layer rows differ for
    patch stages, and no comparison reads those).
    """
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise UsageError(f"cannot read baseline {path}: {e.strerror}", "save one with `tinyml report --json`") from None
    except (ValueError, UnicodeDecodeError):
        raise UsageError(
            f"baseline {path} is not JSON", "save one with `tinyml report MODEL --json > OLD.json`"
        ) from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema not in BASELINE_SCHEMAS:
        raise UsageError(
            f"baseline {path} has schema {schema!r}, not {' or '.join(map(repr, BASELINE_SCHEMAS))}",
            "regenerate it with this tinyml: `tinyml report MODEL --json > OLD.json`",
        )
    for where in (("model", "name"), ("model", "sha256")):
        if not isinstance(_lookup(data, *where), str):
            raise UsageError(
                f"baseline {path} has no {'.'.join(where)}: it cannot show which model it is",
                "regenerate it with `tinyml report MODEL --json > OLD.json`",
            )
    for _, _, where, _ in FIGURES:
        try:
            _figure(data, where)
        except (KeyError, TypeError):
            raise UsageError(
                f"baseline {path} has no integer {'.'.join(where)}", "regenerate it with `tinyml report --json`"
            ) from None
    return data


def _lookup(data: dict[str, Any], *keys: str) -> Any:
    """data[k1][k2]..., or None where the baseline lacks it (only the figures are required)."""
    value: Any = data
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _check_same_model(report: dict[str, Any], baseline: dict[str, Any], path: str) -> None:
    """Refuse a baseline of another model: its figures would differ for reasons that are not a change.

    The same file (sha256), or a model of the same name changed since (retrained, re-quantized: what baselines are
    for), compares; a model of another name and content does not.
    """
    old_name, old_hash = _lookup(baseline, "model", "name"), _lookup(baseline, "model", "sha256")
    model = report["model"]
    if old_hash != model["sha256"] and old_name != model["name"]:
        raise UsageError(
            f"baseline {path} is a report of model {old_name} (sha256 {old_hash[:12]}), not of {model['name']} "
            f"(sha256 {model['sha256'][:12]})",
            f"compare with a report of {model['name']}: `tinyml report {model['path']} --json > OLD.json`",
        )


def compare(report: dict[str, Any], baseline: dict[str, Any], path: str, max_growth: float | None) -> None:
    """Add the change of every figure since `baseline`, and a failure for each headline figure that grew too much.

    A baseline of another model is refused (UsageError), before anything is added."""
    _check_same_model(report, baseline, path)
    figures = []
    for key, label, where, headline in FIGURES:
        old, new = _figure(baseline, where), _figure(report, where)
        percent = round(100 * (new - old) / old, 2) if old else None
        grew_too_much = (
            headline
            and max_growth is not None
            and new > old
            and (percent is None or 100 * (new - old) > max_growth * old)
        )
        figures.append(
            {
                "figure": key,
                "label": label,
                "headline": headline,
                "old": old,
                "new": new,
                "change": new - old,
                "percent": percent,
                "exceeded": bool(grew_too_much),
            }
        )
        if grew_too_much:
            pct = f"{percent:.1f}%" if percent is not None else "from 0"
            report["failures"].append(
                {
                    "kind": "growth",
                    "figure": key,
                    "message": f"{label} grew {pct} ({old:,} -> {new:,}) since {path}, more than --max-growth "
                    f"{max_growth:g}%",
                }
            )
    report["baseline"] = {
        "path": path,
        "model": _lookup(baseline, "model", "name"),
        "sha256": _lookup(baseline, "model", "sha256"),
        "schema": baseline["schema"],
        "board": _lookup(baseline, "board", "name"),
        "code_source": _lookup(baseline, "flash", "code_source"),
        "max_growth_percent": max_growth,
        "figures": figures,
    }


def failure_fix(report: dict[str, Any]) -> str:
    """The fix line for the failures of a report."""
    kinds = {f["kind"] for f in report["failures"]}
    fixes = []
    over_sram = any(f["kind"] == "budget" and f["figure"] == "sram" for f in report["failures"])
    if over_sram and report["prefer"] != "memory" and report["kernels"] != "portable":  # portable: one kernel per op
        fixes.append("try --prefer memory (slower kernels where they save SRAM)")
    if "budget" in kinds:
        fixes.append("shrink the model, or raise the budget or use a board with more memory")
    if "growth" in kinds:
        fixes.append("if the growth is intended, regenerate the baseline with --json")
    return "; ".join(fixes)


# --- formats --------------------------------------------------------------------------------------------------------


def _change(report: dict[str, Any], key: str) -> str:
    base = report.get("baseline")
    if not base:
        return ""
    for f in base["figures"]:
        if f["figure"] == key:
            if not f["change"]:
                return "±0"
            pct = "new" if f["percent"] is None else f"{f['percent']:+.1f}%"
            return f"{f['change']:+,} ({pct})" + (" over --max-growth" if f["exceeded"] else "")
    return ""


def _peak_where(report: dict[str, Any]) -> str:
    i = report["sram"]["peak_layer"]
    if i is None:
        return ""
    layer = report["layers"][i]
    return f"at layer {i} {layer['op']}" + (", in the patch stage" if layer["tiles"] > 1 else "")


def _patch_summary(report: dict[str, Any]) -> tuple[str, str, str] | None:
    """The patch stage in three phrases: what runs tile by tile, what it saves, what it costs; None without one."""
    p = report.get("patches")
    if not p:
        return None
    covered = [report["layers"][i] for i in p["layers"]]
    first, last = covered[0]["index"], covered[-1]["index"]
    span = f"layer {first}" if first == last else f"layers {first}-{last}"
    what = f"{p['grid'][0]}x{p['grid'][1]} tiles over {span} ({', '.join(layer['op'] for layer in covered)})"
    verb = "saves" if p["saved_bytes"] >= 0 else "adds"
    saves = (
        f"{verb} {abs(p['saved_bytes']):,} bytes of peak SRAM: {p['peak_bytes']:,} instead of "
        f"{p['unpatched_peak_bytes']:,} layer by layer"
    )
    extra = f"{p['extra_code_bytes']:,} bytes of code" + (
        f" and {p['extra_runtime_bytes']:,} of runtime RAM" if p["extra_runtime_bytes"] else ""
    )
    costs = f"costs {p['mac_overhead']:.2f}x MACs ({p['extra_macs']:+,}, halos recomputed) and an estimated {extra}"
    return what, saves, costs


def _layer_patches(layer: dict[str, Any]) -> str:
    """A patch-stage layer's tile count and MAC overhead; empty for a layer run whole."""
    if layer["tiles"] <= 1:
        return ""
    factor = f", {layer['macs'] / layer['unpatched_macs']:.2f}x MACs" if layer["unpatched_macs"] else ""
    return f"{layer['tiles']} tiles{factor}"


def _summary_rows(report: dict[str, Any]) -> list[tuple[str, int, str, str]]:
    """(label, value, note, baseline key) for the headline table every format shows."""
    s, r, f = report["sram"], report["ram"], report["flash"]
    planner = s["planner"]
    rows = [
        (
            "peak SRAM",
            s["peak_bytes"],
            f"{_peak_where(report)}; planner {planner['strategy']}, live-set bound {planner['live_set_bound']:,}",
            "peak_sram",
        ),
        ("  activations", s["activations_bytes"], "intermediate tensors live at the peak", "activations"),
        ("  scratch", s["scratch_bytes"], "kernel scratch live at the peak", "scratch"),
        ("  input/output", s["io_bytes"], "model inputs and outputs live at the peak", "io"),
    ]
    if s["fragmentation_bytes"]:
        rows.append(("  fragmentation", s["fragmentation_bytes"], "arena gaps no buffer uses at the peak", ""))
    if report["board"]["kind"] == "mcu":
        source = {"elf": "measured", "estimate": "estimate"}[r["source"]]
        note = f"arena + {r['stack_bytes']:,} stack + {r['runtime_bytes']:,} runtime ({source})"
    else:
        note = "arena only: the host program's stack and statics are not counted"
    rows.append(("RAM on the board", r["total_bytes"], note, "ram"))
    rows += [
        ("flash total", f["total_bytes"], "", "flash"),
        ("  weights", f["weights_bytes"], "filter tensors", "weights"),
        (
            "  code",
            f["code_bytes"],
            f"measured in {f['elf']}"
            if f["code_source"] == "elf"
            else "estimate (nothing built yet)"
            if report["board"]["kind"] == "mcu"
            else "estimate for a Cortex-M image",
            "code",
        ),
        ("  constants", f["constants_bytes"], "biases, requantization, other tensors", "constants"),
        ("MACs", report["macs"], "multiply-accumulates per inference", "macs"),
    ]
    return rows


def _budget_line(report: dict[str, Any], which: str) -> str:
    """One budget as `SRAM used of limit bytes (%, whose): left` (the budget must exist)."""
    b = report["budget"][which]
    region, board_region = ("SRAM", "RAM") if which == "sram" else ("flash", "flash")
    source = f"--{which}-budget" if b["source"] == "option" else f"{report['board']['name']} {board_region}"
    verdict = f"{b['left_bytes']:,} left" if b["ok"] else f"DOES NOT FIT, {-b['left_bytes']:,} over"
    return f"{region} {b['used_bytes']:,} of {b['limit_bytes']:,} bytes ({b['used_percent']:.1f}%, {source}): {verdict}"


def _baseline_notes(report: dict[str, Any]) -> list[str]:
    """What to keep in mind reading the changes: the model file changed since, code sizes obtained differently."""
    base = report.get("baseline")
    if not base:
        return []
    notes = []
    if base["sha256"] != report["model"]["sha256"]:
        notes.append(
            f"the model file changed since the baseline (sha256 {base['sha256'][:12]} -> "
            f"{report['model']['sha256'][:12]})"
        )
    now = report["flash"]["code_source"]
    if base["code_source"] and base["code_source"] != now:
        how = {"elf": "measured", "estimate": "estimated"}
        notes.append(
            f"the baseline's code size was {how.get(base['code_source'], base['code_source'])} and this one is "
            f"{how.get(now, now)}: their difference is not only the model's"
        )
    return notes


def _shape(shape: list[int]) -> str:
    return "x".join(str(d) for d in shape) or "scalar"


def format_text(report: dict[str, Any]) -> str:
    """A human-readable table of the report."""
    base = report.get("baseline")
    lines = [
        f"model {report['model']['name']} on {report['board']['name']} (kernels {report['kernels']})",
    ]
    for label, value, note, key in _summary_rows(report):
        change = _change(report, key) if key else ""
        change = f"  [{change}]" if change else ""
        lines.append(f"  {label:<18} {value:>12,}  {note}{change}".rstrip())
    patches = _patch_summary(report)
    if patches:
        what, saves, costs = patches
        lines += [f"  patch-based inference: {what}", f"    {saves}", f"    {costs}"]
    for which in ("sram", "flash"):
        if report["budget"][which] is not None:
            lines.append(f"  budget: {_budget_line(report, which)}")
    if base:
        lines.append(
            f"  baseline: {base['path']} ({base['model']} on {base['board']})"
            + (f", max growth {base['max_growth_percent']:g}%" if base["max_growth_percent"] is not None else "")
        )
        lines += [f"  note: {note}" for note in _baseline_notes(report)]
    width = max((len(_layer_patches(layer)) for layer in report["layers"]), default=0)
    lines += [
        "",
        f"  {'#':>3} {'op':<20} {'kernel':<17} {'input shapes':<22} {'output shape':<15} {'MACs':>11} {'live':>8} "
        f"{'scratch':>8} {'weights':>8} {'consts':>7}" + (f" {'patches':<{width}}" if width else ""),
    ]
    for layer in report["layers"]:
        inputs = ", ".join(_shape(s) for s in layer["input_shapes"])
        mark = " <- peak" if layer["index"] == report["sram"]["peak_layer"] else ""
        lines.append(
            f"  {layer['index']:>3} {layer['op']:<20} {_kernel(layer):<17} {inputs:<22} "
            f"{_shape(layer['output_shape']):<15} {layer['macs']:>11,} {layer['live_bytes']:>8,} "
            f"{layer['scratch_bytes']:>8,} {layer['weights_bytes']:>8,} {layer['constants_bytes']:>7,}"
            + (f" {_layer_patches(layer):<{width}}" if width else "")
            + mark
        )
    return "\n".join(line.rstrip() for line in lines)


def _kernel(layer: dict[str, Any]) -> str:
    """Whose kernel runs a layer, and whether it writes over its input."""
    return "-" if layer["view"] else layer["kernel"] + (" in place" if layer["in_place"] else "")


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("<", "&lt;")


def format_markdown(report: dict[str, Any]) -> str:
    """A pull-request comment: the summary table, the verdict, and the per-layer table folded in <details>."""
    base = report.get("baseline")
    budgets = {"RAM on the board": report["budget"]["sram"], "flash total": report["budget"]["flash"]}
    head = "| figure | bytes | budget | left |" + (" change |" if base else "") + " note |"
    rule = "|:--|--:|--:|--:|" + ("--:|" if base else "") + ":--|"
    lines = [
        f"### tinyml memory report: `{report['model']['name']}` on `{report['board']['name']}`",
        "",
        head,
        rule,
    ]
    for label, value, note, key in _summary_rows(report):
        b = budgets.get(label)
        limit = left = ""
        if b is not None:
            limit = f"{b['limit_bytes']:,}" + (" (option)" if b["source"] == "option" else " (board)")
            left = (
                f"{b['left_bytes']:,} ({100 - b['used_percent']:.1f}% free)" if b["ok"] else f"**{b['left_bytes']:,}**"
            )
        name = f"&nbsp;&nbsp;{label.strip()}" if label.startswith("  ") else f"**{label}**"
        change = f" {_md(_change(report, key))} |" if base else ""
        lines.append(f"| {name} | {value:,} | {limit} | {left} |{change} {_md(note)} |")
    lines.append("")
    failures = report["failures"]
    if failures:
        lines += [f"❌ **{_md(f['message'])}**" for f in failures]
    elif report["fits"]:
        lines.append("✅ Within budget.")
    else:
        lines.append("No budget given (use `--board` or `--sram-budget` / `--flash-budget`).")
    patches = _patch_summary(report)
    if patches:
        what, saves, costs = patches
        lines += ["", f"**Patch-based inference** is on: {_md(what)}. It {_md(saves)}; it {_md(costs)}."]
    if base:
        note = "".join(f" Note: {note}." for note in _baseline_notes(report))
        lines += ["", f"Compared with `{base['path']}` ({base['model']} on {base['board']}).{note}"]
    lines += [
        "",
        f"<details><summary>{len(report['layers'])} layers (peak {_peak_where(report) or 'none'})</summary>",
        "",
        "| # | op | kernel | input shapes | output shape | MACs | live bytes | scratch | weights | constants |"
        + (" patches |" if patches else ""),
        "|--:|:--|:--|:--|:--|--:|--:|--:|--:|--:|" + (":--|" if patches else ""),
    ]
    for layer in report["layers"]:
        peak = layer["index"] == report["sram"]["peak_layer"]
        live = f"**{layer['live_bytes']:,}**" if peak else f"{layer['live_bytes']:,}"
        inputs = ", ".join(_shape(s) for s in layer["input_shapes"])
        lines.append(
            f"| {layer['index']} | {layer['op']} | {_kernel(layer)} | {inputs} | {_shape(layer['output_shape'])} | "
            f"{layer['macs']:,} | "
            f"{live} | {layer['scratch_bytes']:,} | {layer['weights_bytes']:,} | {layer['constants_bytes']:,} |"
            + (f" {_layer_patches(layer)} |" if patches else "")
        )
    lines += [
        "",
        "</details>",
        "",
        f"<sub>tinyml {report['tinyml']}, kernels {report['kernels']}, model sha256 "
        f"`{report['model']['sha256'][:12]}`, schema {report['schema']}</sub>",
    ]
    return "\n".join(lines)


def _gh_data(text: str) -> str:
    """A workflow command's message, escaped as GitHub's runner expects."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    """A workflow command's property value (title=...): data escaping plus ':' and ','."""
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(report: dict[str, Any]) -> str:
    """GitHub Actions workflow commands: the text report in a log group, then ::error per failure or one ::notice."""
    where = f"{report['model']['name']} on {report['board']['name']}"
    lines = [f"::group::{_gh_data('tinyml memory report: ' + where)}", format_text(report), "::endgroup::"]
    labels = {key: label for key, label, _, _ in FIGURES}
    for f in report["failures"]:
        if f["kind"] == "budget":
            title = f"tinyml: {where}: over the {'SRAM' if f['figure'] == 'sram' else 'flash'} budget"
        else:
            title = f"tinyml: {where}: {labels.get(f['figure'], f['figure'])} grew"
        lines.append(f"::error title={_gh_property(title)}::{_gh_data(f['message'])}")
    if not report["failures"]:
        s, f, r = report["sram"], report["flash"], report["ram"]
        code = f"code {f['code_bytes']:,}" + (" (estimate)" if f["code_source"] == "estimate" else "")
        parts = [
            f"peak SRAM {s['peak_bytes']:,} bytes {_peak_where(report)} (activations {s['activations_bytes']:,}, "
            f"scratch {s['scratch_bytes']:,}, I/O {s['io_bytes']:,})",
            f"RAM {r['total_bytes']:,}",
            f"flash {f['total_bytes']:,} (weights {f['weights_bytes']:,}, {code}, constants {f['constants_bytes']:,})",
            f"MACs {report['macs']:,}",
        ]
        patches = _patch_summary(report)
        if patches:
            parts.append("patch-based inference: {}, {}, {}".format(*patches))
        parts += [_budget_line(report, w) for w in ("sram", "flash") if report["budget"][w] is not None]
        if report.get("baseline"):
            headline = [g for g in report["baseline"]["figures"] if g["headline"]]
            parts.append(
                "since baseline: " + ", ".join(f"{g['label']} {_change(report, g['figure'])}" for g in headline)
            )
        lines.append(f"::notice title={_gh_property('tinyml memory: ' + where)}::{_gh_data('; '.join(parts))}")
    return "\n".join(lines)


# --- plot -----------------------------------------------------------------------------------------------------------

PLOT_FORMATS = ("svg", "png")
#: up to this many layers the plot names each one; beyond, it numbers them
PLOT_NAMED_LAYERS = 40


def plot_timeline(report: dict[str, Any], fmt: str) -> bytes:
    """The memory timeline: SRAM live during each layer, stacked by kind, with the peak and the budget marked.

    One step per layer of the model: a patch-stage layer shows its busiest tile, and the stage is shaded, with the
    layer-by-layer peak it replaced drawn for comparison.

    matplotlib is imported here only, with the non-interactive Agg backend, so `report` without --plot stays fast.
    Text stays text in SVG (svg.fonttype none), so the figures in it can be searched and tested.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    layers = report["layers"]
    s = report["sram"]
    n = len(layers)
    x = np.arange(n)
    ext = s["external_io_bytes"]
    acts = np.array([layer["live_activations_bytes"] for layer in layers], dtype=float)
    io_ = acts + [layer["live_io_bytes"] + ext for layer in layers]
    total = io_ + [layer["scratch_bytes"] for layer in layers]
    named = n <= PLOT_NAMED_LAYERS
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "tinyml", "font.size": 9}):
        fig = Figure(figsize=(min(max(6.0, 0.3 * n), 14.0) + 3.5, 5.0))
        ax = fig.subplots()
        # stacked steps, one polygon per kind: cheap to draw even for hundreds of layers
        for lower, upper, color, label in (
            (0, acts, "#4C72B0", "activations"),
            (acts, io_, "#DD8452", "input/output"),
            (io_, total, "#55A868", "scratch"),
        ):
            ax.fill_between(x, lower, upper, step="mid", color=color, linewidth=0, label=label)
        peak, p = s["peak_bytes"], s["peak_layer"]
        where = f" at layer {p} {layers[p]['op']}" if p is not None else ""
        ax.axhline(peak, color="black", linestyle="--", linewidth=1, label=f"peak {peak:,} B{where}")
        if p is not None:
            ax.annotate(
                "peak",
                xy=(p, total[p]),
                xytext=(0, 14),
                textcoords="offset points",
                ha="center",
                arrowprops={"arrowstyle": "->"},
            )
        top = peak
        patches = report.get("patches")
        if patches:
            covered = len(patches["layers"])
            grid = f"{patches['grid'][0]}x{patches['grid'][1]}"
            ax.axvspan(
                -0.5,
                covered - 0.5,
                color="#8172B3",
                alpha=0.12,
                linewidth=0,
                label=f"patch stage, {grid} tiles: each layer's busiest tile",
            )
            unpatched = patches["unpatched_peak_bytes"]
            ax.axhline(
                unpatched, color="#8172B3", linestyle=":", linewidth=1.5, label=f"peak without patches {unpatched:,} B"
            )
            top = max(top, unpatched)
        budget = report["budget"]["sram"]
        if budget is not None:
            overhead = report["ram"]["total_bytes"] - peak  # stack and runtime: what the budget must also hold
            line = budget["limit_bytes"] - overhead
            label = f"budget {budget['limit_bytes']:,} B" + (
                f" less {overhead:,} B stack and runtime" if overhead else ""
            )
            if line <= 2 * peak:
                ax.axhline(line, color="#C44E52", linewidth=1.5, label=label)
                top = max(top, line)
            else:  # far above: drawing it would flatten the timeline
                ax.plot([], [], color="#C44E52", linewidth=1.5, label=f"{label} (off the scale)")
        ax.set_ylim(0, top * 1.12 if top > 0 else 1)
        ax.set_xlim(-0.5, max(n - 0.5, 0.5))
        if named:
            ticks = [
                f"{layer['index']} {layer['op']}" + (f" ({layer['tiles']} tiles)" if layer["tiles"] > 1 else "")
                for layer in layers
            ]
            ax.set_xticks(x, ticks, rotation=90, fontsize=7)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=20, integer=True))
            ax.set_xlabel("layer")
        ax.set_ylabel("bytes of SRAM live")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{int(v):,}"))
        ax.set_title(f"{report['model']['name']} on {report['board']['name']}: SRAM by layer")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        out = io.BytesIO()
        fig.savefig(out, format=fmt, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
    return out.getvalue()
