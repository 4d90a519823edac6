"""Build and run: turn a generated project into a program, and run it.

For `host` the project's Makefile builds `app` with the host C compiler; the
app streams raw input tensors on stdin and output tensors on stdout.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tinyml import __version__
from tinyml.errors import BudgetExceededError, BuildError, InputDataError, RunError, ToolchainError
from tinyml.resources import cache_lock, cache_root, data_dir
from tinyml.target.boards import Board
from tinyml.target.packs import FIX

if TYPE_CHECKING:
    from tinyml.target.packs import CmsisPaths

_APT_HINT = {
    "gcc": "install a C compiler: sudo apt-get install gcc (or run `make demo`, which installs what is missing)",
    "make": "install make: sudo apt-get install make",
    "arm-none-eabi-gcc": "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "qemu-system-arm": "sudo apt-get install qemu-system-arm",
}


def require_tool(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolchainError(f"{tool} is not installed or not on PATH", _APT_HINT.get(tool, f"install {tool}"))
    return path


def _compiler(board: Board) -> str:
    return "arm-none-eabi-gcc" if board.kind == "mcu" else board.toolchain.get("cc", "gcc")


def _cpu_flags(board: Board) -> list[str]:
    return list(board.raw["cpu"]["gcc_flags"]) if board.kind == "mcu" else []


#: CMSIS-NN's optional float API (off by default, as in its CMake build): these sources do not compile without it
FLOAT_SOURCE = re.compile(r"_(f16|f32|flt)$")


def cmsis_library_path(paths: CmsisPaths, board: Board) -> Path:
    """Where the CMSIS-NN static library for this tree and core lives in the cache."""
    key = "|".join([str(paths.nn.resolve()), str(paths.core.resolve()), _compiler(board), *_cpu_flags(board)])
    return cache_root() / "cmsis-nn" / hashlib.sha256(key.encode()).hexdigest()[:16] / "libcmsis-nn.a"


def build_cmsis_library(paths: CmsisPaths, board: Board) -> Path:
    """Compile every CMSIS-NN source for the board's core, once, into a static library.

    The linker's --gc-sections keeps only the kernels a model calls. -O2 as in
    the TFLite Micro builds we compare against.
    """
    lib = cmsis_library_path(paths, board)
    with cache_lock(lib.parent):
        if not lib.is_file():
            _build_cmsis_library(paths, board, lib)
    return lib


def _build_cmsis_library(paths: CmsisPaths, board: Board, lib: Path) -> None:
    """The build itself, under the library's lock, in a scratch directory beside it."""
    make = require_tool("make")
    require_tool(_compiler(board))
    from tinyml.codegen.render import template_env

    work = lib.parent / "build"
    shutil.rmtree(work, ignore_errors=True)  # objects left by a failed build may belong to another source list
    work.mkdir(parents=True, exist_ok=True)
    cross = "arm-none-eabi-" if board.kind == "mcu" else ""
    makefile = (
        template_env()
        .get_template("cmsis-nn/Makefile.j2")
        .render(
            nn=paths.nn,
            cc=_compiler(board),
            ar=f"{cross}ar",
            cpu_flags=_cpu_flags(board),
            include_dirs=paths.include_dirs,
            sources=sorted(str(p) for p in (paths.nn / "Source").rglob("*.c") if not FLOAT_SOURCE.search(p.stem)),
            lib=lib,
        )
    )
    (work / "Makefile").write_text(makefile)
    jobs = str(max(1, min(8, os.cpu_count() or 1)))
    proc = subprocess.run([make, "-C", str(work), "-j", jobs, "-s"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()][:5]
        raise BuildError(f"CMSIS-NN in {paths.nn} failed to build: {' | '.join(errors)}", FIX)
    shutil.rmtree(work, ignore_errors=True)


def build(project_dir: Path, board: Board, cmsis: CmsisPaths | None = None) -> Path:
    """Compile the generated project; returns the built program (`app` on the host, `firmware.elf` on boards)."""
    make = require_tool("make")
    require_tool(_compiler(board))
    if cmsis is not None:
        build_cmsis_library(cmsis, board)
    objects = kernel_objects_path(project_dir, board)
    restored = _restore_kernel_objects(objects, project_dir)
    jobs = str(max(1, min(8, os.cpu_count() or 1)))
    proc = subprocess.run(
        [make, "-C", str(project_dir), "-j", jobs, "--no-print-directory"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        overflow = [ln for ln in proc.stderr.splitlines() if "does not fit" in ln]
        if overflow:
            raise BudgetExceededError(
                f"the firmware for {board.name} does not fit: {overflow[0].split('tinyml: ', 1)[-1]}",
                "see `tinyml report` for what uses the memory; use a board with more memory or a smaller model",
            )
        errors = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()] or proc.stderr.splitlines()
        detail = "\n  ".join(errors[:10])
        raise BuildError(
            f"the generated C project in {project_dir} failed to build:\n  {detail}",
            "this is a tinyml bug if the toolchain is installed correctly; please report it with the model",
        )
    if not restored:
        _store_kernel_objects(project_dir, objects)
    return project_dir / ("firmware.elf" if board.kind == "mcu" else "app")


# --- compiled kernels, reused between projects ----------------------------------------------------------------------
#
# Every project carries all of tinyml's C kernels and its Makefile compiles them all (the linker keeps those the model
# calls), so a project stays self-contained. Compiled with the same compiler and flags, they are the same objects in
# every project: tinyml keeps them in its cache and puts them in a new project before `make`, which then compiles
# only the model (its own .o files are newer than the sources, so make leaves them). A user running `make` in an
# output directory compiles everything as usual.


def _kernel_sources(project_dir: Path) -> list[Path]:
    return sorted((project_dir / "tinyml" / "kernels").glob("*.c"))


def kernel_objects_path(project_dir: Path, board: Board) -> Path:
    """Where the kernels of this project, compiled, are cached: keyed by the compiler, the Makefile (flags, include
    directories; its first line names the model and is left out), the environment make reads them from, and every
    kernel source and tinyml header."""
    h = hashlib.sha256(_compiler_identity(_compiler(board)).encode())
    h.update(repr([os.environ.get(v) for v in ("CC", "CROSS", "CFLAGS", "CPPFLAGS", "CPUFLAGS")]).encode())
    makefile = (project_dir / "Makefile").read_text().split("\n", 1)[-1]
    h.update(makefile.encode())
    sources = [*_kernel_sources(project_dir), *sorted((project_dir / "tinyml" / "include").rglob("*.h"))]
    for path in sources:
        h.update(str(path.relative_to(project_dir)).encode() + b"\0" + path.read_bytes())
    return cache_root() / "kernel-objects" / h.hexdigest()[:20]


@functools.cache
def _compiler_identity(compiler: str) -> str:
    """The compiler's path and version: objects from another compiler are not reused."""
    path = shutil.which(compiler) or compiler
    proc = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return f"{path}|{proc.stdout.splitlines()[0] if proc.stdout else ''}"


def _restore_kernel_objects(objects: Path, project_dir: Path) -> bool:
    """Copy the cached objects into the project (newer than its sources); False when there are none."""
    sources = _kernel_sources(project_dir)
    cached = [objects / f"{src.stem}.o" for src in sources]
    if not sources or not all(o.is_file() for o in cached):
        return False
    for src, obj in zip(sources, cached, strict=True):
        shutil.copyfile(obj, src.with_suffix(".o"))
    return True


def _store_kernel_objects(project_dir: Path, objects: Path) -> None:
    """Keep the project's freshly compiled kernel objects for the next project (written aside, then renamed)."""
    built = [src.with_suffix(".o") for src in _kernel_sources(project_dir)]
    if not built or not all(o.is_file() for o in built) or objects.is_dir():
        return
    objects.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{objects.name}.", dir=objects.parent))
    try:
        for obj in built:
            shutil.copyfile(obj, tmp / obj.name)
        tmp.rename(objects)
    except OSError:
        pass  # another process stored them first, or the cache is not writable: nothing is lost but time
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True)
class FirmwareSize:
    """What a built image takes on the board, read from the ELF's program headers."""

    flash_bytes: int
    ram_bytes: int
    flash_capacity: int
    ram_capacity: int


def firmware_size(elf: Path, board: Board) -> FirmwareSize:
    """Flash (everything loaded) and RAM (everything resident in the RAM region, stack included) of an image."""
    readelf = require_tool("arm-none-eabi-readelf")
    out = subprocess.run([readelf, "-lW", str(elf)], capture_output=True, text=True, check=True).stdout
    regions = {m["kind"]: (m["origin"], m["size"]) for m in board.raw["memory"] if m["kind"] in ("flash", "ram")}
    flash_origin, flash_size = regions["flash"]
    ram_origin, ram_size = regions["ram"]
    flash = ram = 0
    for line in out.splitlines():
        fields = line.split()
        if not fields or fields[0] != "LOAD":
            continue
        vaddr, paddr, filesz, memsz = (int(f, 16) for f in fields[2:6])
        if flash_origin <= paddr < flash_origin + flash_size:
            flash += filesz
        if ram_origin <= vaddr < ram_origin + ram_size:
            ram += memsz
    return FirmwareSize(flash, ram, flash_size, ram_size)


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
