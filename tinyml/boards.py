"""Boards are data: each `boards/*.toml` describes one target."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

from tinyml.errors import UsageError
from tinyml.resources import data_dir


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    kind: str
    aliases: tuple[str, ...] = ()
    toolchain: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def list_boards() -> list[Board]:
    """Every board tinyml knows, sorted by name."""
    boards = []
    for path in sorted(data_dir("boards").glob("*.toml")):
        with path.open("rb") as f:
            raw = tomllib.load(f)
        boards.append(
            Board(
                name=raw["name"],
                description=raw.get("description", ""),
                kind=raw.get("kind", "mcu"),
                aliases=tuple(raw.get("aliases", ())),
                toolchain=raw.get("toolchain", {}),
                raw=raw,
            )
        )
    return boards


def load_board(name: str) -> Board:
    """The board called `name` (or one of its aliases)."""
    boards = list_boards()
    for b in boards:
        if name == b.name or name in b.aliases:
            return b
    known = ", ".join(b.name for b in boards)
    raise UsageError(f"unknown board {name!r}", f"use one of: {known} (see `tinyml boards`)")
