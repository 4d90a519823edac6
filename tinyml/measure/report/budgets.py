"""Budgets: sizes as users type them, whether the model fits the board or the given budgets, and what to do
when it does not.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from tinyml.errors import UsageError

_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}


_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([km]?)(?:i?b)?\s*$", re.IGNORECASE)


_PERCENT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%?\s*$")


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


def budget_entry(used: int, explicit: int | None, capacity: int | None) -> dict[str, Any] | None:
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


def fits(report: dict[str, Any]) -> bool:
    return all(b["ok"] for b in report["budget"].values() if b is not None)


def _budget_name(report: dict[str, Any], which: str) -> str:
    budget = report["budget"][which]
    if budget["source"] == "option":
        return f"--{which}-budget of {budget['limit_bytes']:,} bytes"
    region = "RAM" if which == "sram" else "flash"
    return f"{report['board']['name']}'s {budget['limit_bytes']:,}-byte {region}"


def budget_failures(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per budget the model is over, each naming the layer responsible."""
    failures = []
    name = report["model"]["name"]
    sram = report["budget"]["sram"]
    if sram is not None and not sram["ok"]:
        ram, s = report["ram"], report["sram"]
        extra = " and ".join(
            f"{n:,} {what}" for n, what in ((ram["stack_bytes"], "stack"), (ram["runtime_bytes"], "runtime")) if n
        )
        where = f" {peak_where(report)}" if s["peak_layer"] is not None else ""
        # when nothing fits, the planner's plan is the smallest: say so, or how much --prefer memory would save
        saved = s["peak_bytes"] - s["smallest_peak_bytes"]
        smallest = "the smallest plan tinyml finds" if saved <= 0 else f"--prefer memory needs {saved:,} bytes less"
        failures.append(
            {
                "kind": "budget",
                "figure": "sram",
                "message": f"{name} needs {ram['total_bytes']:,} bytes of SRAM, {-sram['left_bytes']:,} over the "
                f"{_budget_name(report, 'sram')}: its peak is {s['peak_bytes']:,} bytes{where}"
                + (f", plus {extra}" if extra else "")
                + f" ({smallest})",
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


def failure_fix(report: dict[str, Any]) -> str:
    """The fix line for the failures of a report."""
    kinds = {f["kind"] for f in report["failures"]}
    fixes = []
    if "budget" in kinds:
        fixes.append("shrink the model, or raise the budget or use a board with more memory")
    if "growth" in kinds:
        fixes.append("if the growth is intended, regenerate the baseline with --json")
    return "; ".join(fixes)


def peak_where(report: dict[str, Any]) -> str:
    i = report["sram"]["peak_layer"]
    if i is None:
        return ""
    layer = report["layers"][i]
    return f"at layer {i} {layer['op']}" + (", in the patch stage" if layer["tiles"] > 1 else "")
