"""Patch-based inference (MCUNetV2): run the early, high-resolution layers one spatial patch at a time.

The first layers of a vision network hold the largest feature maps. Computing
the stage's output tile by tile, each tile from just the input region it needs
(its receptive field, halo included, recomputing the overlap with its
neighbours), means only one tile's worth of every intermediate map is ever
alive. After the stage the network continues layer by layer.

The stage is expanded into ordinary operators on patch-sized tensors, so the
planner and code generator need nothing special: a patch's tensors simply die
before the next patch starts. Convolutions and pools on a patch get explicit
leading padding (real padding at image borders, none inside), and a tensor's
patch buffer covers exactly the in-image part of what its consumers need, so
every tap that falls outside a buffer is outside the image, as TFLite
computes it: outputs stay bit-exact. A resize on a patch reads the rows and
columns the whole image's coordinate tables name for its tile, through those
tables cut to the tile (its definition's `patch_attrs`), so it too computes the
whole-image bytes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tinyml.ir.graph import Graph, Operator, Tensor
from tinyml.ops import Role, definition
from tinyml.ops.region import COPY, RegionAttrs
from tinyml.ops.window import EXPLICIT, Region, Window


@dataclass(frozen=True)
class PatchConfig:
    """Run ops [0, split) patch by patch, over a rows x cols grid of the stage output."""

    split: int
    rows: int
    cols: int

    def __str__(self) -> str:
        return f"{self.rows}x{self.cols} patches over the first {self.split} ops"


def _needed(op: Operator, window: Window | None, out: Region, i: int) -> Region:
    """The region of input i that computing `out` of the op's output reads, clipped to the image: the
    definition's receptive field (through the op's window, worked out once per op, for windowed ops)."""
    if window is not None:
        return window.receptive_field(out, op.input(i).shape[1:3])
    return definition(op).receptive_field(op, out, i)


def stage_candidates(graph: Graph) -> list[int]:
    """Split points: prefixes of spatial ops that end in one tensor, the only one the rest of the graph reads."""
    if len(graph.inputs) != 1 or len(graph.inputs[0].shape) != 4 or graph.inputs[0].shape[0] != 1:
        return []
    splits = []
    for split in range(1, len(graph.ops)):
        stage = graph.ops[:split]
        if not all(definition(op).patchable(op) for op in stage):
            break
        produced = {id(t) for op in stage for t in op.outputs}
        read_later = {id(t) for op in graph.ops[split:] for t in op.inputs if t is not None and id(t) in produced}
        read_inside = {id(t) for op in stage for t in op.inputs if t is not None}
        out = stage[-1].outputs[0]
        # every stage tensor but the output must feed the stage itself (a side branch would have no patch region)
        dead_ends = produced - read_inside - {id(out)}
        exported = produced & {id(t) for t in graph.outputs}
        if read_later == {id(out)} and not dead_ends and not exported and out.shape[1] > 1:
            splits.append(split)
    return splits


def _const_part(t: Tensor, out: Region, read: Region, tag: str) -> Tensor:
    """The part `read` (its receptive field) of constant operand `t` an elementwise op reads for output region
    `out`: a constant that varies over rows or columns is cut (one constant per patch), one that does not is passed
    whole."""
    _, h, w, _ = shape4 = (1,) * (4 - len(t.shape)) + tuple(t.shape)
    if h == 1 and w == 1:
        return t
    assert t.data is not None
    data = np.ascontiguousarray(t.data.reshape(shape4)[:, read.y0 : read.y1, read.x0 : read.x1, :])
    name = f"{t.name} [{tag}, rows {out.y0}-{out.y1 - 1} cols {out.x0}-{out.x1 - 1}]"
    return Tensor(name, data.shape, t.type, t.quant, data, t.index)


def _tiles(size: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous ranges covering [0, size), as even as possible."""
    bounds = [round(i * size / parts) for i in range(parts + 1)]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def expand(graph: Graph, config: PatchConfig) -> Graph:
    """The graph with its first `config.split` ops replaced by their per-patch copies.

    Returns a new Graph sharing the original tensors outside the stage.
    """
    stage = graph.ops[: config.split]
    stage_out = stage[-1].outputs[0]
    _, out_h, out_w, _ = stage_out.shape
    ops: list[Operator] = []
    tiles = [
        Region(y0, y1, x0, x1)
        for (y0, y1), (x0, x1) in itertools.product(_tiles(out_h, config.rows), _tiles(out_w, config.cols))
    ]
    # once per op, not per patch: the planner expands every candidate stage and grid
    windows = {id(op): definition(op).window(op) for op in stage}
    padded: dict[tuple[int, tuple[int, ...]], Any] = {}  # (op, explicit padding) -> its attributes, shared by tiles
    for number, tile in enumerate(tiles):
        ops.extend(_patch_ops(graph, stage, windows, padded, stage_out, tile, f"patch {number + 1}/{len(tiles)}"))
    return replace(graph, ops=ops + graph.ops[config.split :])


def _patch_ops(
    graph: Graph,
    stage: list[Operator],
    windows: dict[int, Window | None],
    padded: dict[tuple[int, tuple[int, ...]], Any],
    stage_out: Tensor,
    tile: Region,
    tag: str,
) -> list[Operator]:
    # regions: what each stage tensor must hold for this tile (union of its consumers' needs)
    need: dict[int, Region] = {id(stage_out): tile}
    for op in reversed(stage):
        out_region = need.get(id(op.outputs[0]))
        if out_region is None:
            continue
        for i, t in enumerate(op.inputs):
            if t is not None and not t.is_const:
                r = _needed(op, windows[id(op)], out_region, i)
                need[id(t)] = need[id(t)].union(r) if id(t) in need else r

    patch: dict[int, Tensor] = {}  # original tensor -> its patch tensor

    def patch_tensor(t: Tensor, region: Region, suffix: str = "") -> Tensor:
        shape = (1, region.rows, region.cols, t.shape[3])
        return Tensor(f"{t.name} [{tag}{suffix}]", shape, t.type, t.quant, None, t.index)

    ops: list[Operator] = []
    graph_input = graph.inputs[0]
    for op in stage:
        inputs: list[Tensor | None] = []
        out_region = need[id(op.outputs[0])]
        roles = definition(op).roles(op)
        for i, t in enumerate(op.inputs):
            if t is not None and t.is_const and roles[i] is Role.FEATURE:  # an elementwise op's constant operand
                inputs.append(_const_part(t, out_region, _needed(op, None, out_region, i), tag))
                continue
            if t is None or t.is_const:  # weights, biases, parameters: whole
                inputs.append(t)
                continue
            want = _needed(op, windows[id(op)], out_region, i)
            have = need[id(t)]
            if t is graph_input or want != have:  # gather the exact region this op reads
                source = graph_input if t is graph_input else patch[id(t)]
                base = Region(0, t.shape[1], 0, t.shape[2]) if t is graph_input else have
                part = patch_tensor(t, want, f", rows {want.y0}-{want.y1 - 1} cols {want.x0}-{want.x1 - 1}")
                ops.append(_copy(source, part, want.y0 - base.y0, want.x0 - base.x0, 0, 0, want, op.index))
                inputs.append(part)
            else:
                inputs.append(patch[id(t)])
        out = patch_tensor(op.outputs[0], out_region)
        patch[id(op.outputs[0])] = out
        attrs = op.attrs
        window = windows[id(op)]
        if window is not None:  # the window's padding on this patch: the image's at its borders, none inside
            pads = window.explicit_for(out_region, _needed(op, window, out_region, 0))
            key = (id(op), pads)
            if key not in padded:
                padded[key] = replace(attrs, padding=EXPLICIT, explicit_padding=pads)
            attrs = padded[key]
        else:  # an op whose arithmetic depends on where its tile lies (a resize) says so in its attributes
            attrs = definition(op).patch_attrs(op, out_region, _needed(op, None, out_region, 0))
        ops.append(Operator(op.type, inputs, [out], attrs, index=op.index))
    ops.append(_copy(patch[id(stage_out)], stage_out, 0, 0, tile.y0, tile.x0, tile, stage[-1].index))
    return ops


def _copy(src: Tensor, dst: Tensor, sy: int, sx: int, dy: int, dx: int, region: Region, index: int) -> Operator:
    attrs = RegionAttrs((sy, sx), (dy, dx), (region.rows, region.cols))
    return Operator(COPY, [src], [dst], attrs, index=index)


def mac_overhead(graph: Graph, expanded: Graph) -> float:
    """MACs of the expanded graph relative to the original (>= 1: halos are recomputed)."""
    original = sum(definition(op).macs(op) for op in graph.ops)
    after = sum(definition(op).macs(op) for op in expanded.ops)
    return after / original if original else 1.0
