"""The generated project on disk: rendered files plus the C kernels and, for boards, the runtime they need."""

from __future__ import annotations

import shutil
from pathlib import Path

from tinyml.codegen.render import RUNTIME_COMMON, ModelCode
from tinyml.resources import data_dir
from tinyml.target.firmware import runtime_sources


def write_project(code: ModelCode, out_dir: Path) -> None:
    """Write rendered files, the portable kernels and (for boards) the runtime into `out_dir`."""
    firmware = data_dir("firmware")
    for name, text in code.files.items():
        (out_dir / name).write_text(text)
    lib = out_dir / "tinyml"
    shutil.copytree(firmware / "include", lib / "include")
    shutil.copytree(firmware / "kernels", lib / "kernels")
    if code.board.kind == "mcu":
        (lib / "runtime").mkdir()
        for name in [*runtime_sources(code.board), *RUNTIME_COMMON]:
            shutil.copy2(firmware / "runtime" / name, lib / "runtime" / name)
