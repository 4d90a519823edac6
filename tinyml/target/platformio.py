"""Export a generated project as a PlatformIO project, for users who build and flash with `pio`.

tinyml's own projects build with make and arm-none-eabi-gcc; many users already
have PlatformIO, which fetches the toolchain and flashes over the ST-LINK with
one command. The export holds the same files `write_project` writes, laid out the
way PlatformIO expects: the model and runtime in src/, the portable kernels as a
library in lib/tinyml/, tinyml's linker script, and a platformio.ini naming the
board's PlatformIO id (from the board TOML's [platformio] table). Bare metal, no
framework: PlatformIO's ststm32 platform adds only -Os (removed) and its usual
warning and section flags to what platformio.ini declares.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Any

from tinyml import __version__
from tinyml.codegen.project import write_project
from tinyml.codegen.render import ModelCode, template_env
from tinyml.codegen.staging import staged_dir
from tinyml.errors import UsageError
from tinyml.target.boards import Board, list_boards
from tinyml.target.build import FLOAT_SOURCE
from tinyml.target.packs import CmsisPaths

#: the library the kernels become, under lib/
LIB_NAME = "tinyml"
#: the extra script that hands custom_link_flags to the linker
LINK_SCRIPT = "tinyml_link.py"
LDSCRIPT = "linker.ld"
#: compiler flags besides the CPU's, as in templates/mcu/Makefile.j2 (less -Werror: users' compilers vary)
COMMON_CFLAGS = (
    "-O2",
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-ffunction-sections",
    "-fdata-sections",
    "-fmerge-all-constants",
    "-DTM_PROFILE_LAYERS",
)
#: linker flags besides the CPU's, as in templates/mcu/Makefile.j2; PlatformIO links -lc -lgcc -lm itself
COMMON_LDFLAGS = ("-Wl,--gc-sections", "--specs=nano.specs", "--specs=nosys.specs", "-nostartfiles")
#: flags the ststm32 bare-metal build adds that would override ours
UNFLAGS = ("-Os",)
#: rendered board files that have no place in a PlatformIO project (it builds itself)
SKIPPED = ("Makefile",)


def pio_boards() -> list[str]:
    """Boards that can be exported: those with a [platformio] table."""
    return [b.name for b in list_boards() if "platformio" in b.raw]


def platformio_facts(board: Board) -> dict[str, Any]:
    """The board's [platformio] table, or a UsageError saying which boards can be exported."""
    facts = board.raw.get("platformio")
    if facts is None:
        if board.kind == "host":
            what = "is this computer, not a microcontroller"
        elif board.raw.get("emulated"):
            what = "is an emulated board (QEMU)"
        else:
            what = "is a board"
        raise UsageError(
            f"{board.name} {what} and has no PlatformIO board to export a PlatformIO project for",
            f"export for a hardware board ({', '.join(pio_boards())}); "
            "run emulated boards with `tinyml run` or `tinyml bench` instead",
        )
    return facts


def build_flags(board: Board) -> list[str]:
    """What platformio.ini's build_flags hold: the board's CPU flags and tinyml's compiler flags."""
    return [*board.raw["cpu"]["gcc_flags"], *COMMON_CFLAGS]


def link_flags(board: Board) -> list[str]:
    """What platformio.ini's custom_link_flags hold: the CPU flags again (they pick the C library) and ours."""
    return [*board.raw["cpu"]["gcc_flags"], *COMMON_LDFLAGS]


def _layout(code: ModelCode, generated: Path, out: Path) -> None:
    """Move a `write_project` tree into PlatformIO's layout."""
    src = out / "src"
    src.mkdir()
    for name in code.files:
        if name in SKIPPED:
            continue
        if name == LDSCRIPT:
            shutil.move(generated / name, out / name)
        elif name.endswith((".c", ".h", ".S")):
            shutil.move(generated / name, src / name)
        else:
            raise AssertionError(f"export does not know where {name} belongs")
    lib = out / "lib" / LIB_NAME
    lib.mkdir(parents=True)
    shutil.move(generated / "tinyml" / "include", lib / "include")
    shutil.move(generated / "tinyml" / "kernels", lib / "kernels")
    runtime = generated / "tinyml" / "runtime"
    for path in sorted(runtime.iterdir()) if runtime.is_dir() else []:
        if (src / path.name).exists():
            raise AssertionError(f"runtime file {path.name} collides with a generated file")
        shutil.move(path, src / path.name)


def export_platformio(
    code: ModelCode,
    out_dir: Path,
    *,
    model_path: str = "MODEL.tflite",
    force: bool = False,
    quiet: bool = False,
    info: dict[str, Any] | None = None,
) -> None:
    """Write `code` as a PlatformIO project in `out_dir`, complete or not at all.

    `model_path` is the .tflite file the README's bench command names. `info` goes
    into the directory's tinyml marker, as for `tinyml compile`; its "model" entry
    (the model's name) titles the README.
    """
    board = code.board
    pio = platformio_facts(board)
    prefix = next(Path(name).stem for name in code.files if name.endswith(".c"))  # render_model writes it first
    ctx = {
        "version": __version__,
        "title": (info or {}).get("model") or Path(model_path).stem,
        "board": board,
        "pio": {"platform": pio["platform"], "board": pio["board"], "toolchain": pio.get("toolchain", "")},
        "env": board.name,
        "prefix": prefix,
        "model": shlex.quote(model_path),
        "lib_name": LIB_NAME,
        "ldscript": LDSCRIPT,
        "link_script": LINK_SCRIPT,
        "build_flags": build_flags(board),
        "build_unflags": list(UNFLAGS),
        "link_flags": link_flags(board),
        "upload_protocol": pio.get("upload_protocol", "stlink"),
        "baud": board.raw["runtime"]["baud"],
    }
    env = template_env()
    marker = {"tinyml": __version__, "board": board.name, **(info or {}), "export": "platformio"}
    # .pio is PlatformIO's build directory: `pio run` fills it, and a re-export may replace it
    with staged_dir(out_dir, force=force, quiet=quiet, info=marker, regenerated=(".pio",)) as tmp:
        generated = tmp / ".generated"
        generated.mkdir()
        write_project(code, generated)
        _layout(code, generated, tmp)
        shutil.rmtree(generated)
        for name, target in (
            ("platformio.ini", "platformio.ini"),
            ("tinyml_link.py", LINK_SCRIPT),
            ("README.md", "README.md"),
            ("library.json", f"lib/{LIB_NAME}/library.json"),
        ):
            (tmp / target).write_text(env.get_template(f"platformio/{name}.j2").render(**ctx))
        if code.backend.cmsis is not None:
            _vendor_cmsis_nn(code.backend.cmsis, tmp / "lib" / "CMSIS-NN")
            (tmp / "lib" / "CMSIS-NN" / "library.json").write_text(
                env.get_template("platformio/cmsis-nn-library.json.j2").render(**ctx)
            )
        (tmp / ".gitignore").write_text(".pio/\n")  # PlatformIO's build directory


def _vendor_cmsis_nn(paths: CmsisPaths, lib: Path) -> None:
    """Copy CMSIS-NN (and the CMSIS core headers it includes) into the user's project as a PlatformIO library.

    The generated code calls CMSIS-NN, so the project must carry it to build on
    its own. Both are Apache-2.0; their licence files go along. Float sources
    are left out: CMSIS-NN's optional float API does not build by default.
    """
    shutil.copytree(paths.nn / "Include", lib / "Include")
    for src in sorted((paths.nn / "Source").rglob("*.c")):
        if not FLOAT_SOURCE.search(src.stem):
            target = lib / "Source" / src.relative_to(paths.nn / "Source")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    core = paths.core / "CMSIS" / "Core" / "Include"
    for header in sorted(core.glob("*.h")):
        shutil.copy2(header, lib / "Include" / header.name)
    for licence, name in ((paths.nn / "LICENSE", "LICENSE"), (paths.core / "LICENSE", "LICENSE.CMSIS")):
        if licence.is_file():
            shutil.copy2(licence, lib / name)
