"""Where the data directories live: next to the package in a checkout, inside it in a wheel."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`templates`, `firmware` or `boards`, wherever this installation keeps them."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"tinyml installation is missing its {name}/ directory")


def cache_root() -> Path:
    """`$TINYML_CACHE`, else `$XDG_CACHE_HOME/tinyml`, else ~/.cache/tinyml."""
    if os.environ.get("TINYML_CACHE"):
        return Path(os.environ["TINYML_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "tinyml"
