"""Output directories that are either complete or absent, and never hold a user's file when replaced.

Everything is written and built in a hidden sibling directory, which replaces
the target only when the whole job succeeded, so a failure or Ctrl-C leaves
nothing half-written. The finished directory carries a manifest (the marker file)
with the sha256 of every file tinyml wrote, build products included. A later job
may replace the directory only if it still holds exactly that: a file the user
added or edited is never deleted without --force. A file tinyml wrote and the
user deleted is simply written again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyml.errors import OutputDirError

MARKER = ".tinyml-project"
#: how many offending files an error message names before it only counts the rest
SHOWN = 5
FIX = "move them away, choose another directory, or pass --force to replace the directory"


def _entries(root: Path) -> Iterator[tuple[str, Path]]:
    """Every non-directory entry under `root` (symbolic links, even to directories, included; not followed),
    as (POSIX path relative to root, path). Empty directories hold nothing to lose and are not listed."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        for name in sorted(files) + sorted(d for d in dirs if (here / d).is_symlink()):
            path = here / name
            yield path.relative_to(root).as_posix(), path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hashes(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `root` except the marker: what a manifest records."""
    return {rel: _sha256(path) for rel, path in _entries(root) if rel != MARKER}


@dataclass
class Survey:
    """What an existing output directory holds, compared with the manifest tinyml left in it."""

    #: True when every file in it is one tinyml wrote, unchanged (or it is empty): it may be replaced
    ours: bool
    #: what is wrong, after the directory's name ("holds 2 files tinyml did not write ..."); "" when ours
    problem: str = ""
    #: files in it (the manifest aside): what a replacement deletes
    count: int = 0
    #: directories another tool rebuilds (PlatformIO's .pio) that are present and will be replaced too
    regenerated: list[str] = field(default_factory=list)


def _n_files(n: int) -> str:
    return f"{n} file{'s' * (n != 1)}"


def _listing(names: list[str]) -> str:
    """The first few names, then how many more: short enough for a one-line message."""
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def survey(target: Path) -> Survey:
    """Compare an existing directory's files with its manifest: may tinyml replace it, and if not, why not."""
    entries = [(rel, path) for rel, path in _entries(target) if rel != MARKER]
    names = [rel for rel, _ in entries]
    has_marker = (target / MARKER).exists() or (target / MARKER).is_symlink()
    if not has_marker:
        if not entries:
            return Survey(ours=True)
        return Survey(
            False, f"already holds {_n_files(len(names))} tinyml did not write: {_listing(names)}", len(names)
        )
    manifest = _read_manifest(target / MARKER)
    files = manifest.get("files") if manifest is not None else None
    if manifest is None or not isinstance(files, dict):
        why = (
            f"has an unreadable {MARKER} manifest"
            if manifest is None
            else "was written by an older tinyml that recorded no file hashes"
        )
        problem = f"{why}, so tinyml cannot tell which of its {_n_files(len(names))} you changed: {_listing(names)}"
        return Survey(not names, problem if names else "", len(names))
    regenerated = [d for d in manifest.get("regenerated", []) if isinstance(d, str) and d and "/" not in d]
    foreign = []
    for rel, path in entries:
        if rel.split("/", 1)[0] in regenerated:
            continue
        if rel not in files:
            foreign.append(f"{rel} (added)")
        elif not path.is_file() or path.is_symlink() or _sha256(path) != files[rel]:
            foreign.append(f"{rel} (edited)")
    present = [d for d in regenerated if (target / d).is_dir() and not (target / d).is_symlink()]
    if not foreign:
        return Survey(True, "", len(names), present)
    problem = f"holds {_n_files(len(foreign))} tinyml did not write or that changed since it wrote them: "
    return Survey(False, problem + _listing(foreign), len(names), present)


def _read_manifest(path: Path) -> dict[str, Any] | None:
    """The marker's JSON object, or None when it cannot be read or is not a JSON object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_target(target: Path, force: bool = False) -> Survey | None:
    """None when `target` does not exist; else its survey. Refuses (OutputDirError) a path that is not a
    directory, and, without `force`, a directory holding anything but tinyml's own unchanged output."""
    if not target.exists() and not target.is_symlink():
        return None
    if not target.is_dir():
        raise OutputDirError(f"{target} exists and is not a directory", "choose another directory")
    s = survey(target)
    if not s.ours and not force:
        raise OutputDirError(f"{target} {s.problem}", FIX)
    return s


def _announce(target: Path, s: Survey) -> None:
    """Say what the swap is about to replace; an empty directory needs no word."""
    if not s.ours:
        print(f"tinyml: --force: replacing {target}, which {s.problem}", file=sys.stderr)
    elif s.count:
        also = "".join(f" (and the build directory {d}/ in it)" for d in s.regenerated)
        print(f"tinyml: replacing tinyml's earlier output in {target}{also}", file=sys.stderr)


@contextmanager
def staged_dir(
    target: Path,
    force: bool = False,
    quiet: bool = False,
    info: dict[str, Any] | None = None,
    regenerated: tuple[str, ...] = (),
) -> Iterator[Path]:
    """Yield a fresh directory; on success it becomes `target`, with a manifest; on failure it vanishes.

    `info` (tinyml version, model, board, ...) goes into the manifest beside the file hashes. `regenerated`
    names top-level directories another tool writes and rebuilds at will (PlatformIO's .pio): their
    contents are replaced without being recorded. The target is checked before the job, to fail before a
    long build, and again just before the swap, in case the user wrote into it meanwhile.
    """
    target = target.resolve()
    check_target(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield tmp
        manifest = {**(info or {}), "files": file_hashes(tmp), "regenerated": sorted(regenerated)}
        (tmp / MARKER).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        s = check_target(target, force)
        if s is None:
            tmp.rename(target)
            return
        if not quiet:
            _announce(target, s)
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        target.rename(old / "x")
        try:
            tmp.rename(target)
        except BaseException:
            (old / "x").rename(target)  # put the earlier output back rather than lose both
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
