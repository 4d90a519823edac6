"""What a candidate costs on a board, in tens of milliseconds and without TensorFlow: peak SRAM, flash, latency.

The candidate's graph (`tinyml.nas.graph`) goes through exactly the stages `tinyml report --board B` runs on the
converted file: the graph optimiser, the planner with the default plan options (in-place kernels, patch stages
where the RAM needs them, the fastest plan that fits; with `sram_budget`, as `--sram-budget`), the code generator
(each layer's code and constants; the model files are not written out) and the report. Every figure is the
report's, so a candidate the search keeps is one `tinyml report` passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyml.errors import UsageError
from tinyml.ir.graph import Graph
from tinyml.kernels.backends import Backend
from tinyml.nas.space import Arch
from tinyml.target.boards import Board

#: the ops whose weights and biases are the model's parameters once batch norm is folded
_WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass(frozen=True)
class Budgets:
    """Limits a candidate must meet; None: no limit. `sram` is held to the RAM the image needs on the board (arena,
    stack and runtime), as `tinyml report --sram-budget` holds it; `flash` to the report's flash total."""

    sram: int | None = None
    flash: int | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class Footprint:
    """A candidate's figures on one board, as the report gives them for its converted model."""

    #: the report's peak SRAM: the planner's arena peak (in place and patches included), plus I/O kept outside it
    peak_sram: int
    #: the report's flash total: weights, other constants and (estimated) code
    flash: int
    #: bytes of weights in flash (packed at their bits)
    weights: int
    #: the cost model's cycles for one inference on the board's core, and that time at the board's clock
    cycles: int
    latency_ms: float
    #: multiply-accumulates of the model's layers (a patch stage's recomputed halos not counted)
    macs: int
    #: weights and biases of the deployed model (batch norm folded into them)
    params: int
    #: the RAM the image needs on the board: the peak plus stack and runtime (the report's "RAM on the board"),
    #: what an SRAM budget is held to; None for a footprint made without it, whose peak is then held to the budget
    ram: int | None = None

    def _checks(self, budgets: Budgets) -> list[tuple[str, float, float | int | None, str]]:
        ram = self.ram if self.ram is not None else self.peak_sram
        return [
            ("SRAM", ram, budgets.sram, " B"),
            ("flash", self.flash, budgets.flash, " B"),
            ("latency", self.latency_ms, budgets.latency_ms, " ms"),
        ]

    def fits(self, budgets: Budgets) -> bool:
        """Whether every budget given is met."""
        return all(limit is None or used <= limit for _, used, limit, _ in self._checks(budgets))

    def excess(self, budgets: Budgets) -> str:
        """ "" when it fits; else each budget exceeded, e.g. "SRAM 81,920 B over 65,536 B"."""
        over = []
        for name, used, limit, unit in self._checks(budgets):
            if limit is not None and used > limit:
                if unit == " ms":
                    over.append(f"{name} {used:,.1f} ms over {limit:,.1f} ms")
                else:
                    over.append(f"{name} {int(used):,} B over {int(limit):,} B")
        return "; ".join(over)


def default_backend(board: Board) -> Backend:
    """The kernels `tinyml report --board B` uses without --kernels: CMSIS-NN on Cortex-M boards when it is found."""
    from tinyml import pipeline

    return pipeline.backend_for(board, pipeline.CompileOptions())


def measure(
    arch: Arch,
    board: Board | str,
    channels: int,
    classes: int,
    bits: str = "8",
    *,
    sram_budget: int | None = None,
    patches: bool = True,
    backend: Backend | None = None,
) -> Footprint:
    """The footprint of `arch` (for inputs of `channels` channels and `classes` classes) on `board`, at `bits` ("8"
    or "w4a8"), as `tinyml report --board B` reports it for the model converted from `build_keras(arch, ...)`.

    `sram_budget` plans as `--sram-budget` does: the fastest plan within it, slower in-place kernels and patch
    stages where they are needed. `patches=False` plans layer by layer, as `--patches off`. Tens of milliseconds a
    candidate, but for one that needs patches to fit: the search for a patch stage takes seconds. `backend`
    defaults to the report's kernels."""
    from tinyml import pipeline
    from tinyml.nas.graph import build_graph
    from tinyml.passes import optimize

    b = pipeline.target(board)
    if b.kind != "mcu" or not b.raw.get("cpu", {}).get("clock_hz"):
        raise UsageError(
            f"the model search needs a microcontroller board with a clock and RAM; {b.name} has none",
            "name a board such as stm32f746 (`tinyml boards` lists them)",
        )
    return footprint(optimize(build_graph(arch, channels, classes, bits)), b, backend, sram_budget, patches)


def footprint(
    graph: Graph,
    board: Board,
    backend: Backend | None = None,
    sram_budget: int | None = None,
    patches: bool = True,
) -> Footprint:
    """The footprint of an optimised graph (a candidate's, or a converted file's as `tinyml.pipeline.load` gives
    it) on `board`: planned, rendered and reported as `tinyml report` does."""
    from tinyml import pipeline
    from tinyml.codegen.render import render_model
    from tinyml.measure.report import build_report
    from tinyml.plan import PlanOptions

    backend = backend or default_backend(board)
    options = PlanOptions(sram_budget=sram_budget, patches="auto" if patches else "off")
    planned = pipeline.plan(graph, board, backend, options)
    code = render_model(planned.graph, planned.plan, board, backend, layers_only=True)
    report = build_report(
        planned, code, board, graph.name, backend, sram_budget=sram_budget, smallest_peak=planned.peak
    )
    latency = report["latency"]
    return Footprint(
        peak_sram=report["sram"]["peak_bytes"],
        flash=report["flash"]["total_bytes"],
        weights=report["flash"]["weights_bytes"],
        cycles=latency["cycles"],
        latency_ms=float(latency["ms"]),
        macs=sum(layer["unpatched_macs"] for layer in report["layers"]),
        params=params(graph),
        ram=report["ram"]["total_bytes"],
    )


def params(graph: Graph) -> int:
    """Weights and biases of the graph's convolutions, depthwise convolutions and dense layers."""
    return sum(
        t.num_elements
        for op in graph.ops
        if op.type in _WEIGHTED
        for t in op.inputs[1:]
        if t is not None and t.is_const
    )
