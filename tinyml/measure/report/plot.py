"""The SRAM timeline: bytes live per layer, with the peak and the budget line, as SVG or PNG."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

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
