"""Baselines: an earlier report of the same model, and how much each figure grew since."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tinyml.errors import UsageError
from tinyml.measure.report.data import SCHEMA

#: report schemas `--baseline` accepts: every figure it compares means the same in these
BASELINE_SCHEMAS = ("tinyml.report/2", "tinyml.report/3", SCHEMA)


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


def _figure(report: dict[str, Any], path: tuple[str, ...]) -> int:
    value: Any = report
    for key in path:
        value = value[key]
    if not isinstance(value, int):
        raise TypeError(f"{'.'.join(path)} is not an integer")
    return value


def load_baseline(path: Path) -> dict[str, Any]:
    """A report saved with `--json`, checked to be one this version can compare with.

    Versions 2 and 3 are accepted: every compared figure means the same there (version 2's per-layer rows differ for
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


def figure_change(report: dict[str, Any], key: str) -> str:
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
