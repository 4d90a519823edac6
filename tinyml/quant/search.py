"""Choosing bits per layer so that the model fits its SRAM and flash budgets: two rules over the same memory model.

Each layer with weights has two knobs: its weights (8, 4 or 2 bits) and its output activation (8, 4 or 2 bits
where a ReLU or ReLU6 follows it, else 8); the ReLU after an Add has an activation knob too. An assignment gives
every knob its bits; footprint.MemoryModel says what it needs, by tinyml's planner and report. Both rules start
from 8 bits everywhere and change nothing when that fits.

`rusci`: the memory-driven rule of Rusci et al. (MLSys 2020). Activations first: while the plan is over the SRAM
budget, take the first layer whose working set (the arena bytes live while it runs, by the planner) is over what
the budget leaves for the arena, and cut the larger of its input and output by one step (8 -> 4 -> 2), the other
when the larger cannot shrink. Then weights: while over the flash budget, cut the layer holding the largest share
of the weights by one step. (When the weights cannot shrink further and the kernels' code keeps the model over, it
cuts the largest activation left.)

`sensitivity`: the least total sensitivity that fits (sensitivity.py: each choice's cost, measured alone; their sum
is the cost of an assignment, as HAWQ-V3 assumes). Over flash, the weights go first by an integer program, as in
HAWQ-V3: their flash is a sum over layers, so the bits per layer with the least cost under the budget are exact
(scipy's milp; each layer's weight bytes at 8, 4 and 2 bits measured by the report). What still does not fit goes
greedily, since SRAM is a peak over the plan and code depends on the kernels the plan picks: each step tries every
cut that can help (activations live where the plan is over SRAM; any knob over flash), to each lower bit width,
by the planner, and takes the one with the least added cost per share of the excess it removes. Last, cuts are
tried one step back up, the one saving the most cost first, and kept when the model still fits.

A budget that the fewest bits every knob may take cannot meet is refused before searching (BudgetExceededError,
exit status 3), naming the layer that cannot shrink further and by how much the model is over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tinyml.errors import BudgetExceededError

if TYPE_CHECKING:
    from tinyml.quant.footprint import Footprint, Live, MemoryModel
    from tinyml.quant.sensitivity import Sensitivity

WEIGHTS, ACTIVATIONS = "weights", "activations"
#: the rules `--mixed` takes
RULES = ("sensitivity", "rusci")

#: layer name -> (weight bits, activation bits), the form fakequant.py and QatOptions take
Assignment = dict[str, tuple[int, int]]


@dataclass(frozen=True)
class Knob:
    """One layer's weights or output activation, and the bits it may take (descending: (8, 4, 2), or (8,))."""

    layer: str
    kind: str
    bits: tuple[int, ...]
    #: why it may not go below 8 bits, when it may not
    fixed_why: str = ""

    def get(self, assignment: Assignment) -> int:
        w, a = assignment[self.layer]
        return w if self.kind == WEIGHTS else a

    def put(self, assignment: Assignment, bits: int) -> Assignment:
        """A copy of `assignment` with this knob at `bits`."""
        w, a = assignment[self.layer]
        return {**assignment, self.layer: (bits, a) if self.kind == WEIGHTS else (w, bits)}

    def lower(self, bits: int) -> int | None:
        """The next bits below `bits` it may take, or None."""
        return next((b for b in self.bits if b < bits), None)

    def higher(self, bits: int) -> int | None:
        return next((b for b in reversed(self.bits) if b > bits), None)

    @property
    def name(self) -> str:
        return f"{self.layer!r} {self.kind}"


@dataclass
class Choice:
    """An assignment a rule chose, what it needs, and why each knob has its bits."""

    rule: str
    assignment: Assignment
    footprint: Footprint
    #: the footprint at 8 bits everywhere
    int8: Footprint
    #: (layer, kind) -> why the knob has its bits
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)
    #: the assignment's total sensitivity, when measured
    cost: float | None = None


def uniform(knobs: list[Knob], pick: Callable[[Knob], int]) -> Assignment:
    """Every layer's (weight, activation) bits as `pick` gives them per knob (8 for a knob a layer lacks)."""
    assignment: Assignment = {k.layer: (8, 8) for k in knobs}
    for k in knobs:
        assignment = k.put(assignment, pick(k))
    return assignment


def total_cost(assignment: Assignment, knobs: list[Knob], sensitivity: Sensitivity) -> float:
    return sum(sensitivity.cost(k.layer, k.kind, k.get(assignment)) for k in knobs)


def require_feasible(model: MemoryModel, source: str = "the model") -> Footprint:
    """The footprint at 8 bits everywhere, once the budgets are known to be reachable: when the model does not fit
    at 8 bits, the fewest bits every knob may take must fit, or the budget is refused."""
    int8 = model.footprint(uniform(model.knobs, lambda k: 8))
    if not int8.fits:
        floor = uniform(model.knobs, lambda k: k.bits[-1])
        lowest = model.footprint(floor)
        if not lowest.fits:
            raise no_fit(model, lowest, source)
    return int8


def choose(model: MemoryModel, rule: str, sensitivity: Sensitivity | None = None, source: str = "the model") -> Choice:
    """The assignment `rule` chooses ("rusci", or "sensitivity" with the measured `sensitivity`)."""
    knobs = model.knobs
    int8 = require_feasible(model, source)
    top = uniform(knobs, lambda k: 8)
    if int8.fits:
        reasons = {(k.layer, k.kind): k.fixed_why or "8 bits: the model fits at 8 bits" for k in knobs}
        return Choice(rule, top, int8, int8, reasons, 0.0 if sensitivity else None)
    if rule == "rusci":
        choice = _rusci(model, top, int8)
    else:
        assert sensitivity is not None
        choice = _by_sensitivity(model, top, int8, sensitivity)
    for k in knobs:
        if (k.layer, k.kind) not in choice.reasons:
            choice.reasons[(k.layer, k.kind)] = k.fixed_why or "8 bits: not needed to fit"
    if sensitivity is not None:
        choice.cost = total_cost(choice.assignment, knobs, sensitivity)
    return choice


# --- Rusci et al. ---------------------------------------------------------------------------------------------------


def _rusci(model: MemoryModel, assignment: Assignment, int8: Footprint) -> Choice:
    choice = Choice("rusci", assignment, int8, int8)
    fp = int8
    for _ in range(4 * len(model.knobs) + 4):  # every pass cuts one knob one step, or ends
        if fp.fits:
            break
        if not _movable(model, choice.assignment):
            raise AssertionError("Rusci's rule cut every knob and the model does not fit, yet 2 bits fit")
        if fp.sram_over:
            cut = _rusci_activation(model, choice.assignment, fp)
        else:
            cut = _rusci_weights(model, choice.assignment, fp)
        knob, reason = cut
        choice.assignment = knob.put(choice.assignment, knob.lower(knob.get(choice.assignment)) or 0)
        choice.reasons[(knob.layer, knob.kind)] = reason
        fp = choice.footprint = model.footprint(choice.assignment)
    return choice


def _elements_bits(live: Live, assignment: Assignment) -> int:
    """A live tensor's size in bits at its current bits (the rule compares tensors by it)."""
    bits = live.knob.get(assignment) if live.knob else 8
    return live.tensor.num_elements * bits


def _rusci_activation(model: MemoryModel, assignment: Assignment, fp: Footprint) -> tuple[Knob, str]:
    limit = fp.arena_limit or 0
    over = [i for i, b in enumerate(fp.live_bytes) if b > limit] or [fp.peak_layer]
    for position in over:
        live = model.live(position)
        ends = sorted((x for x in live if x.role != "live"), key=lambda x: -_elements_bits(x, assignment))
        others = sorted((x for x in live if x.role == "live"), key=lambda x: -_elements_bits(x, assignment))
        for x in [*ends, *others]:
            if x.knob is not None and x.knob.lower(x.knob.get(assignment)) is not None:
                what = (
                    f"its larger tensor, the {x.role}"
                    if x is ends[0]
                    else f"its {x.role}, as the larger tensor cannot shrink"
                    if x.role != "live"
                    else "a tensor live across it, as its input and output cannot shrink"
                )
                return x.knob, (
                    f"SRAM: {model.label(position)} has {fp.live_bytes[position]:,} bytes live, over the "
                    f"{limit:,} the budget leaves for the arena; cut {what}"
                )
    # the busiest layers cannot shrink, but the plan (patches, placement) may still gain from others
    knob = max(_movable(model, assignment), key=lambda k: model.size_bits(k, assignment))
    return knob, f"SRAM: {fp.sram_over:,} bytes over, and the busiest layers cannot shrink further; the largest left"


def _rusci_weights(model: MemoryModel, assignment: Assignment, fp: Footprint) -> tuple[Knob, str]:
    movable = [k for k in _movable(model, assignment) if k.kind == WEIGHTS]
    if not movable:  # the weights cannot shrink further, and kernels' code keeps the model over
        knob = max(_movable(model, assignment), key=lambda k: model.size_bits(k, assignment))
        return knob, (
            f"flash: {fp.flash_over:,} bytes over with the weights as low as they go (the kernels' code counts "
            "too); the largest activation left"
        )
    knob = max(movable, key=lambda k: fp.layer_weights[model.position[k.layer]])
    share = fp.layer_weights[model.position[knob.layer]]
    return knob, (
        f"flash: {fp.flash_over:,} bytes over; layer {knob.layer!r} holds the largest share of the weights "
        f"({share:,} of {fp.weights_bytes:,} bytes)"
    )


# --- least sensitivity ----------------------------------------------------------------------------------------------


def _by_sensitivity(model: MemoryModel, assignment: Assignment, int8: Footprint, s: Sensitivity) -> Choice:
    choice = Choice("sensitivity", assignment, int8, int8)
    fp = int8
    if fp.flash_over:
        choice.assignment, reasons = _weights_program(model, choice.assignment, fp, s)
        choice.reasons.update(reasons)
        fp = model.footprint(choice.assignment)
    fp = _greedy(model, choice, fp, s)
    choice.footprint = _refine(model, choice, fp, s)
    return choice


def _weights_program(
    model: MemoryModel, assignment: Assignment, fp: Footprint, s: Sensitivity
) -> tuple[Assignment, dict[tuple[str, str], str]]:
    """The weight bits with the least total sensitivity whose flash fits (an integer program); activations as in
    `assignment`. Each layer's weight bytes at each bits come from the report (one footprint per bit width)."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp

    knobs = [k for k in model.knobs if k.kind == WEIGHTS and len(k.bits) > 1]
    widths = sorted({b for k in knobs for b in k.bits}, reverse=True)
    measured: dict[int, Footprint] = {}
    for b in widths:
        trial = assignment
        for k in knobs:
            trial = k.put(trial, b if b in k.bits else k.get(trial))
        measured[b] = model.footprint(trial)
    current = sum(fp.layer_weights[model.position[k.layer]] for k in knobs)
    assert fp.flash_limit is not None
    room = fp.flash_limit - (fp.flash_bytes - current)
    columns = [(k, b) for k in knobs for b in k.bits]
    size = np.array([measured[b].layer_weights[model.position[k.layer]] for k, b in columns], dtype=float)
    # ties (choices that cost nothing measurable) go to the higher bits
    cost = np.array([s.cost(k.layer, WEIGHTS, b) + 1e-12 * (8 - b) for k, b in columns])
    one_each = np.array([[1.0 if c[0] is k else 0.0 for c in columns] for k in knobs])
    result = milp(
        cost,
        constraints=[LinearConstraint(one_each, 1, 1), LinearConstraint(size[None, :], -np.inf, room)],
        integrality=np.ones(len(columns)),
        bounds=Bounds(0, 1),
    )
    # no solution: the code around the weights takes more than 2-bit weights leave; they go as low as they can,
    # and the greedy steps cut what else can shrink
    chosen = (
        {columns[i] for i, v in enumerate(result.x) if v > 0.5}
        if result.x is not None
        else {(k, k.bits[-1]) for k in knobs}
    )
    reasons = {}
    for k, b in chosen:
        assignment = k.put(assignment, b)
        if b < 8:
            reasons[(k.layer, k.kind)] = (
                f"flash: {fp.flash_over:,} bytes over; of the weight bits that fit, the least total sensitivity "
                f"(integer program); {s.cost(k.layer, WEIGHTS, b):.3g} at {b} bits"
            )
    return assignment, reasons


def excess(fp: Footprint) -> float:
    """How far `fp` is over its budgets, as a fraction of each limit, summed: 0 when it fits."""
    sram = fp.sram_over / fp.sram_limit if fp.sram_limit else 0.0
    flash = fp.flash_over / fp.flash_limit if fp.flash_limit else 0.0
    return sram + flash


def _greedy(model: MemoryModel, choice: Choice, fp: Footprint, s: Sensitivity) -> Footprint:
    """Cut one knob at a time until the model fits: of the cuts that can help (over SRAM: the activations live where
    the plan is over; over flash: any knob, as kernels' code counts too), each to any of its lower bits (2 bits may
    cost less than 4), the one whose sensitivity grows least per share of the excess it removes (`excess`, by the
    planner and report)."""
    for _ in range(sum(len(k.bits) for k in model.knobs)):
        if fp.fits:
            return fp
        candidates: set[Knob] = set()
        over: list[int] = []  # where the plan is over the SRAM budget
        if fp.sram_over:
            limit = fp.arena_limit or 0
            over = [i for i, b in enumerate(fp.live_bytes) if b > limit] or [fp.peak_layer]
            for position in over:
                for x in model.live(position):
                    if x.knob is not None and x.knob.lower(x.knob.get(choice.assignment)) is not None:
                        candidates.add(x.knob)
        if fp.flash_over or not candidates:  # flash, or the busiest layers cannot shrink: any other knob
            candidates.update(_movable(model, choice.assignment))
        # a cut that removes none of the excess ranks by the live bytes it frees where the plan is over (another op
        # is as busy), or anywhere when SRAM fits (the plan the planner then finds may need less code: no patch
        # stage, say); one that frees none does not help at all
        where = over or range(len(fp.live_bytes))
        best: tuple[float, float, Knob, int, Footprint] | None = None
        for knob in sorted(candidates, key=lambda k: (model.position[k.layer], k.kind)):
            now = knob.get(choice.assignment)
            for lower in (b for b in knob.bits if b < now):
                trial = model.footprint(knob.put(choice.assignment, lower))
                progress = excess(fp) - excess(trial)
                extra = max(0.0, s.cost(knob.layer, knob.kind, lower) - s.cost(knob.layer, knob.kind, now))
                freed = sum(max(0, fp.live_bytes[i] - trial.live_bytes[i]) for i in where)
                if progress <= 0 and freed <= 0:
                    continue
                score = extra / progress if progress > 0 else 1e9 + extra / freed
                if best is None or (score, -progress) < (best[0], -best[1]):
                    best = (score, progress, knob, lower, trial)
        if best is None:
            raise AssertionError(f"no cut brings the model closer to its budgets, yet 2 bits fit: {choice.assignment}")
        _, progress, knob, lower, trial = best
        cost = s.cost(knob.layer, knob.kind, lower)
        excess_text = " and ".join(
            f"{n:,} bytes over on {what}" for n, what in ((fp.sram_over, "SRAM"), (fp.flash_over, "flash")) if n
        )
        choice.reasons[(knob.layer, knob.kind)] = (
            f"{excess_text}; the least sensitivity per share of that removed: sensitivity {cost:.3g} at {lower} bits "
            f"(SRAM {_less(fp.sram_bytes - trial.sram_bytes)}, flash {_less(fp.flash_bytes - trial.flash_bytes)})"
            if progress > 0
            else f"{excess_text}, and no single cut lowers it; the least sensitivity per byte freed where it is "
            f"over: sensitivity {cost:.3g} at {lower} bits"
        )
        choice.assignment = knob.put(choice.assignment, lower)
        fp = trial
    if not fp.fits:
        raise AssertionError(f"the sensitivity rule found no assignment that fits, yet 2 bits fit: {choice.assignment}")
    return fp


def _less(saved: int) -> str:
    return f"{saved:,} bytes less" if saved >= 0 else f"{-saved:,} bytes more"


def _refine(model: MemoryModel, choice: Choice, fp: Footprint, s: Sensitivity) -> Footprint:
    """Raise cut knobs back one step while the model still fits, the one whose step back saves the most cost
    first, until none can."""
    improved = True
    while improved:
        improved = False
        steps = []
        for k in model.knobs:
            now = k.get(choice.assignment)
            up = k.higher(now)
            if up is not None:
                steps.append((s.cost(k.layer, k.kind, now) - s.cost(k.layer, k.kind, up), k, up))
        for gain, k, up in sorted(steps, key=lambda x: -x[0]):
            if gain < 0:  # the knob costs less where it is: leave it
                continue
            trial_assignment = k.put(choice.assignment, up)
            trial = model.footprint(trial_assignment)
            if trial.fits:
                choice.assignment, fp, improved = trial_assignment, trial, True
                why = choice.reasons.get((k.layer, k.kind), "")
                choice.reasons[(k.layer, k.kind)] = (
                    f"{why}; raised back to {up} bits, which still fits" if up < 8 else "8 bits: not needed to fit"
                )
                break
    return fp


# --- no assignment fits ---------------------------------------------------------------------------------------------


def budget_name(fp: Footprint, which: str) -> str:
    """ "the --sram-budget of 65,536 bytes", or "stm32f746's 327,680-byte RAM"."""
    entry = fp.report["budget"][which]
    if entry["source"] == "option":
        return f"the --{which}-budget of {entry['limit_bytes']:,} bytes"
    region = "RAM" if which == "sram" else "flash"
    return f"{fp.report['board']['name']}'s {entry['limit_bytes']:,}-byte {region}"


def _movable(model: MemoryModel, assignment: Assignment) -> list[Knob]:
    """The knobs that can still go one step lower (there is one while the fewest bits are not reached)."""
    return [k for k in model.knobs if k.lower(k.get(assignment)) is not None]


def no_fit(model: MemoryModel, fp: Footprint, source: str) -> BudgetExceededError:
    """The error for a budget that `floor` (the fewest bits every knob may take) does not meet: which layer cannot
    shrink further, and by how much the model is over."""
    if fp.sram_over:
        position = fp.peak_layer
        fixed = [x for x in model.live(position) if x.knob is None or x.knob.bits[-1] == 8]
        why = (
            f"; {sum(x.tensor.nbytes for x in fixed):,} of its {fp.live_bytes[position]:,} live bytes stay 8-bit"
            if fixed
            else ""
        )
        return BudgetExceededError(
            f"{source} does not fit {budget_name(fp, 'sram')} at any bits: with 2-bit weights and activations "
            f"wherever allowed it needs {fp.sram_bytes:,} bytes of SRAM, {fp.sram_over:,} over; its peak is at "
            f"{model.label(position)}, which cannot shrink further{why}",
            f"raise --sram-budget to at least {fp.sram_bytes:,} bytes, use a board with more RAM, or make "
            f"{model.label(position)} smaller",
        )
    weights = [k for k in model.knobs if k.kind == WEIGHTS]
    largest = max(weights, key=lambda k: fp.layer_weights[model.position[k.layer]], default=None)
    where = (
        f"; its largest layer, {model.label(model.position[largest.layer])}, holds "
        f"{fp.layer_weights[model.position[largest.layer]]:,} bytes of 2-bit weights and cannot shrink further"
        if largest is not None
        else ""
    )
    return BudgetExceededError(
        f"{source} does not fit {budget_name(fp, 'flash')} at any bits: with 2-bit weights it needs "
        f"{fp.flash_bytes:,} bytes of flash ({fp.weights_bytes:,} of weights), {fp.flash_over:,} over{where}",
        f"raise --flash-budget to at least {fp.flash_bytes:,} bytes, use a board with more flash"
        + (", or --kernels portable (less code)" if model.backend.name != "portable" else ", or a smaller model"),
    )
