"""Boards are data: each `boards/*.toml` describes one target."""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
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


def _board_files() -> list[Path]:
    """tinyml's own boards, plus the user's in the directories listed in $TINYML_BOARDS."""
    dirs = [data_dir("boards")] + [Path(d) for d in os.environ.get("TINYML_BOARDS", "").split(os.pathsep) if d]
    return sorted((p for d in dirs for p in d.glob("*.toml")), key=lambda p: p.name)


def list_boards() -> list[Board]:
    """Every board tinyml knows, sorted by name."""
    boards = []
    for path in _board_files():
        try:
            with path.open("rb") as f:
                raw = tomllib.load(f)
            raw["name"]
        except (tomllib.TOMLDecodeError, KeyError) as e:
            raise UsageError(f"{path} is not a valid board file ({e})", "fix or remove it") from None
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
    """The board called `name` or one of its aliases, in any letter case (`STM32F746` is `stm32f746`).

    A name that matches nothing is refused with the closest known names, since
    board names are long and easy to mistype.
    """
    boards = list_boards()
    spellings: dict[str, tuple[str, Board]] = {}  # lower case -> (the name as its board file spells it, board)
    for b in boards:
        for known in (b.name, *b.aliases):
            spellings.setdefault(known.lower(), (known, b))
    key = name.strip().lower()
    if key in spellings:
        return spellings[key][1]
    closest: dict[str, str] = {}  # board name -> its closest spelling: one suggestion per board, best first
    for match in difflib.get_close_matches(key, list(spellings), n=6, cutoff=0.6):
        spelling, board = spellings[match]
        closest.setdefault(board.name, spelling)
    close = list(closest.values())[:3]
    hint = ""
    if close:
        hint = f"; did you mean {close[0] if len(close) == 1 else ', '.join(close[:-1]) + ' or ' + close[-1]}?"
    known = ", ".join(b.name for b in boards)
    raise UsageError(f"unknown board {name!r}{hint}", f"use one of: {known} (see `tinyml boards`)")


def emulation_board(board: Board) -> Board:
    """The board to run when `board` is emulated: itself, or its closest emulated core with `board`'s limits.

    A hardware board names an emulated stand-in under [emulate]; the stand-in keeps
    its own peripherals and memory addresses but takes the hardware board's
    compiler flags and memory sizes, so what does not fit the real board does
    not fit the emulation either.
    """
    if board.raw.get("emulated"):
        return board
    target = board.raw.get("emulate", {}).get("board")
    if target is None:
        raise UsageError(f"board {board.name} has no emulated stand-in", "run it on the hardware instead")
    stand_in = load_board(target)
    sizes = {m["kind"]: m["size"] for m in board.raw["memory"] if m["kind"] in ("flash", "ram")}
    memory = [{**m, "size": sizes.get(m["kind"], m["size"])} for m in stand_in.raw["memory"]]
    raw = {
        **stand_in.raw,
        "name": f"{board.name}@{stand_in.name}",
        "description": f"{board.name} emulated on {stand_in.name} with {board.name}'s memory sizes",
        "cpu": {**stand_in.raw["cpu"], "gcc_flags": board.raw["cpu"]["gcc_flags"]},
        "memory": memory,
    }
    return Board(raw["name"], raw["description"], "mcu", (), stand_in.toolchain, raw)
