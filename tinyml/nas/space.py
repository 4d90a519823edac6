"""The search space: MCUNet-style networks of stages, each a run of one block type.

A candidate (`Arch`) is fully determined by its input resolution, width multiplier and, per stage, block type,
kernel size, expansion ratio and depth. Channels come from the space's base channels times the width. The
space (`SearchSpace`) samples, mutates and crosses candidates with a caller's seeded generator, so the same seed
gives the same search; `restrict` fixes width and resolution, which is what stage 1 of TinyNAS chooses.

Block types:
- "mb": mobile inverted bottleneck (1x1 expand, k x k depthwise, 1x1 project; residual when shapes allow);
- "res": basic residual block (two k x k convolutions, a 1x1 projection shortcut when shapes change), as ResNet-8;
- "conv": one plain k x k convolution with ReLU, as the smallest models use.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

BLOCKS = ("mb", "res", "conv")


def scaled_channels(base: int, width: float, divisor: int = 8) -> int:
    """`base` x `width`, rounded to a multiple of `divisor` (never below it), as MobileNet's make_divisible:
    multiples of 8 keep the SIMD kernels on their fast paths."""
    c = max(divisor, int(base * width + divisor / 2) // divisor * divisor)
    if c < 0.9 * base * width:
        c += divisor
    return c


@dataclass(frozen=True)
class Stage:
    """One stage of a candidate: `depth` blocks of one type; the first has the stage's stride."""

    block: str
    channels: int
    depth: int
    stride: int
    kernel: int
    #: the inverted bottleneck's expansion ratio; 1 for the other block types
    expand: int = 1


@dataclass(frozen=True)
class Arch:
    """A candidate network: stem convolution, stages, global average pooling, one dense classifier."""

    resolution: int
    width: float
    stem: int
    stem_stride: int
    stages: tuple[Stage, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Arch:
        stages = tuple(Stage(**s) for s in d["stages"])
        return cls(int(d["resolution"]), float(d["width"]), int(d["stem"]), int(d["stem_stride"]), stages)

    @property
    def key(self) -> str:
        """A short stable name, the same in every process: logs, caches and de-duplication use it."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def describe(self) -> str:
        """One line a user can read: resolution, width, then per stage type/kernel/expansion x depth, channels."""
        parts = [
            f"{s.block}{s.kernel}" + (f"e{s.expand}" if s.block == "mb" else "") + f"x{s.depth}:{s.channels}"
            for s in self.stages
        ]
        return f"r{self.resolution} w{self.width:g} stem{self.stem} " + " ".join(parts)


@dataclass(frozen=True)
class StageSpace:
    """The choices of one stage."""

    base_channels: int
    stride: int
    blocks: tuple[str, ...] = ("mb",)
    kernels: tuple[int, ...] = (3, 5, 7)
    expands: tuple[int, ...] = (3, 4, 6)
    depths: tuple[int, ...] = (1, 2, 3)


@dataclass(frozen=True)
class SearchSpace:
    """Every candidate the search may visit."""

    stages: tuple[StageSpace, ...]
    widths: tuple[float, ...]
    resolutions: tuple[int, ...]
    stem_channels: int = 16
    stem_stride: int = 1

    def _stage(self, s: StageSpace, width: float, block: str, kernel: int, expand: int, depth: int) -> Stage:
        return Stage(
            block, scaled_channels(s.base_channels, width), depth, s.stride, kernel, expand if block == "mb" else 1
        )

    def sample(self, rng: np.random.Generator, width: float | None = None, resolution: int | None = None) -> Arch:
        """A uniformly random candidate (at a given width and resolution when they are fixed)."""
        w = width if width is not None else float(rng.choice(self.widths))
        r = resolution if resolution is not None else int(rng.choice(self.resolutions))
        stages = tuple(
            self._stage(
                s,
                w,
                str(rng.choice(s.blocks)),
                int(rng.choice(s.kernels)),
                int(rng.choice(s.expands)),
                int(rng.choice(s.depths)),
            )
            for s in self.stages
        )
        return Arch(r, w, scaled_channels(self.stem_channels, w), self.stem_stride, stages)

    def largest(self, width: float, resolution: int) -> Arch:
        """The candidate with every choice at its maximum: the supernet's shape."""
        stages = tuple(
            self._stage(s, width, s.blocks[0], max(s.kernels), max(s.expands), max(s.depths)) for s in self.stages
        )
        return Arch(resolution, width, scaled_channels(self.stem_channels, width), self.stem_stride, stages)

    def mutate(self, arch: Arch, rng: np.random.Generator, prob: float = 0.2) -> Arch:
        """Each stage's block, kernel, expansion and depth re-drawn with probability `prob` each (width and
        resolution stay: the search runs within the space stage 1 chose)."""
        stages = []
        for s, st in zip(self.stages, arch.stages, strict=True):
            block = str(rng.choice(s.blocks)) if rng.random() < prob else st.block
            kernel = int(rng.choice(s.kernels)) if rng.random() < prob else st.kernel
            expand = int(rng.choice(s.expands)) if rng.random() < prob or st.block != "mb" else st.expand
            depth = int(rng.choice(s.depths)) if rng.random() < prob else st.depth
            stages.append(self._stage(s, arch.width, block, kernel, expand, depth))
        return replace(arch, stages=tuple(stages))

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """Each stage's choices taken from one parent or the other, at random."""
        stages = tuple(sa if rng.random() < 0.5 else sb for sa, sb in zip(a.stages, b.stages, strict=True))
        return replace(a, stages=stages)

    def restrict(self, width: float, resolution: int) -> SearchSpace:
        """The space with width and resolution fixed: what stage 1 hands to stage 2."""
        return replace(self, widths=(width,), resolutions=(resolution,))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchSpace:
        stages = tuple(
            StageSpace(**{k: tuple(v) if isinstance(v, list) else v for k, v in s.items()}) for s in d["stages"]
        )
        return cls(stages, tuple(d["widths"]), tuple(d["resolutions"]), d["stem_channels"], d["stem_stride"])


def default_space(image_size: int) -> SearchSpace:
    """The space searched for images of `image_size` pixels a side: four stages that downsample 8x in all
    (16x with a stride-2 stem for inputs of 96 pixels and more), inverted bottlenecks everywhere and the
    residual and plain-conv blocks small models use in the early stages; resolutions from half to 1.5x the
    data's size in steps of 8 pixels, and MCUNet's width multipliers."""
    stem_stride = 2 if image_size >= 96 else 1
    stages = (
        StageSpace(16, 1, ("mb", "res", "conv"), expands=(1, 3, 4), depths=(1, 2)),
        StageSpace(24, 2, ("mb", "res", "conv")),
        StageSpace(40, 2, ("mb", "res")),
        StageSpace(80, 2, ("mb",)),
    )
    lo = max(16, (image_size // 2 + 7) // 8 * 8)
    hi = max(lo, image_size * 3 // 2 // 8 * 8)
    resolutions = tuple(range(lo, hi + 1, 8))
    return SearchSpace(stages, (0.25, 0.35, 0.5, 0.75, 1.0), resolutions, 16, stem_stride)
