"""The memory a bit assignment needs, from tinyml's own planner and report: peak SRAM (in place and patches
included, stack and runtime counted) and flash (weights packed at their bits, code, constants).

The model is converted once, at 8 bits; `MemoryModel` holds its int8 IR graph and knows which tensors each layer's
choices change: a layer's weights, and its output activation together with the outputs of the pools, reshapes and
squeezes that pass it on with its quantization. Evaluating an assignment copies the graph and makes it what the
converted file will be (`as_converted`): 4-bit weights become INT4 tensors, 2-bit weights int8 values in −2 … 1,
and a b-bit activation gets the scale 6/(2^b − 1), zero point −128 and fused RELU6 that confine it to 2^b levels.
The graph optimiser then stores packed whatever tinyml stores packed when it compiles that file (passes/subbyte.py:
where the kernels that write and read a tensor take it packed), and the copy is planned for the board as `tinyml
compile` plans it, rendered and reported. No TensorFlow and no conversion: milliseconds for a small model, well
under a second for the MLPerf Tiny ones. Results are kept per assignment.

`restricted` keeps for each knob only the bits tinyml can compile and stores packed: a sub-byte activation that
would be stored as int8 (its readers have no packed kernels) would cost accuracy and save nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyml.ir.graph import Graph, Operator, Tensor
from tinyml.plan.schedule import reordered, schedule
from tinyml.quant.search import ACTIVATIONS, WEIGHTS, Assignment, Knob

#: the ops with weights (a knob's layer is one of them, or the ADD a ReLU was fused into)
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
#: ops whose output carries their input's values unchanged (a sub-byte activation stays sub-byte through them)
PASS_THROUGH = ("MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE", "SQUEEZE", "EXPAND_DIMS")


@dataclass(frozen=True)
class Footprint:
    """What the report says an assignment needs, against the limits it must fit."""

    #: RAM the image needs (arena, I/O buffers outside it, stack, runtime) and its limit (None: no limit)
    sram_bytes: int
    sram_limit: int | None
    #: the arena's peak alone
    arena_bytes: int
    #: flash the image needs (weights, code, constants) and its limit
    flash_bytes: int
    flash_limit: int | None
    #: bytes of weights in flash
    weights_bytes: int
    #: per layer of the graph (op position): arena bytes live at its busiest, and its weights' bytes in flash
    live_bytes: tuple[int, ...]
    layer_weights: tuple[int, ...]
    #: the op position where the peak occurs
    peak_layer: int
    #: the report as data, for summaries
    report: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def sram_over(self) -> int:
        """Bytes of SRAM over the limit (0 when it fits)."""
        return 0 if self.sram_limit is None else max(0, self.sram_bytes - self.sram_limit)

    @property
    def flash_over(self) -> int:
        return 0 if self.flash_limit is None else max(0, self.flash_bytes - self.flash_limit)

    @property
    def fits(self) -> bool:
        return self.sram_over == 0 and self.flash_over == 0

    @property
    def arena_limit(self) -> int | None:
        """The arena bytes the SRAM limit leaves once the stack, runtime and external buffers are counted."""
        return None if self.sram_limit is None else self.sram_limit - (self.sram_bytes - self.arena_bytes)


@dataclass(frozen=True)
class Live:
    """An activation tensor live while a layer runs, and the knob that sets its bits (None: it stays 8-bit)."""

    tensor: Tensor
    knob: Knob | None
    #: "input", "output" or "live" (alive across the layer, such as a residual branch)
    role: str


class MemoryModel:
    """The int8 graph of a model, the knobs of its layers, and the footprint of any assignment on one target."""

    def __init__(
        self,
        graph: Graph,
        layers: dict[str, Operator],
        knobs: list[Knob],
        board: Any,
        backend: Any,
        plan_options: Any,
        flash_budget: int | None = None,
    ) -> None:
        self.graph = graph
        self.knobs = knobs
        self.board = board
        self.backend = backend
        self.plan_options = plan_options
        self.flash_budget = flash_budget
        #: layer name -> position of its op in the graph
        self.position = {name: graph.ops.index(op) for name, op in layers.items()}
        #: layer name -> its weights tensor (layers with weights), and the activation tensors its activation bits set
        self.weights = {name: op.input(1) for name, op in layers.items() if op.type in WEIGHTED_OPS}
        self.activations = {name: _carriers(graph, op.outputs[0]) for name, op in layers.items()}
        #: layer name -> its operator
        self.ops = dict(layers)
        self._owner: dict[int, Knob] = {}
        self._set_knobs(knobs)
        #: (step of each op position, each activation's (first, last) step) per order the planner may run the
        #: ops in: the file's, and the one tinyml.plan.schedule picks for the int8 graph
        self._orders = [(list(range(len(graph.ops))), _lifetimes(graph))]
        order = schedule(graph)
        if order is not None:
            step = [0] * len(order)
            for k, p in enumerate(order):
                step[p] = k
            self._orders.append((step, _lifetimes(reordered(graph, order))))
        self._cache: dict[tuple[tuple[str, int, int], ...], Footprint] = {}
        self.evaluations = 0

    def _set_knobs(self, knobs: list[Knob]) -> None:
        self.knobs = knobs
        self._owner = {}
        for knob in knobs:
            if knob.kind == ACTIVATIONS and len(knob.bits) > 1:
                for t in self.activations[knob.layer]:
                    self._owner[id(t)] = knob

    def restricted(self) -> MemoryModel:
        """This model with each knob's bits restricted to those tinyml compiles, and stores packed when they are
        activations (see the module docstring); a knob left at 8 bits says why."""
        from dataclasses import replace

        from tinyml.errors import UnsupportedOpError

        knobs = []
        top: Assignment = {k.layer: (8, 8) for k in self.knobs}
        for knob in self.knobs:
            allowed, why = [8], ""
            for bits in knob.bits[1:]:
                try:
                    _, memo = self._converted(knob.put(top, bits))
                except UnsupportedOpError:
                    why = why or (
                        f"8 bits: tinyml has no kernel for {self.label(self.position[knob.layer])} with {bits}-bit "
                        f"{knob.kind}"
                    )
                    continue
                if knob.kind == ACTIVATIONS and not memo[id(self.activations[knob.layer][0])].type.sub_byte:
                    why = why or "8 bits: tinyml would store it as int8 (what reads it has no kernel for packed inputs)"
                    continue
                allowed.append(bits)
            knobs.append(
                replace(knob, bits=tuple(allowed), fixed_why=knob.fixed_why or (why if len(allowed) == 1 else ""))
            )
        other = copy.copy(self)
        other._set_knobs(knobs)
        other._cache = {}
        return other

    def with_budgets(self, sram_budget: int | None, flash_budget: int | None) -> MemoryModel:
        """The same model and target under other budgets (None: the board's RAM or flash)."""
        from dataclasses import replace

        other = copy.copy(self)
        other.plan_options = replace(self.plan_options, sram_budget=sram_budget)
        other.flash_budget = flash_budget
        other._cache = {}
        other.evaluations = 0
        return other

    # --- evaluation -------------------------------------------------------------------------------------------

    def footprint(self, assignment: Assignment) -> Footprint:
        """Plan, render and report the graph with `assignment`'s bits (memoised)."""
        key = tuple(sorted((name, *bits) for name, bits in assignment.items()))
        if key not in self._cache:
            self._cache[key] = self._evaluate(assignment)
        return self._cache[key]

    def graph_for(self, assignment: Assignment) -> Graph:
        """A copy of the int8 graph as tinyml compiles the file converted at `assignment`'s bits."""
        return self._converted(assignment)[0]

    def _converted(self, assignment: Assignment) -> tuple[Graph, dict[int, Any]]:
        """`graph_for`, and the copy's memo (id of an original object -> its copy)."""
        from dataclasses import replace

        from tinyml.ir.graph import Quantization
        from tinyml.ir.types import INT4
        from tinyml.passes import optimize
        from tinyml.quant.options import sub_byte_scale

        memo: dict[int, Any] = {}
        graph = copy.deepcopy(self.graph, memo)
        for name, (w, a) in assignment.items():
            if w < 8:
                t = memo[id(self.weights[name])]
                if w == 4:  # a TFLite INT4 tensor: values in [-7, 7]
                    t.type, t.data = INT4, np.clip(t.data, -7, 7).astype(np.int8)
                else:  # int8 values -2 .. 1
                    t.data = np.clip(t.data, -2, 1).astype(np.int8)
            if a < 8:
                op = memo[id(self.ops[name])]
                op.attrs = replace(op.attrs, activation="RELU6")
                quant = Quantization((float(np.float32(sub_byte_scale(a))),), (-128,))
                for t in self.activations[name]:
                    memo[id(t)].quant = quant
        return optimize(graph), memo

    def _evaluate(self, assignment: Assignment) -> Footprint:
        self.evaluations += 1
        return self.measure(self.graph_for(assignment))

    def measure(self, graph: Graph) -> Footprint:
        """The footprint of `graph` (this model's, at any bits: a written file's, say) on this target."""
        from tinyml import pipeline
        from tinyml.measure.report import build_report

        planned = pipeline.plan(graph, self.board, self.backend, self.plan_options)
        code = pipeline.render(planned, self.board, self.backend)
        report = build_report(
            planned,
            code,
            self.board,
            self.graph.name,
            self.backend,
            sram_budget=self.plan_options.sram_budget,
            flash_budget=self.flash_budget,
            prefer=self.plan_options.prefer,
            smallest_peak=planned.peak,
        )
        sram, flash = report["budget"]["sram"], report["budget"]["flash"]
        layers = report["layers"]
        # the planner may run the ops in another order than the file's (tinyml.plan.schedule): the report's layers
        # follow it, the knobs' positions the file's
        source = {op.index: p for p, op in enumerate(self.graph.ops)}
        run = [source.get(op.index) for op in (planned.unpatched or planned).graph.ops]
        if sorted(p for p in run if p is not None) == list(range(len(layers))):
            by_position = [layers[k] for k in sorted(range(len(layers)), key=lambda k: run[k])]
            peak_layer = run[report["sram"]["peak_layer"] or 0]
            layers = by_position
        else:
            peak_layer = report["sram"]["peak_layer"] or 0
        return Footprint(
            sram_bytes=report["ram"]["total_bytes"],
            sram_limit=sram["limit_bytes"] if sram else None,
            arena_bytes=report["ram"]["arena_bytes"] + report["ram"]["external_io_bytes"],
            flash_bytes=report["flash"]["total_bytes"],
            flash_limit=flash["limit_bytes"] if flash else None,
            weights_bytes=report["flash"]["weights_bytes"],
            live_bytes=tuple(layer["live_bytes"] for layer in layers),
            layer_weights=tuple(layer["weights_bytes"] for layer in layers),
            peak_layer=peak_layer or 0,
            report=report,
        )

    # --- structure --------------------------------------------------------------------------------------------

    def live(self, position: int) -> list[Live]:
        """The activation tensors live while the layer at `position` runs: its inputs, its output, and those alive
        across it in the file's order or the planner's other (a tensor lowered there may let that order win);
        each with the knob that sets its bits."""
        op = self.graph.ops[position]
        ins = {id(t) for t in op.inputs if t is not None and not t.is_const}
        outs = {id(t) for t in op.outputs}
        found = []
        for t in self.graph.activations():
            if (
                id(t) in ins
                or id(t) in outs
                or any(spans[id(t)][0] < step[position] < spans[id(t)][1] for step, spans in self._orders)
            ):
                role = "input" if id(t) in ins else "output" if id(t) in outs else "live"
                found.append(Live(t, self._owner.get(id(t)), role))
        return found

    def size_bits(self, knob: Knob, assignment: Assignment) -> int:
        """The bits the tensors `knob` sets hold at `assignment` (a rule's measure of a tensor's size)."""
        tensors = [self.weights[knob.layer]] if knob.kind == WEIGHTS else self.activations[knob.layer][:1]
        return sum(t.num_elements for t in tensors) * knob.get(assignment)

    def label(self, position: int) -> str:
        """How messages name the layer at `position`: by its Keras name when it is one of the knobs' layers."""
        op = self.graph.ops[position]
        name = next((n for n, p in self.position.items() if p == position), None)
        return f"layer {name!r} ({op.type})" if name is not None else f"{op.type} (op {position})"


def _carriers(graph: Graph, out: Tensor) -> list[Tensor]:
    """`out`, and the outputs of the ops that pass it on unchanged (same quantization), transitively."""
    found = [out]
    for t in found:
        for op in graph.consumers(t):
            o = op.outputs[0]
            if op.type in PASS_THROUGH and op.inputs[0] is t and o.quant == t.quant and o not in found:
                found.append(o)
    return found


def _lifetimes(graph: Graph) -> dict[int, tuple[int, int]]:
    """Each activation's (first, last) op: graph inputs are born before op 0, outputs live past the last op."""
    spans: dict[int, tuple[int, int]] = {id(t): (-1, -1) for t in graph.inputs}
    for i, op in enumerate(graph.ops):
        for t in [*op.inputs, *op.outputs]:
            if t is not None and not t.is_const:
                born, _ = spans.get(id(t), (i, i))
                spans[id(t)] = (born, i)
    for t in graph.outputs:
        spans[id(t)] = (spans.get(id(t), (0, 0))[0], len(graph.ops))
    return spans
