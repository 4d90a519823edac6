"""Stage 1 of TinyNAS: choose the width and input resolution the search runs at, before anything is trained.

For each (width, resolution) pair of the space, `samples` random candidates are measured (tinyml.nas.cost: the
report's own figures, milliseconds each) and those that fit the budgets kept. A space whose fitting candidates
compute more tends to hold more accurate models (MCUNet's observation), so the pair chosen is the one whose
fitting candidates have the largest mean MACs, among the pairs where at least `min_fit` of the samples fit (a pair
where a few lucky samples fit would leave stage 2 a space it mostly cannot use, and a supernet trained mostly on
sub-networks that never deploy); ties go to the pair where more candidates fit, then to the smaller resolution and
width (cheaper to train). The table shows each pair's distribution of MACs (mean, median, 90th
percentile of the fitting candidates) and the fraction that fits, so a user sees why.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from tinyml.errors import BudgetExceededError
from tinyml.nas.cost import Budgets, Footprint, measure
from tinyml.nas.space import Arch, SearchSpace, Stage
from tinyml.target.boards import Board

#: at most this many block-type combinations are tried for the space's smallest candidate (see `_smallest`)
MAX_SMALLEST = 64


@dataclass
class SpaceRow:
    """One (width, resolution) pair: how many sampled candidates fit, and how much they compute."""

    width: float
    resolution: int
    sampled: int
    fitting: int
    #: millions of multiply-accumulates of the fitting candidates (TinyNAS's "FLOPs"): mean, median, 90th
    #: percentile; 0 when none fits
    mean_mflops: float
    p50_mflops: float
    p90_mflops: float
    #: the smallest RAM on the board (what the SRAM budget is held to), peak SRAM and flash among the sampled
    min_ram: int
    min_peak_sram: int
    min_flash: int

    @property
    def fraction(self) -> float:
        """The fraction of sampled candidates that fit."""
        return self.fitting / self.sampled if self.sampled else 0.0


def _rng(seed: int, width: float, resolution: int) -> np.random.Generator:
    """Each pair's own generator, from the seed and the pair alone: the same candidates whatever else is in the
    space and in whatever order pairs are measured (a worker, another process)."""
    return np.random.default_rng([seed, round(width * 1000), resolution])


def _row(width: float, resolution: int, prints: list[Footprint], budgets: Budgets) -> SpaceRow:
    macs = np.array([fp.macs for fp in prints if fp.fits(budgets)], dtype=np.float64) / 1e6
    stats = (
        (float(macs.mean()), float(np.percentile(macs, 50)), float(np.percentile(macs, 90)))
        if macs.size
        else (0.0,) * 3
    )
    return SpaceRow(
        width,
        resolution,
        len(prints),
        int(macs.size),
        *stats,
        min_ram=min(fp.ram if fp.ram is not None else fp.peak_sram for fp in prints),
        min_peak_sram=min(fp.peak_sram for fp in prints),
        min_flash=min(fp.flash for fp in prints),
    )


def optimise_space(
    space: SearchSpace,
    board: Board | str,
    budgets: Budgets,
    channels: int,
    classes: int,
    bits: str = "8",
    samples: int = 100,
    seed: int = 0,
    progress: bool = False,
    patches: bool = False,
    min_fit: float = 0.2,
) -> tuple[SearchSpace, list[SpaceRow]]:
    """The space restricted to the (width, resolution) pair whose fitting candidates compute the most, and one
    row per pair of the space (widths, then resolutions, in the space's order). When no sampled candidate fits, the
    space's smallest candidates are measured too (and join the row of its smallest pair); when none of those fits
    either, raises BudgetExceededError naming the least RAM and flash a candidate needs.

    Candidates are planned within the SRAM budget as `tinyml compile --sram-budget` plans them, layer by layer
    unless `patches`: a patch stage can fit a few more, but searching for one takes seconds a candidate, and
    stage 1 measures thousands. `min_fit`: the fraction of samples that must fit for a pair to be chosen (when
    no pair reaches it, any pair where one fits)."""
    from tinyml import pipeline
    from tinyml.quant.progress import meter

    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    b = pipeline.target(board)
    pairs = list(itertools.product(space.widths, space.resolutions))
    seen: dict[str, Footprint] = {}  # the same candidate drawn twice is measured once

    def cost(arch: Arch) -> Footprint:
        if arch.key not in seen:
            seen[arch.key] = measure(arch, b, channels, classes, bits, sram_budget=budgets.sram, patches=patches)
        return seen[arch.key]

    prints: dict[tuple[float, int], list[Footprint]] = {}
    with meter(len(pairs) * samples, "stage 1: sizing the space", enabled=progress) as done:
        for width, resolution in pairs:
            rng = _rng(seed, width, resolution)
            prints[width, resolution] = []
            for _ in range(samples):
                prints[width, resolution].append(cost(space.sample(rng, width, resolution)))
                done(1)
    if not any(fp.fits(budgets) for fps in prints.values() for fp in fps):
        # a tight budget only the smallest candidates meet, which random samples may miss: they join their pair
        smallest = [cost(arch) for arch in _smallest(space)]
        if not any(fp.fits(budgets) for fp in smallest):
            raise _nothing_fits(b, budgets, list(seen.values()))
        prints[min(space.widths), min(space.resolutions)] += smallest
    rows = [_row(width, resolution, fps, budgets) for (width, resolution), fps in prints.items()]
    usable = [r for r in rows if r.fraction >= min_fit] or [r for r in rows if r.fitting]
    chosen = max(usable, key=lambda r: (r.mean_mflops, r.fitting, -r.resolution, -r.width))
    return space.restrict(chosen.width, chosen.resolution), rows


def _smallest(space: SearchSpace) -> list[Arch]:
    """The space's smallest candidates: the smallest width and resolution, every stage at its smallest kernel,
    expansion and depth, with each combination of block types (which is smallest depends on the shapes)."""
    width, resolution = min(space.widths), min(space.resolutions)
    base = space.largest(width, resolution)
    options = [
        [
            replace(
                st,
                block=block,
                kernel=min(s.kernels),
                depth=min(s.depths),
                expand=min(s.expands) if block == "mb" else 1,
            )
            for block in s.blocks
        ]
        for s, st in zip(space.stages, base.stages, strict=True)
    ]
    combos: list[tuple[Stage, ...]] = list(itertools.islice(itertools.product(*options), MAX_SMALLEST))
    return [replace(base, stages=stages) for stages in combos]


def _nothing_fits(board: Board, budgets: Budgets, prints: list[Footprint]) -> BudgetExceededError:
    """The error when no candidate fits: the smallest RAM, peak and flash the space reaches, and the fix."""
    ram = min(fp.ram if fp.ram is not None else fp.peak_sram for fp in prints)
    peak = min(fp.peak_sram for fp in prints)
    flash = min(fp.flash for fp in prints)
    latency = min(fp.latency_ms for fp in prints)
    limits = []
    if budgets.sram is not None:
        limits.append(f"SRAM {budgets.sram:,} B")
    if budgets.flash is not None:
        limits.append(f"flash {budgets.flash:,} B")
    if budgets.latency_ms is not None:
        limits.append(f"latency {budgets.latency_ms:,.1f} ms")
    reached = (
        f"the least RAM a candidate needs is {ram:,} B (peak SRAM {peak:,} B, plus stack and runtime), "
        f"the least flash {flash:,} B"
    )
    if budgets.latency_ms is not None:
        reached += f", the least latency {latency:,.1f} ms"
    raises = []
    if budgets.sram is not None and ram > budgets.sram:
        raises.append(f"--sram-budget to at least {ram:,}")
    if budgets.flash is not None and flash > budgets.flash:
        raises.append(f"--flash-budget to at least {flash:,}")
    if budgets.latency_ms is not None and latency > budgets.latency_ms:
        raises.append(f"--latency-budget to at least {latency:,.1f}ms")
    return BudgetExceededError(
        f"no candidate of the search space fits {' and '.join(limits) or 'the budgets'} on {board.name}: {reached}",
        f"raise {' and '.join(raises) or 'the budgets'}, or search a smaller space (lower resolutions or widths)",
    )


def format_space_table(rows: list[SpaceRow], chosen: SearchSpace) -> str:
    """The stage-1 table: per (width, resolution), the candidates that fit and their MACs; the chosen pair
    marked."""
    head = (
        f"  {'width':>5} {'res':>4} {'fit':>9} {'fit %':>6} {'mean MMACs':>10} {'p50':>7} {'p90':>7} "
        f"{'min RAM':>9} {'min flash':>10}"
    )
    lines = [head]
    pick = (chosen.widths[0], chosen.resolutions[0]) if len(chosen.widths) == len(chosen.resolutions) == 1 else None
    for r in rows:
        mark = "*" if pick == (r.width, r.resolution) else " "
        lines.append(
            f"{mark} {r.width:>5g} {r.resolution:>4} {f'{r.fitting}/{r.sampled}':>9} {100 * r.fraction:>5.0f}% "
            f"{r.mean_mflops:>10.2f} {r.p50_mflops:>7.2f} {r.p90_mflops:>7.2f} "
            f"{r.min_ram / 1024:>7.1f}KB {r.min_flash / 1024:>8.1f}KB"
        )
    if pick is not None:
        lines.append(
            f"* chosen: width {pick[0]:g}, resolution {pick[1]} "
            "(the most compute among candidates that fit, of the pairs where enough of them fit)"
        )
    return "\n".join(lines)
