"""Arena allocators: buffers with lifetimes placed at offsets, TFLM's interface, several strategies.

Every strategy places each buffer at the lowest offset where it fits among the buffers alive at the same
time; they differ only in the order they place buffers. The planner runs them all and keeps the smallest.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass

ALIGNMENT = 16


def align(n: int, to: int = ALIGNMENT) -> int:
    return (n + to - 1) // to * to


@dataclass
class Buffer:
    """A request: `size` bytes live from op `first` to op `last`, inclusive.

    `segments` refines that for buffers whose size changes over their life (an
    in-place chain whose tensors grow or shrink): (size, first, last) pieces
    sharing one offset, in time order, disjoint, within [first, last]. Bytes
    above a piece's size are free during it.
    """

    name: str
    size: int
    first: int
    last: int
    offset: int = -1
    segments: tuple[tuple[int, int, int], ...] = ()

    def __post_init__(self) -> None:
        if not self.segments:
            self.segments = ((self.size, self.first, self.last),)

    def size_at(self, t: int) -> int:
        return max((size for size, a, b in self.segments if a <= t <= b), default=0)

    def collides(self, offset: int, other: Buffer) -> bool:
        """Whether this buffer placed at `offset` overlaps placed `other` at some op."""
        for size, a, b in self.segments:
            for osize, oa, ob in other.segments:
                if a <= ob and oa <= b and offset < other.offset + osize and other.offset < offset + size:
                    return True
        return False


class Planner(ABC):
    """Collects buffers, then places them; subclasses choose the placement order."""

    name = "planner"

    def __init__(self, alignment: int = ALIGNMENT) -> None:
        self.alignment = alignment
        self.buffers: list[Buffer] = []
        self._planned = False

    def add_buffer(
        self, name: str, size: int, first_use: int, last_use: int, segments: tuple[tuple[int, int, int], ...] = ()
    ) -> int:
        """Register a buffer (optionally with time-varying `segments`); returns its id for `offset`."""
        if first_use > last_use:
            raise ValueError(f"buffer {name}: first use {first_use} after last use {last_use}")
        previous = first_use - 1
        for _, a, b in segments:
            if not previous < a <= b <= last_use:
                raise ValueError(f"buffer {name}: pieces must be disjoint, in time order, within its uses")
            previous = b
        pieces = tuple((align(sz, self.alignment), a, b) for sz, a, b in segments)
        self.buffers.append(Buffer(name, align(size, self.alignment), first_use, last_use, segments=pieces))
        self._planned = False
        return len(self.buffers) - 1

    def offset(self, buffer_id: int) -> int:
        self._ensure_planned()
        return self.buffers[buffer_id].offset

    def peak(self) -> int:
        """Arena bytes the plan needs."""
        self._ensure_planned()
        return max((b.offset + b.size for b in self.buffers), default=0)

    def _ensure_planned(self) -> None:
        if not self._planned:
            for b in self.buffers:
                b.offset = -1
            placed: list[Buffer] = []
            for i in self.order():
                self.buffers[i].offset = self._first_fit(self.buffers[i], placed)
                placed.append(self.buffers[i])
            self._planned = True

    @abstractmethod
    def order(self) -> list[int]:
        """The order in which buffers are placed, each at its lowest fitting offset."""

    def _first_fit(self, want: Buffer, placed: list[Buffer]) -> int:
        """Lowest offset where `want` fits among `placed` buffers alive at the same time.

        Each placed piece alive during a piece of `want` rules out the offsets that would overlap it: the
        open interval (its offset - that piece's size, its end). The lowest offset in none of them is 0 or
        the end of a placed piece: TFLM's gap search, generalised to buffers whose size changes over time,
        as one sweep over the intervals sorted by their start.
        """
        ruled_out = sorted(
            (b.offset - size, b.offset + osize)
            for b in placed
            if b.first <= want.last and want.first <= b.last
            for size, a, z in want.segments
            for osize, oa, oz in b.segments
            if a <= oz and oa <= z
        )
        offset = 0
        for start, end in ruled_out:
            if start >= offset:
                break
            offset = max(offset, end)
        return offset

    def __str__(self) -> str:
        self._ensure_planned()
        lines = [f"{self.name}: peak {self.peak()} bytes", f"{'offset':>8} {'size':>8} {'ops':>9}  buffer"]
        for b in sorted(self.buffers, key=lambda b: (b.offset, b.first)):
            lines.append(f"{b.offset:>8} {b.size:>8} {b.first:>4}-{b.last:<4}  {b.name}")
        return "\n".join(lines)


class GreedyBySizePlanner(Planner):
    """TFLite Micro's GreedyMemoryPlanner: largest buffers first."""

    name = "greedy-by-size"

    def order(self) -> list[int]:
        return sorted(range(len(self.buffers)), key=lambda i: -self.buffers[i].size)


class GreedyByBreadthPlanner(Planner):
    """Place the buffers of the most crowded op first (Pisarchyk and Lee, 2020).

    Ops whose live set is largest constrain the arena most, so their buffers
    take the low offsets; the others fill in around them.
    """

    name = "greedy-by-breadth"

    def order(self) -> list[int]:
        if not self.buffers:
            return []
        last = max(b.last for b in self.buffers)
        load = bytes_per_op(self.buffers, last + 1)
        alive: list[list[int]] = [[] for _ in range(last + 1)]
        for i, b in enumerate(self.buffers):
            for t in range(b.first, b.last + 1):
                alive[t].append(i)
        ops = sorted(range(last + 1), key=lambda t: -load[t])
        seen: set[int] = set()
        result: list[int] = []
        for t in ops:
            live = [i for i in alive[t] if i not in seen]
            for i in sorted(live, key=lambda i: -self.buffers[i].size):
                seen.add(i)
                result.append(i)
        return result


class GreedyByLifetimePlanner(Planner):
    """Longest-lived buffers first: they pin the arena for the whole run."""

    name = "greedy-by-lifetime"

    def order(self) -> list[int]:
        return sorted(
            range(len(self.buffers)),
            key=lambda i: (-(self.buffers[i].last - self.buffers[i].first), -self.buffers[i].size),
        )


STRATEGIES: tuple[type[Planner], ...] = (GreedyBySizePlanner, GreedyByBreadthPlanner, GreedyByLifetimePlanner)


def bytes_per_op(buffers: list[Buffer], n_ops: int, granule: int = 1) -> list[int]:
    """Bytes live during each of the first `n_ops` ops, each piece rounded up to `granule` (a difference
    array: patch-expanded graphs have thousands of ops)."""
    delta = [0] * (n_ops + 1)
    for b in buffers:
        for size, a, z in b.segments:
            if a < n_ops:
                delta[a] += align(size, granule)
                delta[min(z, n_ops - 1) + 1] -= align(size, granule)
    return list(itertools.accumulate(delta[:n_ops]))
