"""The report as people read it: a text table, Markdown for a pull request, GitHub workflow annotations."""

from __future__ import annotations

from typing import Any

from tinyml.measure.report.baseline import FIGURES, figure_change
from tinyml.measure.report.budgets import peak_where


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
            f"{peak_where(report)}; planner {planner['strategy']}, live-set bound {planner['live_set_bound']:,}",
            "peak_sram",
        ),
        ("  activations", s["activations_bytes"], "intermediate tensors live at the peak", "activations"),
        ("  scratch", s["scratch_bytes"], "kernel scratch live at the peak", "scratch"),
        ("  input/output", s["io_bytes"], "model inputs and outputs live at the peak", "io"),
    ]
    if s["state_bytes"]:
        rows.append(
            ("  state", s["state_bytes"], "persistent state of stateful ops (SVDF, LSTM), outside the arena", "")
        )
    if s["fragmentation_bytes"]:
        rows.append(("  fragmentation", s["fragmentation_bytes"], "arena gaps no buffer uses at the peak", ""))
    rows.append(("smallest peak", s["smallest_peak_bytes"], _smallest_note(report), ""))
    external = f" + {r['external_io_bytes']:,} I/O buffers outside it" if r["external_io_bytes"] else ""
    if r["state_bytes"]:
        external += f" + {r['state_bytes']:,} state"
    if report["board"]["kind"] == "mcu":
        source = {"elf": "measured", "estimate": "estimate"}[r["source"]]
        note = f"arena{external} + {r['stack_bytes']:,} stack + {r['runtime_bytes']:,} runtime ({source})"
    else:
        note = f"arena{external}; the host program's stack and statics are not counted"
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


def _smallest_note(report: dict[str, Any]) -> str:
    """What `--prefer memory` would save, against this plan's peak."""
    s = report["sram"]
    if report["prefer"] == "memory":
        return "this plan: --prefer memory"
    saved = s["peak_bytes"] - s["smallest_peak_bytes"]
    if saved <= 0:
        return "--prefer memory reaches no less"
    return f"--prefer memory reaches this, {saved:,} bytes less, with slower kernels or patches"


def _latency_note(report: dict[str, Any]) -> str:
    """What the estimated cycles mean: time at the board's clock, and where the estimate comes from."""
    lat = report["latency"]
    where = (
        f"{lat['ms']:.3f} ms at {lat['clock_hz'] / 1e6:g} MHz ({lat['core']})"
        if lat["ms"] is not None
        else "as on a Cortex-M7 (host: a relative figure)"
    )
    return f"{where}; estimated by the cost model fitted on QEMU instruction counts"


def latency_text(report: dict[str, Any]) -> str:
    """The estimated latency in words: cycles, time at the board's clock, and where the estimate comes from."""
    return f"{report['latency']['cycles']:,} cycles, {_latency_note(report)}"


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
        change = figure_change(report, key) if key else ""
        change = f"  [{change}]" if change else ""
        lines.append(f"  {label:<18} {value:>12,}  {note}{change}".rstrip())
    lines.append(f"  {'latency (cycles)':<18} {report['latency']['cycles']:>12,}  {_latency_note(report)}")
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
    lines += _precision_lines(report)
    width = max((len(_layer_patches(layer)) for layer in report["layers"]), default=0)
    lines += [
        "",
        f"  {'#':>3} {'op':<20} {'kernel':<17} {'input shapes':<22} {'output shape':<15} {'MACs':>11} {'cycles':>11} "
        f"{'live':>8} "
        f"{'scratch':>8} {'weights':>8} {'consts':>7} {'bits':<6}" + (f" {'patches':<{width}}" if width else ""),
    ]
    for layer in report["layers"]:
        inputs = ", ".join(_shape(s) for s in layer["input_shapes"])
        mark = " <- peak" if layer["index"] == report["sram"]["peak_layer"] else ""
        lines.append(
            f"  {layer['index']:>3} {layer['op']:<20} {_kernel(layer):<17} {inputs:<22} "
            f"{_shape(layer['output_shape']):<15} {layer['macs']:>11,} {layer['cycles']:>11,} "
            f"{layer['live_bytes']:>8,} {layer['scratch_bytes']:>8,} {layer['weights_bytes']:>8,} "
            f"{layer['constants_bytes']:>7,} {_bits_label(layer):<6}"
            + (f" {_layer_patches(layer):<{width}}" if width else "")
            + mark
        )
    return "\n".join(line.rstrip() for line in lines)


def _bits_label(layer: dict[str, Any]) -> str:
    """A layer's bits as `--bits` writes them: w4a8 (4-bit weights, 8-bit output); a4 for a layer without weights."""
    bits = layer.get("bits") or {}
    out = f"a{bits['output']}" if bits.get("output") else ""
    return f"w{bits['weights']}{out}" if bits.get("weights") else out


def _precision_lines(report: dict[str, Any]) -> list[str]:
    """What `tinyml quantize --board` chose, as its metadata records it: the target, the memory at 8 bits and as
    chosen, and each layer's bits with the memory they save."""
    p = report.get("precision")
    if not p:
        return []
    limits = [
        f"{label} {p['budgets'][which]['limit_bytes']:,}"
        for which, label in (("sram", "SRAM"), ("flash", "flash"))
        if p["budgets"].get(which)
    ]
    int8, chosen = p["int8"], p["chosen"]
    lines = [
        f"  mixed precision: bits per layer chosen for {p['board']} (kernels {p['kernels']}, {p['rule']} rule) "
        f"within {' and '.join(limits)} bytes",
        f"    at 8 bits SRAM {int8['sram_bytes']:,} and flash {int8['flash_bytes']:,} bytes; as chosen SRAM "
        f"{chosen['sram_bytes']:,} and flash {chosen['flash_bytes']:,}",
    ]
    rows = sorted(p["layers"].items(), key=lambda item: -1 if item[1]["layer"] is None else item[1]["layer"])
    for name, layer in rows:
        saved = layer["saved"]
        what = (
            f"saves SRAM {saved['sram_bytes']:,} and flash {saved['flash_bytes']:,} bytes"
            if (layer["weights"], layer["activations"]) != (8, 8)
            else "8 bits"
        )
        where = f"layer {layer['layer']}, " if layer["layer"] is not None else ""
        lines.append(f"    {name} ({where}w{layer['weights']}a{layer['activations']}): {what}")
    return lines


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
        change = f" {_md(figure_change(report, key))} |" if base else ""
        lines.append(f"| {name} | {value:,} | {limit} | {left} |{change} {_md(note)} |")
    lines.append("")
    failures = report["failures"]
    if failures:
        lines += [f"❌ **{_md(f['message'])}**" for f in failures]
    elif report["fits"]:
        lines.append("✅ Within budget.")
    else:
        lines.append("No budget given (use `--board` or `--sram-budget` / `--flash-budget`).")
    lines += ["", f"Estimated latency: {_md(latency_text(report))}."]
    patches = _patch_summary(report)
    if patches:
        what, saves, costs = patches
        lines += ["", f"**Patch-based inference** is on: {_md(what)}. It {_md(saves)}; it {_md(costs)}."]
    if base:
        note = "".join(f" Note: {note}." for note in _baseline_notes(report))
        lines += ["", f"Compared with `{base['path']}` ({base['model']} on {base['board']}).{note}"]
    lines += [
        "",
        f"<details><summary>{len(report['layers'])} layers (peak {peak_where(report) or 'none'})</summary>",
        "",
        "| # | op | kernel | input shapes | output shape | MACs | cycles | live bytes | scratch | weights | constants |"
        + (" patches |" if patches else ""),
        "|--:|:--|:--|:--|:--|--:|--:|--:|--:|--:|--:|" + (":--|" if patches else ""),
    ]
    for layer in report["layers"]:
        peak = layer["index"] == report["sram"]["peak_layer"]
        live = f"**{layer['live_bytes']:,}**" if peak else f"{layer['live_bytes']:,}"
        inputs = ", ".join(_shape(s) for s in layer["input_shapes"])
        lines.append(
            f"| {layer['index']} | {layer['op']} | {_kernel(layer)} | {inputs} | {_shape(layer['output_shape'])} | "
            f"{layer['macs']:,} | {layer['cycles']:,} | "
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
            f"peak SRAM {s['peak_bytes']:,} bytes {peak_where(report)} (activations {s['activations_bytes']:,}, "
            f"scratch {s['scratch_bytes']:,}, I/O {s['io_bytes']:,})",
            f"RAM {r['total_bytes']:,}",
            f"flash {f['total_bytes']:,} (weights {f['weights_bytes']:,}, {code}, constants {f['constants_bytes']:,})",
            f"MACs {report['macs']:,}",
            f"latency {latency_text(report)}",
        ]
        patches = _patch_summary(report)
        if patches:
            parts.append("patch-based inference: {}, {}, {}".format(*patches))
        parts += [_budget_line(report, w) for w in ("sram", "flash") if report["budget"][w] is not None]
        if report.get("baseline"):
            headline = [g for g in report["baseline"]["figures"] if g["headline"]]
            parts.append(
                "since baseline: " + ", ".join(f"{g['label']} {figure_change(report, g['figure'])}" for g in headline)
            )
        lines.append(f"::notice title={_gh_property('tinyml memory: ' + where)}::{_gh_data('; '.join(parts))}")
    return "\n".join(lines)
