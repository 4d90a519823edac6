"""`tinyml report` as CI uses it: the memory splits, every output format, budgets, baselines and the plot.

Everything runs through the command line (`python -m tinyml report ...`) on the MLPerf Tiny models, with an
empty cache so code sizes are estimates unless a test builds firmware first.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import REPO, mlperf_dir, tinyml

from tinyml.frontend.tflite import load_model
from tinyml.ops import definition
from tinyml.passes import optimize

MODELS = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "str_ww_ref_model", "vww_96_int8"]
BOARD = ["--board", "stm32f746", "--kernels", "portable"]  # portable: the same kernels with or without CMSIS-NN
STM32F746_RAM = 320 * 1024
STM32F746_FLASH = 1024 * 1024


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def report(*args: str, cache: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return tinyml("report", *args, cache=cache, env=env)


def model(name: str) -> str:
    return str(mlperf_dir() / f"{name}.tflite")


_reports: dict[str, dict[str, Any]] = {}


#: VWW with the smallest arena: its first layers patch by patch (by default it fits the STM32F746 layer by layer)
SMALLEST = ("--prefer", "memory")


@pytest.fixture
def json_report(cache: Path):
    """The JSON report of a model on the STM32F746 (with these options), computed once per model and options."""

    def get(name: str, *options: str) -> dict[str, Any]:
        key = " ".join((name, *options))
        if key not in _reports:
            proc = report(model(name), *BOARD, *options, "--json", cache=cache)
            assert proc.returncode == 0, proc.stderr
            _reports[key] = json.loads(proc.stdout)
        return _reports[key]

    return get


def one_line_error(proc: subprocess.CompletedProcess, code: int, *words: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinyml: error: ") and "(fix: " in lines[0], proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


# --- the figures ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_splits_add_up(name, json_report):
    r = json_report(name)
    s, f, ram = r["sram"], r["flash"], r["ram"]
    # peak SRAM = what is live at the peak layer, by kind; these plans reach the live-set bound, so no gaps
    assert s["fragmentation_bytes"] == 0
    assert s["activations_bytes"] + s["scratch_bytes"] + s["io_bytes"] == s["peak_bytes"] > 0
    assert s["peak_bytes"] == s["arena_bytes"] == s["planner"]["live_set_bound"]
    peak = r["layers"][s["peak_layer"]]
    assert peak["live_bytes"] == max(layer["live_bytes"] for layer in r["layers"]) == s["arena_bytes"]
    assert (peak["live_activations_bytes"], peak["scratch_bytes"]) == (s["activations_bytes"], s["scratch_bytes"])
    for layer in r["layers"]:
        assert layer["live_activations_bytes"] + layer["live_io_bytes"] + layer["scratch_bytes"] == layer["live_bytes"]
    # flash = weights + code + constants, and the per-layer arrays add up to the model's
    assert f["weights_bytes"] + f["code_bytes"] + f["constants_bytes"] == f["total_bytes"]
    assert f["weights_bytes"] == sum(layer["weights_bytes"] for layer in r["layers"]) > 0
    assert f["constants_bytes"] == sum(layer["constants_bytes"] for layer in r["layers"]) > 0
    assert f["code_source"] == "estimate" and f["elf"] is None
    # RAM on the board counts the stack and the runtime's statics, estimated as nothing is built
    assert ram["source"] == "estimate" and ram["stack_bytes"] == 8192 and ram["runtime_bytes"] > 0
    assert (
        ram["arena_bytes"] + ram["external_io_bytes"] + ram["state_bytes"] + ram["stack_bytes"] + ram["runtime_bytes"]
        == ram["total_bytes"]
    )
    # the budget left is the board's regions minus those totals
    assert r["budget"]["sram"] == {
        "limit_bytes": STM32F746_RAM,
        "used_bytes": ram["total_bytes"],
        "left_bytes": STM32F746_RAM - ram["total_bytes"],
        "used_percent": round(100 * ram["total_bytes"] / STM32F746_RAM, 2),
        "source": "board",
        "ok": True,
    }
    assert r["budget"]["flash"]["left_bytes"] == STM32F746_FLASH - f["total_bytes"]
    assert r["fits"] is True and r["failures"] == [] and r["baseline"] is None
    assert r["macs"] == sum(layer["macs"] for layer in r["layers"]) > 0
    # one entry per layer of the model, whether or not its first layers run patch by patch
    graph = optimize(load_model(model(name)))
    assert [(layer["index"], layer["op"]) for layer in r["layers"]] == list(enumerate(op.type for op in graph.ops))
    for layer, op in zip(r["layers"], graph.ops, strict=True):
        assert layer["unpatched_macs"] == definition(op).macs(op) <= layer["macs"]
        assert layer["output_shape"] == list(op.outputs[0].shape)
        assert (layer["tiles"], layer["ops"]) == (1, 1) or layer["index"] in r["patches"]["layers"]


def test_weights_are_the_filter_tensors(json_report):
    """AD is ten FULLY_CONNECTED layers: weights are exactly the matrices, constants exactly the int32 biases."""
    r = json_report("ad01_int8")
    dims = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    assert r["flash"]["weights_bytes"] == sum(a * b for a, b in itertools.pairwise(dims))
    assert r["flash"]["constants_bytes"] == 4 * sum(dims[1:])
    assert [layer["op"] for layer in r["layers"]] == ["FULLY_CONNECTED"] * 10


@pytest.mark.parametrize("core", ["portable", "dsp", "mve"])
def test_kernel_flash_bytes_are_what_the_layer_emits(core):
    """Each kernel's `flash_bytes`, by role, is exactly the flash arrays its layer's code refers to (arrays shared
    with earlier layers included): the figures the report and the planner read cannot drift from the code."""
    from tinyml.codegen.render import render_model
    from tinyml.kernels.backends import PORTABLE, Backend, CoreFeatures
    from tinyml.kernels.cmsis_nn import cmsis_kernels
    from tinyml.ops import Role
    from tinyml.plan import PlanOptions, plan_model
    from tinyml.target.boards import load_board

    backend = PORTABLE if core == "portable" else Backend("cmsis-nn", cmsis_kernels(CoreFeatures(True, core == "mve")))
    libraries = set()
    for name in ("kws_ref_model", "vww_96_int8", "ad01_int8", "pretrainedResnet_quant"):
        planned = plan_model(optimize(load_model(model(name))), backend, PlanOptions(prefer="speed"))
        code = render_model(planned.graph, planned.plan, load_board("host"), backend)
        arrays = {c.name: c for c in code.consts}
        for i, (layer, kernel) in enumerate(zip(code.layers, planned.plan.kernels, strict=True)):
            used = [arrays[n] for n in dict.fromkeys(re.findall(r"\b(model_op\w+)\b", layer.code)) if n in arrays]
            emitted = {role: sum(c.nbytes for c in used if c.role is role) for role in Role}
            expected = kernel.flash_bytes(layer.op, i in planned.plan.in_place)
            assert {r: n for r, n in emitted.items() if n} == expected, (name, layer.index, kernel.library)
            libraries.add(kernel.library)
    # every library's kernels were checked (which one runs a layer is the cost model's choice)
    assert libraries >= {"portable": {"portable"}, "dsp": {"portable", "cmsis-nn", "fast"}, "mve": {"cmsis-nn"}}[core]


def test_layers_name_their_kernel(json_report):
    """KWS on the portable kernels: each depthwise and pointwise layer writes over its input; views run nothing."""
    layers = json_report("kws_ref_model")["layers"]
    assert {layer["kernel"] for layer in layers} == {"portable"}
    for layer in layers:
        pointwise = layer["op"] == "CONV_2D" and layer["input_shapes"][0][1:3] == layer["output_shape"][1:3]
        assert layer["in_place"] == (layer["op"] == "DEPTHWISE_CONV_2D" or pointwise), layer


# --- the plan: the fastest that fits, the smallest when nothing does ----------------------------------------------


def test_latency_is_estimated_per_layer(cache, json_report):
    """Cycles per layer and in total from the cost model on the board's core, and the time at its clock, in every
    format; a patch-stage layer sums its tiles and region copies."""
    r = json_report("kws_ref_model")
    lat = r["latency"]
    assert lat["cycles"] == sum(layer["cycles"] for layer in r["layers"]) > 0
    assert (lat["core"], lat["clock_hz"], lat["source"]) == ("cortex-m7", 216_000_000, "estimate")
    assert lat["ms"] == round(lat["cycles"] * 1000 / 216e6, 4)
    assert all((layer["cycles"] == 0) == layer["view"] for layer in r["layers"])
    patched = json_report("vww_96_int8", *SMALLEST)
    stage = patched["layers"][: len(patched["patches"]["layers"])]
    flat = json_report("vww_96_int8")["layers"][: len(stage)]
    assert all(p["cycles"] > f["cycles"] for p, f in zip(stage, flat, strict=True))  # tiles, halos and copies

    text = report(model("kws_ref_model"), *BOARD, cache=cache).stdout
    line = next(line for line in text.splitlines() if line.strip().startswith("latency"))
    assert f"{lat['cycles']:,}" in line and f"{lat['ms']:.3f} ms at 216 MHz" in line and "estimate" in line
    assert "QEMU instruction counts" in line
    rows = _table_rows(text)
    assert all(f"{layer['cycles']:,}" in row for layer, row in zip(r["layers"], rows, strict=True))
    md = report(model("kws_ref_model"), *BOARD, "--markdown", cache=cache).stdout
    assert f"Estimated latency: {lat['cycles']:,} cycles, {lat['ms']:.3f} ms at 216 MHz" in md
    gh = report(model("kws_ref_model"), *BOARD, "--github", cache=cache).stdout
    assert f"latency {lat['cycles']:,} cycles" in next(line for line in gh.splitlines() if line.startswith("::notice"))


def test_default_plan_is_the_fastest_that_fits(cache, json_report):
    """On the STM32F746's 320 KB, VWW runs layer by layer (no patches, the most in-place ops that cost nothing);
    the report says how small --prefer memory gets it, and the smallest plan is that small."""
    fast, small = json_report("vww_96_int8"), json_report("vww_96_int8", *SMALLEST)
    assert fast["prefer"] == "speed" and fast["patches"] is None and small["patches"] is not None
    assert fast["latency"]["cycles"] < small["latency"]["cycles"] and fast["macs"] < small["macs"]
    assert fast["sram"]["smallest_peak_bytes"] == small["sram"]["peak_bytes"] < fast["sram"]["peak_bytes"]
    assert small["sram"]["smallest_peak_bytes"] == small["sram"]["peak_bytes"]
    text = report(model("vww_96_int8"), *BOARD, cache=cache).stdout
    saved = fast["sram"]["peak_bytes"] - small["sram"]["peak_bytes"]
    line = next(line for line in text.splitlines() if line.strip().startswith("smallest peak"))
    assert f"{small['sram']['peak_bytes']:,}" in line and f"--prefer memory reaches this, {saved:,} bytes less" in line


def test_a_tight_budget_is_met_with_patches(cache, json_report):
    """A budget the layer-by-layer plan misses: the fastest plan that fits runs a patch stage, as coarse as fits
    (fewer MACs than the smallest plan's); it is slower than without the budget and faster than the smallest."""
    fast, small = json_report("vww_96_int8"), json_report("vww_96_int8", *SMALLEST)
    budget = fast["ram"]["total_bytes"] - 2048
    r = json_report("vww_96_int8", "--sram-budget", str(budget))
    assert r["fits"] is True and r["ram"]["total_bytes"] <= budget == r["budget"]["sram"]["limit_bytes"]
    assert r["patches"] is not None and r["macs"] < small["macs"]
    assert fast["latency"]["cycles"] < r["latency"]["cycles"] < small["latency"]["cycles"]
    assert r["sram"]["smallest_peak_bytes"] == small["sram"]["peak_bytes"]


def test_an_impossible_budget_gets_the_smallest_plan(cache, json_report):
    """Nothing fits 40 KB (the stack alone takes 8): the plan is the smallest, and the report says it does not fit."""
    small = json_report("vww_96_int8", *SMALLEST)
    proc = report(model("vww_96_int8"), *BOARD, "--sram-budget", "40K", "--json", cache=cache)
    line = one_line_error(proc, 3, "--sram-budget of 40,960 bytes")
    assert "--prefer memory" not in line  # it is the smallest already
    r = json.loads(proc.stdout)
    assert r["fits"] is False and r["sram"]["peak_bytes"] == r["sram"]["smallest_peak_bytes"]
    assert r["sram"]["peak_bytes"] == small["sram"]["peak_bytes"] and r["patches"] == small["patches"]
    text = report(model("vww_96_int8"), *BOARD, "--sram-budget", "40K", cache=cache).stdout
    assert "DOES NOT FIT" in text


def test_compiling_commands_take_the_budget(cache, tmp_path):
    """--sram-budget plans compile, run, bench, deploy and export too: a plan over it stops before anything is
    built, with the report's own line."""
    for command in (["compile", "-o", str(tmp_path / "fw")], ["export", "--platformio", str(tmp_path / "pio")]):
        proc = tinyml(command[0], model("vww_96_int8"), *BOARD, "--sram-budget", "40K", *command[1:], cache=cache)
        one_line_error(proc, 3, "vww_96_int8 needs", "over the --sram-budget of 40,960 bytes", "peak")
    assert not (tmp_path / "fw").exists() and not (tmp_path / "pio").exists() and not (cache / "builds").exists()


#: how close the cost model's total must be to QEMU's count (tests/kernels/test_costs.py states and checks it)
COST_MODEL_ERROR = 0.15


def test_latency_estimate_matches_the_emulated_count(cache):
    """KWS on the emulated Cortex-M7: the report's estimate is within the cost model's stated error of the
    instructions one emulated run counts, and `bench` gives the same estimate beside the count."""
    args = (model("kws_ref_model"), "--board", "mps2-an500", "--kernels", "portable", "--json")
    r = json.loads(report(*args, cache=cache).stdout)
    proc = tinyml("bench", *args, "--runs", "1", cache=cache)
    assert proc.returncode == 0, proc.stderr
    bench = json.loads(proc.stdout)
    measured = bench["instructions"]["median"]
    assert abs(r["latency"]["cycles"] - measured) <= COST_MODEL_ERROR * measured, (r["latency"], measured)
    assert bench["estimate"]["cycles"] == r["latency"]["cycles"]
    assert [layer["estimated_cycles"] for layer in bench["layers"]] == [layer["cycles"] for layer in r["layers"]]


# --- a patch stage: one row per layer of the model -------------------------------------------------------------------


@pytest.fixture(scope="module")
def vww_off(cache: Path) -> dict[str, Any]:
    """VWW's smallest report run layer by layer (`--patches off`): what the patch stage is measured against."""
    proc = report(model("vww_96_int8"), *BOARD, *SMALLEST, "--patches", "off", "--json", cache=cache)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_patch_stage_is_grouped_by_layer(json_report, vww_off):
    """VWW runs its first 4 layers as 8x8 tiles (256 calls plus 128 region copies); the report has 31 rows, the
    stage's saying how many tiles, how many MACs with the halos recomputed and the SRAM of its busiest tile."""
    r = json_report("vww_96_int8", *SMALLEST)
    p, layers = r["patches"], r["layers"]
    assert len(layers) == len(vww_off["layers"]) == 31
    assert [layer["op"] for layer in layers] == [layer["op"] for layer in vww_off["layers"]]
    assert p["grid"] == [8, 8] and p["tiles"] == 64 and p["layers"] == [0, 1, 2, 3]
    stage, rest = layers[:4], layers[4:]
    assert [layer["tiles"] for layer in stage] == [64] * 4 and [layer["ops"] for layer in stage] == [128, 64, 64, 128]
    assert all(layer["tiles"] == layer["ops"] == 1 for layer in rest)
    # the whole tensors, as the model has them, not a tile's
    assert [layer["output_shape"] for layer in stage] == [layer["output_shape"] for layer in vww_off["layers"][:4]]
    for patched, whole in zip(layers, vww_off["layers"], strict=True):
        assert patched["unpatched_macs"] == whole["macs"]
        assert patched["weights_bytes"] == whole["weights_bytes"]  # the tiles share one filter array
    assert all(layer["macs"] > layer["unpatched_macs"] for layer in stage[:3])  # the last has no halo to recompute
    assert [layer["macs"] for layer in rest] == [layer["macs"] for layer in vww_off["layers"][4:]]
    # the stage's peak is the model's, and it is lower than layer by layer
    assert r["sram"]["peak_layer"] in p["layers"] and max(layer["live_bytes"] for layer in stage) == p["peak_bytes"]

    # what it saves and costs, against the layer-by-layer report of the same model
    assert p["peak_bytes"] == r["sram"]["peak_bytes"] and p["unpatched_peak_bytes"] == vww_off["sram"]["peak_bytes"]
    assert p["saved_bytes"] == p["unpatched_peak_bytes"] - p["peak_bytes"] > 0
    assert p["unpatched_macs"] == sum(layer["macs"] for layer in vww_off["layers"][:4])
    assert p["extra_macs"] == p["macs"] - p["unpatched_macs"] == r["macs"] - vww_off["macs"] > 0
    assert p["mac_overhead"] == pytest.approx(r["macs"] / vww_off["macs"], abs=1e-4) and 1 < p["mac_overhead"] <= 1.2
    assert p["extra_code_bytes"] == r["flash"]["code_bytes"] - vww_off["flash"]["code_bytes"] > 0
    assert p["extra_runtime_bytes"] == r["ram"]["runtime_bytes"] - vww_off["ram"]["runtime_bytes"] > 0
    assert vww_off["patches"] is None


def _table_rows(text: str) -> list[str]:
    """The per-layer rows of the text report: a layer number, then its op."""
    return [line for line in text.splitlines() if re.match(r"^\s+\d+ [A-Z]", line)]


def test_patch_stage_in_every_format(cache, json_report):
    r = json_report("vww_96_int8", *SMALLEST)
    p = r["patches"]
    factors = [f"{layer['macs'] / layer['unpatched_macs']:.2f}x MACs" for layer in r["layers"][:4]]
    saves = (
        f"saves {p['saved_bytes']:,} bytes of peak SRAM: {p['peak_bytes']:,} instead of {p['unpatched_peak_bytes']:,}"
    )
    costs = f"costs {p['mac_overhead']:.2f}x MACs ({p['extra_macs']:+,}"
    code = f"{p['extra_code_bytes']:,} bytes of code"

    text = report(model("vww_96_int8"), *BOARD, *SMALLEST, cache=cache)
    assert text.returncode == 0, text.stderr
    rows = _table_rows(text.stdout)
    assert len(rows) == len(r["layers"]) == 31
    for row, factor in zip(rows[:4], factors, strict=True):
        assert f"64 tiles, {factor}" in row, row
    assert not any("tiles" in row for row in rows[4:])
    assert rows[r["sram"]["peak_layer"]].endswith("<- peak")
    summary = text.stdout.split("\n\n")[0]
    assert "patch-based inference: 8x8 tiles over layers 0-3 (CONV_2D, DEPTHWISE_CONV_2D, CONV_2D" in summary
    assert saves in summary and costs in summary and code in summary
    assert "in the patch stage" in summary  # where the peak is
    assert "TINYML_COPY_REGION" not in text.stdout and "patch 1/64" not in text.stdout

    md = report(model("vww_96_int8"), *BOARD, *SMALLEST, "--markdown", cache=cache)
    assert md.returncode == 0, md.stderr
    lines = md.stdout.splitlines()
    assert any(line.startswith("**Patch-based inference** is on: 8x8 tiles over layers 0-3") for line in lines)
    assert saves in md.stdout and costs in md.stdout and code in md.stdout
    layer_rows = [line for line in lines if re.match(r"^\| \d+ \| ", line)]
    assert len(layer_rows) == 31 and "| patches |" in md.stdout
    for row, factor in zip(layer_rows[:4], factors, strict=True):
        assert row.endswith(f"| 64 tiles, {factor} |"), row
    assert "TINYML_COPY_REGION" not in md.stdout

    gh = report(model("vww_96_int8"), *BOARD, *SMALLEST, "--github", cache=cache)
    notice = next(line for line in gh.stdout.splitlines() if line.startswith("::notice"))
    assert "patch-based inference: 8x8 tiles over layers 0-3" in notice and saves in notice


def _paths(value: Any, prefix: str, maps: set[str]) -> set[str]:
    """Every field path in a report, in the notation of docs/report-schema.md (`layers[].op`)."""
    found = {prefix} if prefix and not prefix.endswith("[]") else set()
    if isinstance(value, dict) and prefix not in maps:
        for k, v in value.items():
            found |= _paths(v, f"{prefix}.{k}" if prefix else k, maps)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for item in value:
            found |= _paths(item, f"{prefix}[]", maps)
    return found


def test_json_fields_are_documented(json_report, cache, tmp_path):
    doc = (REPO / "docs" / "report-schema.md").read_text()
    rows = re.findall(r"^\| `([a-z_.\[\]0-9]+)` \| ([^|]+) \|", doc, re.MULTILINE)
    documented = {path for path, _ in rows}
    maps = {path for path, kind in rows if "(map)" in kind}
    base = tmp_path / "base.json"
    base.write_text(json.dumps({**json_report("kws_ref_model"), "schema": "tinyml.report/2"}))
    # every optional block filled in: a baseline, both budgets, a failure
    proc = report(
        model("kws_ref_model"), *BOARD, "--json", "--baseline", str(base), "--max-growth", "5%",
        "--sram-budget", "16K", cache=cache,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    full = json.loads(proc.stdout)
    assert full["schema"] == "tinyml.report/4" and f"schema `{full['schema']}`" in doc
    assert full["patches"] is None  # KWS runs layer by layer; VWW's report has the patch stage
    present = _paths(full, "", maps) | _paths(json_report("vww_96_int8", *SMALLEST), "", maps)
    assert present - documented == set(), "fields missing from docs/report-schema.md"
    assert documented - present == set(), "documented fields the report lacks"


# --- formats --------------------------------------------------------------------------------------------------------


def test_text_report(cache, json_report):
    proc = report(model("kws_ref_model"), *BOARD, cache=cache)
    assert proc.returncode == 0, proc.stderr
    r = json_report("kws_ref_model")
    out = proc.stdout
    for label in ("peak SRAM", "activations", "scratch", "input/output", "RAM on the board", "flash total"):
        assert label in out
    assert re.search(r"^\s+code\s+[\d,]+\s+estimate", out, re.MULTILINE), "an estimated code size must say so"
    assert f"{r['sram']['peak_bytes']:,}" in out and f"{r['macs']:,}" in out
    assert "budget: SRAM" in out and "budget: flash" in out and "left" in out
    assert sum("<- peak" in line for line in out.splitlines()) == 1


def test_external_io_is_counted_and_said(cache):
    """With --io external the RAM line adds the I/O buffers and names them, on a board and on the host."""
    for board in (BOARD, ["--board", "host"]):
        proc = report(model("ad01_int8"), *board, "--io", "external", "--json", cache=cache)
        assert proc.returncode == 0, proc.stderr
        r = json.loads(proc.stdout)["ram"]
        assert r["external_io_bytes"] == 1280 and r["total_bytes"] >= r["arena_bytes"] + 1280
        text = report(model("ad01_int8"), *board, "--io", "external", cache=cache).stdout
        ram = next(line for line in text.splitlines() if "RAM on the board" in line)
        assert f"{r['total_bytes']:,}" in ram and "1,280 I/O buffers outside it" in ram


def test_markdown(cache, json_report):
    proc = report(model("kws_ref_model"), *BOARD, "--markdown", cache=cache)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("### tinyml memory report: `kws_ref_model` on `stm32f746`")
    assert "| figure | bytes | budget | left | note |" in lines
    details = lines.index(next(line for line in lines if line.startswith("<details><summary>")))
    assert "</details>" in lines[details:]
    summary = lines[: details - 1]
    assert any(line.startswith("| **peak SRAM** |") for line in summary)
    assert any("✅" in line for line in summary)
    layer_rows = [line for line in lines[details:] if re.match(r"^\| \d+ \| ", line)]
    assert len(layer_rows) == len(json_report("kws_ref_model")["layers"])


GH_COMMAND = re.compile(r"^::(notice|error) title=([^:,\n]+)::(.+)$")


def test_github_notice(cache, json_report):
    proc = report(model("kws_ref_model"), *BOARD, "--github", cache=cache)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("::group::") and "::endgroup::" in lines
    commands = [GH_COMMAND.match(line) for line in lines if line.startswith("::") and "group::" not in line]
    assert len(commands) == 1 and commands[0] is not None and commands[0].group(1) == "notice"
    message = commands[0].group(3)
    r = json_report("kws_ref_model")
    for figure in (r["sram"]["peak_bytes"], r["flash"]["total_bytes"], r["macs"], r["ram"]["total_bytes"]):
        assert f"{figure:,}" in message
    assert "%25" in message and "%" not in message.replace("%25", "")  # percentages escaped as the runner wants


def test_too_small_budget_names_the_layer(cache, json_report):
    r = json_report("kws_ref_model")
    peak = r["layers"][r["sram"]["peak_layer"]]
    proc = report(model("kws_ref_model"), *BOARD, "--github", "--sram-budget", "16K", cache=cache)
    message = one_line_error(proc, 3, "--sram-budget", "16,384", f"layer {peak['index']} {peak['op']}")
    assert "--prefer" not in message  # one kernel per op: nothing to trade
    errors = [GH_COMMAND.match(line) for line in proc.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and errors[0] is not None and "SRAM budget" in errors[0].group(2)
    assert f"layer {peak['index']} {peak['op']}" in errors[0].group(3)
    assert not any(line.startswith("::notice") for line in proc.stdout.splitlines())

    proc = report(model("kws_ref_model"), *BOARD, "--flash-budget", "32K", cache=cache)
    assert "--prefer" not in one_line_error(proc, 3, "flash", "--flash-budget", "32,768")
    assert "flash total" in proc.stdout  # the report is still printed


def test_board_too_small(cache, tmp_path):
    """Without options the budget is the board's own RAM, stack and runtime included."""
    text = (REPO / "boards" / "stm32f746.toml").read_text()
    text = text.replace('name = "stm32f746"', 'name = "tiny-f7"').replace('aliases = ["stm32f746g-disco"]', "")
    text = text.replace("size = 0x00050000", "size = 0x00003000")  # 12 KB RAM: the stack alone takes 8
    (tmp_path / "tiny-f7.toml").write_text(text)
    proc = report(
        model("kws_ref_model"), "--board", "tiny-f7", "--kernels", "portable", "--json",
        cache=cache, env={"TINYML_BOARDS": str(tmp_path)},
    )  # fmt: skip
    one_line_error(proc, 3, "tiny-f7's 12,288-byte RAM", "stack")
    r = json.loads(proc.stdout)
    assert r["fits"] is False and r["budget"]["sram"]["source"] == "board"
    assert r["sram"]["peak_bytes"] < 12288 < r["ram"]["total_bytes"]  # the arena fits; the whole firmware does not
    assert [f["figure"] for f in r["failures"]] == ["sram"]


# --- option values --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "nbytes"), [("256K", 262144), ("1M", 1048576), ("300000", 300000), ("1.5M", 1572864)]
)
def test_budgets_parse(cache, value, nbytes):
    proc = report(
        model("str_ww_ref_model"), *BOARD, "--json", "--sram-budget", value, "--flash-budget", value, cache=cache
    )
    assert proc.returncode == 0, proc.stderr
    budget = json.loads(proc.stdout)["budget"]
    assert budget["sram"]["limit_bytes"] == budget["flash"]["limit_bytes"] == nbytes
    assert budget["sram"]["source"] == budget["flash"]["source"] == "option"


@pytest.mark.parametrize("value", ["lots", "-5K", "0", "12Q", "1.5.2M", "K"])
def test_bad_budgets_fail_with_status_2(cache, value):
    one_line_error(
        report(model("ad01_int8"), *BOARD, f"--sram-budget={value}", cache=cache), 2, "--sram-budget", repr(value)
    )
    one_line_error(report(model("ad01_int8"), *BOARD, f"--flash-budget={value}", cache=cache), 2, "--flash-budget")


def test_bad_growth_options_fail_with_status_2(cache, tmp_path):
    one_line_error(report(model("ad01_int8"), *BOARD, "--max-growth", "5%", cache=cache), 2, "--baseline")
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"schema": "tinyml.report/1", "peak_sram_bytes": 1}))
    one_line_error(report(model("ad01_int8"), *BOARD, "--baseline", str(old), cache=cache), 2, "tinyml.report/1")
    one_line_error(
        report(model("ad01_int8"), *BOARD, "--baseline", str(tmp_path / "none.json"), cache=cache), 2, "none.json"
    )
    one_line_error(
        report(model("ad01_int8"), *BOARD, "--baseline", str(old), "--max-growth", "lots", cache=cache),
        2,
        "--max-growth",
    )


# --- baseline -------------------------------------------------------------------------------------------------------


def test_baseline_shows_growth_and_max_growth_fails(cache, json_report, tmp_path):
    r = json_report("kws_ref_model")
    old = json.loads(json.dumps(r))
    old["sram"]["peak_bytes"] = r["sram"]["peak_bytes"] * 4 // 5  # the model grew 25% since
    old["flash"]["total_bytes"] = r["flash"]["total_bytes"] - 1000
    base = tmp_path / "old.json"
    base.write_text(json.dumps(old))

    proc = report(model("kws_ref_model"), *BOARD, "--baseline", str(base), cache=cache)
    assert proc.returncode == 0, proc.stderr  # no --max-growth: the change is shown, nothing fails
    assert re.search(r"peak SRAM .*\[\+[\d,]+ \(\+25\.0%\)\]", proc.stdout)
    assert "±0" in proc.stdout  # the unchanged figures say so

    proc = report(model("kws_ref_model"), *BOARD, "--json", "--baseline", str(base), cache=cache)
    figures = {f["figure"]: f for f in json.loads(proc.stdout)["baseline"]["figures"]}
    assert figures["peak_sram"]["change"] == r["sram"]["peak_bytes"] - old["sram"]["peak_bytes"]
    assert figures["peak_sram"]["percent"] == pytest.approx(25.0, abs=0.1) and figures["flash"]["change"] == 1000
    assert figures["macs"]["change"] == 0 and not any(f["exceeded"] for f in figures.values())

    proc = report(
        model("kws_ref_model"), *BOARD, "--markdown", "--baseline", str(base), "--max-growth", "5%", cache=cache
    )
    line = one_line_error(proc, 3, "peak SRAM", "25.0%", "--max-growth 5%", str(base))
    assert "flash total grew" not in line  # flash grew 2.5%: within the limit
    assert "| figure | bytes | budget | left | change | note |" in proc.stdout and "❌" in proc.stdout

    proc = report(
        model("kws_ref_model"), *BOARD, "--github", "--baseline", str(base), "--max-growth", "5%", cache=cache
    )
    errors = [GH_COMMAND.match(line) for line in proc.stdout.splitlines() if line.startswith("::error")]
    assert proc.returncode == 3 and len(errors) == 1 and errors[0] is not None
    assert errors[0].group(2).endswith("peak SRAM grew") and "25.0%25" in errors[0].group(3)

    proc = report(
        model("kws_ref_model"), *BOARD, "--github", "--baseline", str(base), "--max-growth", "30%", cache=cache
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^::notice .*since baseline: peak SRAM \+1,700 \(\+25\.0%25\)", proc.stdout, re.MULTILINE)


def test_baseline_of_another_model_is_refused(cache, json_report, tmp_path):
    """Comparing VWW with KWS would show differences that are not changes: status 2, one line, nothing printed."""
    kws = json_report("kws_ref_model")
    base = tmp_path / "kws.json"
    base.write_text(json.dumps(kws))
    for fmt in ([], ["--json"], ["--markdown"]):
        proc = report(model("vww_96_int8"), *BOARD, "--baseline", str(base), *fmt, cache=cache)
        line = one_line_error(proc, 2, str(base), "kws_ref_model", "vww_96_int8", kws["model"]["sha256"][:12])
        assert "vww_96_int8.tflite --json" in line  # the fix: how to make a baseline of this model
        assert proc.stdout == ""

    # the same model, renamed: compared
    renamed = tmp_path / "renamed.json"
    renamed.write_text(json.dumps({**kws, "model": {**kws["model"], "name": "kws_v1"}}))
    proc = report(model("kws_ref_model"), *BOARD, "--baseline", str(renamed), cache=cache)
    assert proc.returncode == 0, proc.stderr
    assert "baseline: " in proc.stdout and "model file changed" not in proc.stdout

    # a new version of the model (same name, other file): compared, and the report says the file changed
    retrained = tmp_path / "retrained.json"
    retrained.write_text(json.dumps({**kws, "model": {**kws["model"], "sha256": "0" * 64}}))
    proc = report(model("kws_ref_model"), *BOARD, "--baseline", str(retrained), cache=cache)
    assert proc.returncode == 0, proc.stderr
    assert "note: the model file changed since the baseline (sha256 000000000000 -> " in proc.stdout

    # a baseline that does not say which model it is
    anonymous = tmp_path / "anonymous.json"
    anonymous.write_text(json.dumps({**kws, "model": {"name": "kws_ref_model"}}))
    one_line_error(report(model("kws_ref_model"), *BOARD, "--baseline", str(anonymous), cache=cache), 2, "model.sha256")


@pytest.mark.parametrize("version", [2, 3])
def test_baseline_of_a_previous_schema(cache, json_report, tmp_path, version):
    """Version 3 reports (no latency, no smallest peak) and version 2 reports (one row per generated op, no
    `patches` either) still compare: their figures mean the same."""
    r = json_report("vww_96_int8")
    old = json.loads(json.dumps(r))
    old["schema"] = f"tinyml.report/{version}"
    del old["latency"], old["sram"]["smallest_peak_bytes"]
    for layer in old["layers"]:
        del layer["cycles"]
        if version == 2:
            for key in ("tiles", "ops", "unpatched_macs"):
                del layer[key]
    if version == 2:
        del old["patches"]
    base = tmp_path / "old.json"
    base.write_text(json.dumps(old))
    proc = report(model("vww_96_int8"), *BOARD, "--json", "--baseline", str(base), "--max-growth", "1%", cache=cache)
    assert proc.returncode == 0, proc.stderr
    compared = json.loads(proc.stdout)["baseline"]
    assert compared["schema"] == f"tinyml.report/{version}" and compared["sha256"] == r["model"]["sha256"]
    assert all(f["change"] == 0 for f in compared["figures"])


# --- plot -----------------------------------------------------------------------------------------------------------


def test_plot_files(cache, json_report, tmp_path):
    peak = json_report("kws_ref_model")["sram"]["peak_bytes"]
    svg, png = tmp_path / "mem.svg", tmp_path / "mem.png"
    proc = report(model("kws_ref_model"), *BOARD, "--plot", str(svg), cache=cache)
    assert proc.returncode == 0 and proc.stderr == f"tinyml: wrote the SRAM timeline to {svg}\n", proc.stderr
    data = svg.read_bytes()
    assert data.startswith(b"<?xml") and b"<svg" in data[:1000] and data.rstrip().endswith(b"</svg>")
    assert f"peak {peak:,} B".encode() in data  # text kept as text, with the peak figure

    # over budget: still plotted, with the budget line
    proc = report(model("vww_96_int8"), *BOARD, "--plot", str(png), "--sram-budget", "40K", cache=cache)
    assert proc.returncode == 3 and f"tinyml: wrote the SRAM timeline to {png}" in proc.stderr
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 10_000

    again = report(model("kws_ref_model"), *BOARD, "--plot", str(svg), "--json", cache=cache)
    assert again.returncode == 0 and again.stderr.splitlines() == [
        f"tinyml: overwriting {svg}",
        f"tinyml: wrote the SRAM timeline to {svg}",
    ]
    assert json.loads(again.stdout)["schema"] == "tinyml.report/4"  # stdout stays the report alone

    bad = tmp_path / "mem.jpg"
    one_line_error(report(model("kws_ref_model"), *BOARD, "--plot", str(bad), cache=cache), 2, ".jpg")
    assert not bad.exists()


def test_plot_draws_each_layer_of_a_patch_stage_once(cache, json_report, tmp_path):
    """VWW: one step per layer of the model (31, not the 411 generated ops), the stage shaded, each of its layers at
    its busiest tile, and the layer-by-layer peak the stage avoids."""
    r = json_report("vww_96_int8", *SMALLEST)
    svg = tmp_path / "vww.svg"
    proc = report(model("vww_96_int8"), *BOARD, *SMALLEST, "--plot", str(svg), cache=cache)
    assert proc.returncode == 0, proc.stderr
    data = svg.read_text()
    ticks = re.findall(r">(\d+) ([A-Z][A-Z0-9_]+)( \(64 tiles\))?</text>", data)
    assert [(int(i), op) for i, op, _ in ticks] == [(layer["index"], layer["op"]) for layer in r["layers"]]
    assert [bool(tiles) for _, _, tiles in ticks] == [layer["tiles"] > 1 for layer in r["layers"]]
    assert "patch stage, 8x8 tiles" in data
    assert f"peak without patches {r['patches']['unpatched_peak_bytes']:,} B" in data
    assert f"peak {r['sram']['peak_bytes']:,} B at layer {r['sram']['peak_layer']} " in data


# --- measured firmware ----------------------------------------------------------------------------------------------


def test_code_size_from_firmware_already_built(tmp_path):
    """After `run` built firmware into the cache, report reads code and RAM from that ELF instead of estimating."""
    cache = tmp_path / "cache"
    args = [model("ad01_int8"), "--board", "mps2-an500", "--kernels", "portable", "--json"]
    before = json.loads(report(*args, cache=cache).stdout)
    assert before["flash"]["code_source"] == "estimate" and not cache.exists()  # report never builds

    (tmp_path / "in.bin").write_bytes(bytes(640))
    run = subprocess.run(
        [sys.executable, "-m", "tinyml", "run", *args[:-1], "--input", str(tmp_path / "in.bin"),
         "--output", str(tmp_path / "out.bin")],
        capture_output=True, text=True, env={**os.environ, "TINYML_CACHE": str(cache)},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr

    after = json.loads(report(*args, cache=cache).stdout)
    f, ram = after["flash"], after["ram"]
    assert f["code_source"] == "elf" and Path(f["elf"]).is_file() and Path(f["elf"]).is_relative_to(cache)
    assert f["weights_bytes"] + f["code_bytes"] + f["constants_bytes"] == f["total_bytes"]
    assert (f["weights_bytes"], f["constants_bytes"]) == (
        before["flash"]["weights_bytes"],
        before["flash"]["constants_bytes"],
    )
    assert ram["source"] == "elf" and 0 < ram["runtime_bytes"] <= before["ram"]["runtime_bytes"]
    # the estimates were close: within 1.5 KB of code
    assert abs(before["flash"]["code_bytes"] - f["code_bytes"]) <= 1536

    # other options generate other code: that image is not this firmware, so no measurement
    external = json.loads(report(*args, "--io", "external", cache=cache).stdout)
    assert external["flash"]["code_source"] == "estimate" and external["ram"]["source"] == "estimate"
    s = external["sram"]
    assert s["external_io_bytes"] == 2 * 640 and s["peak_bytes"] == s["arena_bytes"] + 2 * 640
    assert s["activations_bytes"] + s["scratch_bytes"] + s["io_bytes"] + s["fragmentation_bytes"] == s["peak_bytes"]
