"""Build and run: turn a generated project into a program, and run it.

For `host` the project's Makefile builds `app` with the host C compiler; the
app streams raw input tensors on stdin and output tensors on stdout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from tinyml import __version__
from tinyml.boards import Board
from tinyml.errors import BuildError, InputDataError, RunError, ToolchainError
from tinyml.resources import data_dir

_APT_HINT = {
    "gcc": "install a C compiler: sudo apt-get install gcc (or run `make demo`, which installs what is missing)",
    "make": "install make: sudo apt-get install make",
}


def require_tool(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolchainError(f"{tool} is not installed or not on PATH", _APT_HINT.get(tool, f"install {tool}"))
    return path


def build(project_dir: Path, board: Board) -> Path:
    """Compile the generated project; returns the built program."""
    make = require_tool("make")
    require_tool(board.toolchain.get("cc", "gcc"))
    jobs = str(max(1, min(8, os.cpu_count() or 1)))
    proc = subprocess.run(
        [make, "-C", str(project_dir), "-j", jobs, "--no-print-directory"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()] or proc.stderr.splitlines()
        detail = "\n  ".join(errors[:10])
        raise BuildError(
            f"the generated C project in {project_dir} failed to build:\n  {detail}",
            "this is a tinyml bug if the toolchain is installed correctly; please report it with the model",
        )
    return project_dir / "app"


def run_host(app: Path, data: bytes, timeout: float = 120.0) -> bytes:
    """Run a host app on concatenated input tensors; returns concatenated outputs."""
    try:
        proc = subprocess.run([str(app)], input=data, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RunError(f"{app} did not finish within {timeout:.0f} s", "check the input size") from None
    if proc.returncode == 3:
        raise InputDataError(proc.stderr.decode(errors="replace").strip(), "pass exactly the input tensor bytes")
    if proc.returncode != 0:
        raise RunError(
            f"{app} failed (exit status {proc.returncode}): {proc.stderr.decode(errors='replace').strip()}",
            "this is a tinyml bug; please report it with the model",
        )
    return proc.stdout


def source_fingerprint() -> str:
    """Hash of everything that shapes generated code, so caches notice upgrades."""
    h = hashlib.sha256(__version__.encode())
    package = Path(__file__).resolve().parent
    roots = [package, data_dir("templates"), data_dir("firmware"), data_dir("boards")]
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()


def cache_root() -> Path:
    """`$TINYML_CACHE`, else `$XDG_CACHE_HOME/tinyml`, else ~/.cache/tinyml."""
    if os.environ.get("TINYML_CACHE"):
        return Path(os.environ["TINYML_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "tinyml"
