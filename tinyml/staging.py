"""Output directories that are either complete or absent.

Everything is written and built in a hidden sibling directory, which replaces
the target only when the whole job succeeded. A target that holds files tinyml
did not write is never touched without --force.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tinyml.errors import OutputDirError

MARKER = ".tinyml-project"


@contextmanager
def staged_dir(target: Path, force: bool = False, quiet: bool = False, info: dict | None = None) -> Iterator[Path]:
    """Yield a fresh directory; on success it becomes `target`, on failure it vanishes."""
    target = target.resolve()
    if target.exists():
        if not target.is_dir():
            raise OutputDirError(f"{target} exists and is not a directory", "choose another -o path")
        ours = (target / MARKER).is_file()
        if not ours and any(target.iterdir()) and not force:
            raise OutputDirError(
                f"{target} already holds files that tinyml did not write",
                "choose an empty or new directory, or pass --force to replace it",
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield tmp
        (tmp / MARKER).write_text(json.dumps(info or {}, indent=2, sort_keys=True) + "\n")
        if target.exists():
            if not quiet:
                print(f"tinyml: replacing the previous contents of {target}", file=sys.stderr)
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            target.rename(old / "x")
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
