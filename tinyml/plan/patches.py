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
computes it: outputs stay bit-exact.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from tinyml.ir.graph import Graph, Operator, Tensor
from tinyml.kernels import REGISTRY
from tinyml.kernels.portable.conv import window_padding
from tinyml.kernels.portable.region import COPY

#: ops a stage may contain: windowed ops and elementwise ops on same-shape operands
WINDOWED = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D")
ELEMENTWISE = ("ADD", "MUL", "RELU", "RELU6")


@dataclass(frozen=True)
class Region:
    """Rows [y0, y1) and columns [x0, x1) of a feature map."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def rows(self) -> int:
        return self.y1 - self.y0

    @property
    def cols(self) -> int:
        return self.x1 - self.x0

    def union(self, other: Region) -> Region:
        return Region(min(self.y0, other.y0), max(self.y1, other.y1), min(self.x0, other.x0), max(self.x1, other.x1))


@dataclass(frozen=True)
class PatchConfig:
    """Run ops [0, split) patch by patch, over a rows x cols grid of the stage output."""

    split: int
    rows: int
    cols: int

    def __str__(self) -> str:
        return f"{self.rows}x{self.cols} patches over the first {self.split} ops"


#: (kh, kw, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left) of a windowed op
Window = tuple[int, int, int, int, int, int, int, int]


def _window(op: Operator) -> Window:
    """The window of a windowed op (see Window)."""
    inp, out = op.input(0), op.outputs[0]
    if op.type in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        kh, kw, dh, dw = op.attrs["filter_height"], op.attrs["filter_width"], 1, 1
    else:
        kh, kw = op.input(1).shape[1:3]
        dh, dw = op.attrs.get("dilation_h_factor", 1), op.attrs.get("dilation_w_factor", 1)
    pad_h, pad_w = window_padding(op, inp.shape[1:3], (kh, kw), out.shape[1:3])
    return kh, kw, op.attrs["stride_h"], op.attrs["stride_w"], dh, dw, pad_h, pad_w


def _needed(window: Window | None, out: Region, t: Tensor) -> Region:
    """The region of input `t` that computing `out` of an op's output reads, clipped to the image.

    `window` is the op's window, or None for an elementwise op (which reads the same region)."""
    if window is None:
        return out
    kh, kw, sh, sw, dh, dw, ph, pw = window
    _, h, w, _ = t.shape
    return Region(
        max(0, out.y0 * sh - ph),
        min(h, (out.y1 - 1) * sh - ph + (kh - 1) * dh + 1),
        max(0, out.x0 * sw - pw),
        min(w, (out.x1 - 1) * sw - pw + (kw - 1) * dw + 1),
    )


def stage_candidates(graph: Graph) -> list[int]:
    """Split points: prefixes of spatial ops that end in one tensor, the only one the rest of the graph reads."""
    if len(graph.inputs) != 1 or len(graph.inputs[0].shape) != 4 or graph.inputs[0].shape[0] != 1:
        return []
    splits = []
    for split in range(1, len(graph.ops)):
        stage = graph.ops[:split]
        if not all(_stageable(op) for op in stage):
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


def _stageable(op: Operator) -> bool:
    if op.type in WINDOWED:
        return len(op.input(0).shape) == 4 and op.input(0).shape[0] == 1
    if op.type in ELEMENTWISE:
        acts = [t for t in op.inputs if t is not None and not t.is_const]
        # a constant operand is cut per patch (see _const_part), so it must broadcast to the 4-D output
        consts = [t for t in op.inputs if t is not None and t.is_const]
        fits = all(len(t.shape) <= 4 and _broadcasts(t.shape, op.outputs[0].shape) for t in consts)
        return fits and all(t.shape == op.outputs[0].shape for t in acts) and len(op.outputs[0].shape) == 4
    return False


def _broadcasts(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    padded = (1,) * (len(to) - len(shape)) + tuple(shape)
    return len(padded) == len(to) and all(a in (1, b) for a, b in zip(padded, to, strict=True))


def _const_part(t: Tensor, region: Region, tag: str) -> Tensor:
    """The part of constant operand `t` an elementwise op reads for output `region`: a constant that varies over
    rows or columns is cut to the region (one constant per patch), one that does not is passed whole."""
    shape4 = (1,) * (4 - len(t.shape)) + tuple(t.shape)
    if shape4[1] == 1 and shape4[2] == 1:
        return t
    rows = slice(region.y0, region.y1) if shape4[1] > 1 else slice(None)
    cols = slice(region.x0, region.x1) if shape4[2] > 1 else slice(None)
    data = np.ascontiguousarray(t.data.reshape(shape4)[:, rows, cols, :])
    name = f"{t.name} [{tag}, rows {region.y0}-{region.y1 - 1} cols {region.x0}-{region.x1 - 1}]"
    return Tensor(name, data.shape, t.dtype, t.quant, data, t.bits, t.index)


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
    windows = {id(op): _window(op) for op in stage if op.type in WINDOWED}
    for number, tile in enumerate(tiles):
        ops.extend(_patch_ops(graph, stage, windows, stage_out, tile, f"patch {number + 1}/{len(tiles)}"))
    return replace(graph, ops=ops + graph.ops[config.split :])


def _patch_ops(
    graph: Graph, stage: list[Operator], windows: dict[int, Window], stage_out: Tensor, tile: Region, tag: str
) -> list[Operator]:
    # regions: what each stage tensor must hold for this tile (union of its consumers' needs)
    need: dict[int, Region] = {id(stage_out): tile}
    for op in reversed(stage):
        out_region = need.get(id(op.outputs[0]))
        if out_region is None:
            continue
        for t in op.inputs:
            if t is not None and not t.is_const:
                r = _needed(windows.get(id(op)), out_region, t)
                need[id(t)] = need[id(t)].union(r) if id(t) in need else r

    patch: dict[int, Tensor] = {}  # original tensor -> its patch tensor

    def patch_tensor(t: Tensor, region: Region, suffix: str = "") -> Tensor:
        shape = (1, region.rows, region.cols, t.shape[3])
        return Tensor(f"{t.name} [{tag}{suffix}]", shape, t.dtype, t.quant, None, t.bits, t.index)

    ops: list[Operator] = []
    graph_input = graph.inputs[0]
    for op in stage:
        inputs: list[Tensor | None] = []
        out_region = need[id(op.outputs[0])]
        for t in op.inputs:
            if t is None or t.is_const:
                inputs.append(t if t is None or op.type in WINDOWED else _const_part(t, out_region, tag))
                continue
            want = _needed(windows.get(id(op)), out_region, t)
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
        attrs = dict(op.attrs)
        if op.type in WINDOWED:
            *_, sh, sw, _, _, ph, pw = windows[id(op)]
            want = _needed(windows[id(op)], out_region, op.input(0))
            attrs["padding"] = "EXPLICIT"
            attrs["explicit_padding"] = (ph + want.y0 - out_region.y0 * sh, pw + want.x0 - out_region.x0 * sw)
        ops.append(Operator(op.type, inputs, [out], attrs, index=op.index))
    ops.append(_copy(patch[id(stage_out)], stage_out, 0, 0, tile.y0, tile.x0, tile, stage[-1].index))
    return ops


def _copy(src: Tensor, dst: Tensor, sy: int, sx: int, dy: int, dx: int, region: Region, index: int) -> Operator:
    attrs = {"src": (sy, sx), "dst": (dy, dx), "size": (region.rows, region.cols)}
    return Operator(COPY, [src], [dst], attrs, index=index)


def mac_overhead(graph: Graph, expanded: Graph) -> float:
    """MACs of the expanded graph relative to the original (>= 1: halos are recomputed)."""
    original = sum(REGISTRY[op.type].macs(op) for op in graph.ops)
    after = sum(REGISTRY[op.type].macs(op) for op in expanded.ops)
    return after / original if original else 1.0
