"""PlatformIO export and Renode scripts, checked offline.

PlatformIO cannot fetch its platform here, so `pio run` is out of reach. What is
checked instead: PlatformIO itself parses and lints platformio.ini and the
library manifest, and arm-none-eabi-gcc builds src/ and lib/ into a firmware
image with exactly the flags, include directories and linker script the project
declares, which shows the project is complete.
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support import mlperf_dir

from tinyml.codegen.project import write_project
from tinyml.codegen.render import ModelCode, render_model
from tinyml.codegen.staging import MARKER
from tinyml.errors import OutputDirError, RunError, ToolchainError, UsageError
from tinyml.frontend.tflite import load_model
from tinyml.passes import optimize
from tinyml.plan import plan_memory
from tinyml.target.boards import load_board
from tinyml.target.build import build, firmware_size
from tinyml.target.platformio import LINK_SCRIPT, export_platformio
from tinyml.target.renode import RENODE, renode_script, require_renode, run_renode

MODEL = "kws_ref_model.tflite"
BOARDS = {"stm32f746": "disco_f746ng", "nucleo-l4r5zi": "nucleo_l4r5zi"}
CC = "arm-none-eabi-gcc"


@pytest.fixture(scope="module")
def graph_and_plan():  # type: ignore[no-untyped-def]
    graph = optimize(load_model(mlperf_dir() / MODEL))
    return graph, plan_memory(graph)


def _code(graph_and_plan, board: str) -> ModelCode:  # type: ignore[no-untyped-def]
    graph, plan = graph_and_plan
    return render_model(graph, plan, load_board(board))


@pytest.fixture(scope="module")
def codes(graph_and_plan) -> dict[str, ModelCode]:  # type: ignore[no-untyped-def]
    return {board: _code(graph_and_plan, board) for board in BOARDS}


@pytest.fixture(scope="module")
def exported(codes, tmp_path_factory) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """One export per board, shared by the checks below."""
    root = tmp_path_factory.mktemp("export")
    for board, code in codes.items():
        export_platformio(code, root / board, model_path=MODEL, quiet=True, info={"model": "kws_ref_model"})
    return {board: root / board for board in BOARDS}


def _ini(project: Path, board: str) -> configparser.SectionProxy:
    cfg = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",), comment_prefixes=(";", "#"))
    cfg.read(project / "platformio.ini")
    return cfg[f"env:{board}"]


def _pio(project: Path, tmp_path: Path, *args: str) -> str:
    """Run PlatformIO's CLI on `project` with its state in tmp_path (never ~/.platformio) and no network."""
    env = {
        **os.environ,
        "PLATFORMIO_CORE_DIR": str(tmp_path / "pio-core"),
        "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "no",
        "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "9999",
        "PLATFORMIO_NO_ANSI": "true",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "platformio", "project", "config", "--project-dir", str(project), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.parametrize("board", BOARDS)
def test_layout(exported, board) -> None:  # type: ignore[no-untyped-def]
    project = exported[board]
    for path in ("platformio.ini", "README.md", "linker.ld", LINK_SCRIPT, MARKER, "lib/tinyml/library.json"):
        assert (project / path).is_file(), path
    src = {p.name for p in (project / "src").iterdir()}
    assert {"model.c", "model.h", "board.h", "bench.c", "startup.c", "tm_board.h", "tm_bench.h"} <= src
    assert (project / "lib/tinyml/include/tinyml/tm_kernels.h").is_file()
    assert any((project / "lib/tinyml/kernels").glob("*.c"))
    assert not (project / "Makefile").exists() and not (project / "tinyml").exists()
    assert not [p for p in project.iterdir() if p.name.startswith(".generated")]
    # the README says how to build, flash and benchmark this very board
    readme = (project / "README.md").read_text()
    assert "pio run -t upload" in readme
    assert f"tinyml bench {MODEL} --board {board} --port /dev/ttyACM0" in readme
    assert json.loads((project / MARKER).read_text())["export"] == "platformio"


@pytest.mark.parametrize("board", BOARDS)
def test_ini_declares_board_facts(exported, board) -> None:  # type: ignore[no-untyped-def]
    ini, facts = _ini(exported[board], board), load_board(board).raw
    assert ini["board"] == BOARDS[board]
    assert ini["platform"].split("@")[0] in ("ststm32", "platformio/ststm32")
    assert "framework" not in ini  # bare metal
    assert ini["board_build.ldscript"] == "linker.ld"
    assert ini["upload_protocol"] == "stlink"
    assert int(ini["monitor_speed"]) == facts["runtime"]["baud"]
    flags = ini["build_flags"].split()
    assert flags[: len(facts["cpu"]["gcc_flags"])] == facts["cpu"]["gcc_flags"]
    assert {"-O2", "-DTM_PROFILE_LAYERS"} <= set(flags)
    assert "-Os" in ini["build_unflags"].split()
    assert set(facts["cpu"]["gcc_flags"]) <= set(ini["custom_link_flags"].split())
    assert ini["extra_scripts"] == f"post:{LINK_SCRIPT}"


def test_platformio_accepts_project(exported, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """PlatformIO's own parser and linter (offline) read the ini as we mean it; no unknown options."""
    home_state = (Path.home() / ".platformio").exists()
    for board, project in exported.items():
        lint = _pio(project, tmp_path, "--lint", "--json-output").strip()
        result = json.loads(lint) if lint.startswith('{"') else ast.literal_eval(lint)  # 6.1 prints a dict repr
        assert result == {"errors": [], "warnings": []}, result
        computed = dict(json.loads(_pio(project, tmp_path, "--json-output")))
        env = dict(computed[f"env:{board}"])
        assert env["board"] == BOARDS[board]
        assert env["build_flags"] == _ini(project, board)["build_flags"].split()
        assert env["monitor_speed"] == load_board(board).raw["runtime"]["baud"]
    assert (tmp_path / "pio-core").is_dir() and (Path.home() / ".platformio").exists() == home_state


def test_package_specs_parse(exported) -> None:  # type: ignore[no-untyped-def]
    """The platform and toolchain pins are package specs PlatformIO's resolver reads (it cannot fetch them here)."""
    from platformio.package.meta import PackageSpec

    ini = _ini(exported["stm32f746"], "stm32f746")
    platform, toolchain = PackageSpec(ini["platform"]), PackageSpec(ini["platform_packages"])
    assert (platform.owner, platform.name) == ("platformio", "ststm32") and platform.requirements
    assert (toolchain.owner, toolchain.name) == ("platformio", "toolchain-gccarmnoneeabi")
    assert toolchain.requirements  # a pinned GCC, not the platform's default GCC 7


def test_link_script_hands_link_flags_to_the_linker(exported) -> None:  # type: ignore[no-untyped-def]
    """The extra script, run against PlatformIO's real config reader, appends custom_link_flags to LINKFLAGS."""
    from platformio.project.config import ProjectConfig

    project = exported["stm32f746"]
    config = ProjectConfig(str(project / "platformio.ini"))

    class Env:  # the part of PlatformIO's SCons environment the script uses (GetProjectOption as in pioproject.py)
        def __init__(self) -> None:
            self.linkflags: list[str] = []

        def GetProjectOption(self, option: str) -> str:
            return config.get("env:stm32f746", option)

        def Append(self, LINKFLAGS: list[str]) -> None:
            self.linkflags += LINKFLAGS

    env = Env()
    script = (project / LINK_SCRIPT).read_text()
    exec(compile(script, LINK_SCRIPT, "exec"), {"Import": lambda name: None, "env": env})
    assert env.linkflags == _ini(project, "stm32f746")["custom_link_flags"].split()
    assert "-mfloat-abi=hard" in env.linkflags and "-nostartfiles" in env.linkflags


def test_library_manifest_is_valid(exported) -> None:  # type: ignore[no-untyped-def]
    from platformio.package.manifest.parser import ManifestParserFactory
    from platformio.package.manifest.schema import ManifestSchema

    project = exported["stm32f746"]
    lib = project / "lib/tinyml"
    data = ManifestParserFactory.new_from_file(str(lib / "library.json")).as_dict()
    # what PlatformIO's library builder reads: kernels from kernels/, headers from include/
    assert data["build"] == {"includeDir": "include", "srcDir": "kernels"}
    # PlatformIO checks the license against SPDX's list, which it downloads: check that one by hand
    assert data.pop("license") == "Apache-2.0"
    assert ManifestSchema().load_manifest(data)["name"] == "tinyml"
    # the dependency finder picks the library because src/ includes headers only it has
    includes = re.findall(r'#include "(tinyml/[^"]+)"', (project / "src/model.c").read_text())
    assert includes and all((lib / "include" / h).is_file() for h in includes)


def _compile(args: list[str]) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, " ".join(args) + "\n" + proc.stderr
    return proc.stderr


@pytest.mark.parametrize("board", BOARDS)
def test_builds_with_declared_flags_only(exported, codes, board, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """src/ and lib/ build with what platformio.ini and library.json declare, into tinyml's own firmware.

    PlatformIO compiles src/ with src/ on the include path and the libraries'
    include directories; a library with its includeDir and srcDir. It links with
    the linker script and, through the extra script, custom_link_flags, then
    -lc -lgcc -lm -lstdc++. Its own additions (-Wall, sections, -mthumb, -mcpu,
    board defines) repeat or do not touch ours. The image must equal, symbol
    for symbol, the one tinyml's Makefile builds from the same ModelCode.
    """
    if shutil.which(CC) is None:
        pytest.skip(f"{CC} is not installed (make test installs it)")
    project = exported[board]
    ini = _ini(project, board)
    unflags = set(ini["build_unflags"].split())
    cflags = [f for f in ini["build_flags"].split() if f not in unflags]
    lib = project / "lib/tinyml"
    manifest = json.loads((lib / "library.json").read_text())["build"]
    lib_inc, lib_src = lib / manifest["includeDir"], lib / manifest["srcDir"]
    includes = {project / "src": [project / "src", lib_inc], lib_src: [lib_inc, lib_src]}
    jobs = [
        [CC, *cflags, *(f"-I{d}" for d in dirs), "-c", str(c), "-o", str(tmp_path / f"{d.name}_{c.stem}.o")]
        for d, dirs in includes.items()
        for c in sorted(d.glob("*.c"))
    ]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        warnings = [err for err in pool.map(_compile, jobs) if "warning:" in err]
    assert not warnings, warnings
    elf = tmp_path / "firmware.elf"
    objs = sorted(str(p) for p in tmp_path.glob("*.o"))
    _compile(
        [CC, *ini["custom_link_flags"].split(), "-T", str(project / ini["board_build.ldscript"]), "-o", str(elf),
         *objs, "-Wl,--start-group", "-lc", "-lgcc", "-lm", "-lstdc++", "-Wl,--end-group"]
    )  # fmt: skip
    size = firmware_size(elf, load_board(board))
    assert 0 < size.flash_bytes <= size.flash_capacity and 0 < size.ram_bytes <= size.ram_capacity
    # the vector table comes first in flash: initial SP in RAM, reset vector a Thumb address in flash
    region = {m["kind"]: range(m["origin"], m["origin"] + m["size"] + 1) for m in load_board(board).raw["memory"]}
    binary = tmp_path / "firmware.bin"
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(binary)], check=True)
    sp, reset = (int.from_bytes(binary.read_bytes()[i : i + 4], "little") for i in (0, 4))
    assert sp in region["ram"] and reset in region["flash"] and reset & 1
    # the same firmware as tinyml's own build (flags drift between the Makefile and the export shows here)
    make_dir = tmp_path / "make"
    make_dir.mkdir()
    write_project(codes[board], make_dir)
    assert _symbols(elf) == _symbols(build(make_dir, load_board(board)))


def _symbols(elf: Path) -> dict[str, str]:
    """Every sized symbol of an image and its size."""
    out = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    return {f[3]: f[1] for f in (ln.split() for ln in out.splitlines()) if len(f) == 4}


def test_emulated_board_is_refused(graph_and_plan, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "out"
    with pytest.raises(UsageError) as err:
        export_platformio(_code(graph_and_plan, "mps2-an500"), target)
    assert "mps2-an500" in err.value.message and "PlatformIO" in err.value.message
    assert "stm32f746" in err.value.fix  # names the boards that can be exported
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_foreign_directory_is_refused_then_forced(graph_and_plan, tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    code = _code(graph_and_plan, "nucleo-l4r5zi")
    with pytest.raises(OutputDirError):
        export_platformio(code, target, quiet=True)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no staging directory left behind
    export_platformio(code, target, force=True, quiet=True)
    assert (target / "platformio.ini").is_file() and not (target / "notes.txt").exists()
    export_platformio(code, target, quiet=True)  # its own earlier export is replaced without --force
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_renode_script_for_stm32f746(tmp_path) -> None:
    elf = tmp_path / "my build" / "firmware.elf"
    text = renode_script(load_board("stm32f746"), elf, 4567)
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == 'mach create "stm32f746"'
    assert "machine LoadPlatformDescription @platforms/boards/stm32f7_discovery-bb.repl" in lines
    assert 'emulation CreateServerSocketTerminal 4567 "tinyml_console" false' in lines
    assert "connector Connect sysbus.usart1 tinyml_console" in lines
    assert f"sysbus LoadELF @{str(elf.resolve()).replace(' ', chr(92) + ' ')}" in lines
    assert "sysbus.cpu VectorTableOffset 0x08000000" in lines
    assert lines[-1] == "start"
    # the terminal comes after everything that can fail, so a listening port means the board is set up
    assert lines.index(next(ln for ln in lines if "LoadELF" in ln)) < lines.index(
        next(ln for ln in lines if "Terminal" in ln)
    )
    assert "socket://127.0.0.1:4567" in text
    with pytest.raises(UsageError, match="no Renode model"):
        renode_script(load_board("mps2-an500"), elf, 4567)


def test_missing_renode_is_one_clear_error(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PATH", str(tmp_path))  # no renode here, whatever the machine has installed
    assert shutil.which(RENODE) is None
    with pytest.raises(ToolchainError) as err:
        require_renode()
    assert "Renode" in err.value.message and "renode/releases" in err.value.fix
    with pytest.raises(ToolchainError), run_renode(load_board("stm32f746"), tmp_path / "firmware.elf"):
        pass


FAKE_RENODE = """\
import re, socket, sys, threading
# Stands in for Renode: reads the .resc it is told to include, serves an echo on the terminal's port,
# and quits when the monitor (stdin) says so, as Renode does.
assert sys.argv[1:4] == ["--disable-xwt", "--console", "--plain"] and sys.argv[4] == "-e", sys.argv
script = open(sys.argv[5].removeprefix("include @").replace("\\\\ ", " ")).read()
if "FAIL" in script:
    print("There was an error executing command 'sysbus LoadELF'", flush=True)
    sys.exit(1)
port = int(re.search(r"CreateServerSocketTerminal (\\d+) ", script).group(1))
server = socket.create_server(("127.0.0.1", port))

def serve():
    while True:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data)

threading.Thread(target=serve, daemon=True).start()
for line in sys.stdin:
    if line.strip() == "quit":
        sys.exit(0)
sys.exit(3)
"""


@pytest.fixture
def fake_renode(tmp_path, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / RENODE
    exe.write_text(f"#!{sys.executable}\n{FAKE_RENODE}")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return exe


def test_run_renode_serves_the_console_and_quits(fake_renode, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Process handling, against a stand-in for Renode: started, waited for, reachable by URL, told to quit."""
    import serial

    elf = tmp_path / "dir with space" / "firmware.elf"
    elf.parent.mkdir()
    elf.write_bytes(b"\x7fELF")
    with run_renode(load_board("stm32f746"), elf, start_timeout=20) as run:
        assert run.url == f"socket://127.0.0.1:{run.port}"
        assert f"sysbus LoadELF @{str(elf.resolve()).replace(' ', chr(92) + ' ')}" in run.script.read_text()
        port = serial.serial_for_url(run.url, timeout=5)
        port.write(b"TM\x01")
        assert port.read(3) == b"TM\x01"
        port.close()
    assert run.process.returncode == 0  # quit through the monitor, not killed
    assert not run.script.parent.exists()  # script and log cleaned up


def test_run_renode_failure_shows_its_log(fake_renode, tmp_path) -> None:  # type: ignore[no-untyped-def]
    elf = tmp_path / "FAIL.elf"
    elf.write_bytes(b"\x7fELF")
    with pytest.raises(RunError, match="error executing command"), run_renode(load_board("stm32f746"), elf):
        pass


def test_cmsis_nn_export_carries_cmsis_nn(graph_and_plan, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With the CMSIS-NN backend the project vendors CMSIS-NN as a library and builds with nothing else."""
    from tinyml.codegen.render import render_model
    from tinyml.kernels.backends import select_backend
    from tinyml.plan import plan_memory
    from tinyml.target.packs import find_cmsis

    paths, where = find_cmsis()
    if paths is None:
        pytest.skip(f"CMSIS-NN not found ({where})")
    if shutil.which(CC) is None:
        pytest.skip(f"{CC} is not installed (make test installs it)")
    graph, _ = graph_and_plan
    board = load_board("stm32f746")
    backend = select_backend(board, "cmsis-nn")
    code = render_model(graph, plan_memory(graph, backend), board, backend)
    project = tmp_path / "pio"
    export_platformio(code, project)
    lib = project / "lib" / "CMSIS-NN"
    manifest = json.loads((lib / "library.json").read_text())["build"]
    assert (lib / manifest["includeDir"] / "arm_nnfunctions.h").is_file()
    assert (lib / manifest["includeDir"] / "cmsis_compiler.h").is_file() and (lib / "LICENSE").is_file()
    ini = _ini(project, "stm32f746")
    unflags = set(ini["build_unflags"].split())
    cflags = [f for f in ini["build_flags"].split() if f not in unflags]
    ours = project / "lib" / "tinyml"
    ours_build = json.loads((ours / "library.json").read_text())["build"]
    incs = [project / "src", ours / ours_build["includeDir"], lib / manifest["includeDir"]]
    sources = [*(project / "src").glob("*.c"), *(ours / ours_build["srcDir"]).glob("*.c")]
    sources += sorted((lib / manifest["srcDir"]).rglob("*.c"))
    jobs = [
        [CC, *cflags, *(f"-I{d}" for d in incs), "-c", str(c), "-o", str(tmp_path / f"o{i}.o")]
        for i, c in enumerate(sources)
    ]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(_compile, jobs))
    elf = tmp_path / "firmware.elf"
    objs = sorted(str(p) for p in tmp_path.glob("o*.o"))
    _compile(
        [CC, *ini["custom_link_flags"].split(), "-T", str(project / ini["board_build.ldscript"]), "-o", str(elf),
         *objs, "-Wl,--start-group", "-lc", "-lgcc", "-lm", "-Wl,--end-group"]
    )  # fmt: skip
    symbols = _symbols(elf)
    # convolutions run tinyml's fast DSP kernels on the M7, pooling and softmax CMSIS-NN's: both are linked in
    assert any(name.startswith("tm_fast_conv") for name in symbols)
    assert any(name.startswith("arm_") for name in symbols)
