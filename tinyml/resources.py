"""Where the data directories live: next to the package in a checkout, inside it in a wheel."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def cache_lock(entry: Path) -> Iterator[None]:
    """Hold an exclusive lock on one cache entry while it is checked and filled.

    Two tinyml processes (parallel builds, pytest workers) that want the same entry would otherwise both build it
    and collide on its files; the second now waits and then finds it built. The lock files live apart, in the
    cache's locks/ folder, so a cache folder holds only its entries.
    """
    locks = cache_root() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(str(entry.absolute()).encode()).hexdigest()[:24]
    with open(locks / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
