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


@pytest.fixture
def json_report(cache: Path):
    """The JSON report of a model on the STM32F746, computed once per model."""

    def get(name: str) -> dict[str, Any]:
        if name not in _reports:
            proc = report(model(name), *BOARD, "--json", cache=cache)
            assert proc.returncode == 0, proc.stderr
            _reports[name] = json.loads(proc.stdout)
        return _reports[name]

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
        ram["arena_bytes"] + ram["external_io_bytes"] + ram["stack_bytes"] + ram["runtime_bytes"] == ram["total_bytes"]
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


def test_weights_are_the_filter_tensors(json_report):
    """AD is ten FULLY_CONNECTED layers: weights are exactly the matrices, constants exactly the int32 biases."""
    r = json_report("ad01_int8")
    dims = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]
    assert r["flash"]["weights_bytes"] == sum(a * b for a, b in itertools.pairwise(dims))
    assert r["flash"]["constants_bytes"] == 4 * sum(dims[1:])
    assert [layer["op"] for layer in r["layers"]] == ["FULLY_CONNECTED"] * 10


def test_layers_name_their_kernel(json_report):
    """KWS on the portable kernels: each depthwise and pointwise layer writes over its input; views run nothing."""
    layers = json_report("kws_ref_model")["layers"]
    assert {layer["kernel"] for layer in layers} == {"portable"}
    for layer in layers:
        pointwise = layer["op"] == "CONV_2D" and layer["input_shapes"][0][1:3] == layer["output_shape"][1:3]
        assert layer["in_place"] == (layer["op"] == "DEPTHWISE_CONV_2D" or pointwise), layer


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
    base.write_text(json.dumps(json_report("kws_ref_model")))
    # every optional block filled in: a baseline, both budgets, a failure
    proc = report(
        model("kws_ref_model"), *BOARD, "--json", "--baseline", str(base), "--max-growth", "5%",
        "--sram-budget", "16K", cache=cache,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    full = json.loads(proc.stdout)
    assert full["schema"] == "tinyml.report/2" and f"schema `{full['schema']}`" in doc
    present = _paths(full, "", maps)
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


# --- plot -----------------------------------------------------------------------------------------------------------


def test_plot_files(cache, json_report, tmp_path):
    peak = json_report("kws_ref_model")["sram"]["peak_bytes"]
    svg, png = tmp_path / "mem.svg", tmp_path / "mem.png"
    proc = report(model("kws_ref_model"), *BOARD, "--plot", str(svg), cache=cache)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    data = svg.read_bytes()
    assert data.startswith(b"<?xml") and b"<svg" in data[:1000] and data.rstrip().endswith(b"</svg>")
    assert f"peak {peak:,} B".encode() in data  # text kept as text, with the peak figure

    # hundreds of layers (VWW runs patch by patch), over budget: still plotted, with the budget line
    proc = report(model("vww_96_int8"), *BOARD, "--plot", str(png), "--sram-budget", "40K", cache=cache)
    assert proc.returncode == 3
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 10_000

    again = report(model("kws_ref_model"), *BOARD, "--plot", str(svg), cache=cache)
    assert again.returncode == 0 and again.stderr.strip() == f"tinyml: overwriting {svg}"

    bad = tmp_path / "mem.jpg"
    one_line_error(report(model("kws_ref_model"), *BOARD, "--plot", str(bad), cache=cache), 2, ".jpg")
    assert not bad.exists()


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
