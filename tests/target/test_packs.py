"""CMSIS packs: finding trees (options, environment, installed packs), installing pack files, failing clearly."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support import REPO

from tinyml.errors import ToolchainError
from tinyml.target import packs


def _tree(root: Path, name: str) -> Path:
    marker = root / packs.PACKS[name][2]
    marker.parent.mkdir(parents=True)
    marker.write_text("/* stand-in */\n")
    return root


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CMSIS_NN_ROOT", raising=False)
    monkeypatch.delenv("CMSIS_ROOT", raising=False)
    return tmp_path


def test_nothing_found_says_where_it_looked(clean_env):
    paths, where = packs.find_cmsis()
    assert paths is None and "CMSIS_NN_ROOT" in where and "packs" in where


def test_installed_packs_newest_first(clean_env):
    base = packs.packs_dir()
    for version in ("6.0.0", "7.10.1", "7.2.0"):
        _tree(base / "ARM.CMSIS-NN" / version, "CMSIS-NN")
    _tree(base / "ARM.CMSIS" / "6.1.0", "CMSIS")
    found = packs.installed()
    assert [v for v, _ in found["CMSIS-NN"]] == ["7.10.1", "7.2.0", "6.0.0"]
    paths, where = packs.find_cmsis()
    assert paths is not None and paths.nn.name == "7.10.1" and "pack 7.10.1" in where


def test_options_beat_environment_beat_packs(clean_env, monkeypatch):
    nn_opt = _tree(clean_env / "opt-nn", "CMSIS-NN")
    nn_env = _tree(clean_env / "env-nn", "CMSIS-NN")
    core = _tree(clean_env / "core", "CMSIS")
    monkeypatch.setenv("CMSIS_NN_ROOT", str(nn_env))
    monkeypatch.setenv("CMSIS_ROOT", str(core))
    assert packs.find_cmsis()[0].nn == nn_env
    assert packs.find_cmsis(cmsis_nn=str(nn_opt))[0].nn == nn_opt


def test_relative_paths_are_made_absolute(clean_env, monkeypatch):
    """Builds run in a staging directory, so a tree given relative to the caller's directory must be resolved."""
    _tree(clean_env / "nn", "CMSIS-NN")
    _tree(clean_env / "core", "CMSIS")
    monkeypatch.chdir(clean_env)
    paths, _ = packs.find_cmsis(cmsis_nn="nn", cmsis="core")
    assert paths is not None and paths.nn == clean_env / "nn" and paths.core == clean_env / "core"
    assert paths.nn.is_absolute() and paths.core.is_absolute()


def test_a_path_that_is_not_a_tree_is_an_error(clean_env, monkeypatch):
    monkeypatch.setenv("CMSIS_NN_ROOT", str(clean_env))
    with pytest.raises(ToolchainError, match="not a CMSIS-NN tree"):
        packs.find_cmsis()


def _tinyml(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinyml", *args], capture_output=True, text=True, env=env)


def test_install_without_network_is_one_clear_line(clean_env):
    """A dead proxy makes 'no network' certain even on machines that have one."""
    env = {k: v for k, v in os.environ.items() if k not in ("CMSIS_NN_ROOT", "CMSIS_ROOT")}
    dead = "http://127.0.0.1:9"
    env.update(
        TINYML_CACHE=str(clean_env / "cache"), HTTPS_PROXY=dead, HTTP_PROXY=dead, https_proxy=dead, http_proxy=dead
    )
    proc = _tinyml("packs", "install", env=env)
    assert proc.returncode == 24, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "--cmsis-nn" in proc.stderr
    listing = _tinyml("packs", "list", env=env)
    assert listing.returncode == 0 and "tinyml packs install" in listing.stdout


# --- installing pack files (`tinyml packs install FILE.pack ...`), as `cpackget add` does ---

#: the real ARM.CMSIS-NN and ARM.CMSIS packs: $TINYML_PACK_FILES, else ../shared/packs beside the repo
SHARED_PACKS = Path(os.environ.get("TINYML_PACK_FILES", REPO.parent / "shared" / "packs"))
needs_shared_packs = pytest.mark.skipif(
    len(list(SHARED_PACKS.glob("*.pack"))) < 2, reason=f"no CMSIS pack files in {SHARED_PACKS}"
)


def _cli_env(clean_env: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CMSIS_NN_ROOT", "CMSIS_ROOT", "TINYML_DEBUG")}
    return {**env, "TINYML_CACHE": str(clean_env / "cache")}


def _assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinyml: error: ") and "(fix: " in lines[0], proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def _descriptor(vendor: str = "ARM", name: str = "CMSIS-NN", versions: tuple[str, ...] = ("7.0.0",)) -> str:
    releases = "".join(f'<release version="{v}" date="2024-11-11">notes</release>' for v in versions)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<package schemaVersion="1.7.36">'
        f"<name>{name}</name><vendor>{vendor}</vendor><releases>{releases}</releases></package>\n"
    )


def _pack(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for member, text in members.items():
            z.writestr(member, text)
    return path


def _nn_pack(path: Path, **extra: str) -> Path:
    """A small ARM.CMSIS-NN pack: its descriptor, the header that marks a CMSIS-NN tree, and `extra` members."""
    marker = packs.PACKS["CMSIS-NN"][2]
    return _pack(path, {"ARM.CMSIS-NN.pdsc": _descriptor(), marker: "/* header */\n", **extra})


@needs_shared_packs
def test_install_real_pack_files_then_find_them(clean_env):
    """The shared ARM packs install offline into the cache, where find_cmsis and `packs list` find them; again is
    harmless and says so."""
    files = [str(f) for f in sorted(SHARED_PACKS.glob("*.pack"))]
    env = _cli_env(clean_env)
    proc = _tinyml("packs", "install", *files, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "ARM.CMSIS-NN 7.0.0 installed:" in proc.stdout and "ARM.CMSIS 6.3.0 installed:" in proc.stdout
    paths, where = packs.find_cmsis()
    assert paths is not None and where == "CMSIS-NN from pack 7.0.0, CMSIS from pack 6.3.0"
    assert paths.nn == packs.packs_dir() / "ARM.CMSIS-NN" / "7.0.0"
    assert paths.core == packs.packs_dir() / "ARM.CMSIS" / "6.3.0"
    assert all((d / "arm_nnfunctions.h").is_file() or (d / "cmsis_compiler.h").is_file() for d in paths.include_dirs)
    assert (paths.nn / "Source" / "ConvolutionFunctions" / "arm_convolve_s8.c").is_file()
    assert sorted(p.name for p in packs.packs_dir().iterdir()) == ["ARM.CMSIS", "ARM.CMSIS-NN"]  # no staging left
    listing = _tinyml("packs", "list", env=env)
    assert "in use: CMSIS-NN from pack 7.0.0, CMSIS from pack 6.3.0" in listing.stdout, listing.stdout

    stamp = paths.nn.stat().st_mtime_ns
    again = _tinyml("packs", "install", *files, env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("is already installed in") == 2 and paths.nn.stat().st_mtime_ns == stamp


def test_newest_release_names_the_version_and_a_partial_tree_is_replaced(clean_env):
    """The version is the descriptor's newest release, whatever order it lists them in; a directory left there
    without the pack's files (an interrupted install) does not count as installed and is replaced."""
    pack = _pack(
        clean_env / "nn.pack",
        {"ARM.CMSIS-NN.pdsc": _descriptor(versions=("7.2.0", "7.10.0", "6.0.0")), packs.PACKS["CMSIS-NN"][2]: "/**/"},
    )
    partial = packs.packs_dir() / "ARM.CMSIS-NN" / "7.10.0"
    (partial / "Include").mkdir(parents=True)
    (partial / "leftover.txt").write_text("half an install\n")
    (done,) = packs.install_files([pack])
    assert (done.version, done.path, done.already) == ("7.10.0", partial, False)
    assert (partial / packs.PACKS["CMSIS-NN"][2]).is_file() and not (partial / "leftover.txt").exists()
    assert [v for v, _ in packs.installed()["CMSIS-NN"]] == ["7.10.0"]


def test_corrupt_pack_files(clean_env):
    """A truncated zip and a zip whose member fails its checksum are each one line, exit 24, nothing installed."""
    good = _nn_pack(clean_env / "good.pack", **{"Source/kernel.c": "int kernel;\n" * 200})
    data = good.read_bytes()
    (clean_env / "truncated.pack").write_bytes(data[: len(data) // 2])
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("Source/kernel.c")
    flipped = bytearray(data)
    flipped[info.header_offset + 30 + len(info.filename) + 2] ^= 0xFF  # a byte of the member's compressed data
    (clean_env / "flipped.pack").write_bytes(bytes(flipped))
    env = _cli_env(clean_env)
    truncated = _tinyml("packs", "install", str(clean_env / "truncated.pack"), env=env)
    _assert_one_line_error(truncated, 24, "truncated.pack is not a readable pack")
    flipped_proc = _tinyml("packs", "install", str(clean_env / "flipped.pack"), env=env)
    _assert_one_line_error(flipped_proc, 24, "flipped.pack")
    assert not packs.installed()["CMSIS-NN"]


def test_zip_without_descriptor(clean_env):
    pack = _pack(clean_env / "bare.pack", {packs.PACKS["CMSIS-NN"][2]: "/**/", "sub/ARM.CMSIS-NN.pdsc": _descriptor()})
    proc = _tinyml("packs", "install", str(pack), env=_cli_env(clean_env))
    _assert_one_line_error(proc, 24, "bare.pack is not a CMSIS pack: no .pdsc file at its root")
    assert not packs.packs_dir().exists() or not any(packs.installed().values())


def test_pack_of_another_vendor_or_name(clean_env):
    """Other packs are refused by what their descriptor says, not by their file name."""
    other = _pack(clean_env / "ARM.CMSIS-NN.7.0.0.pack", {"ARM.CMSIS-DSP.pdsc": _descriptor(name="CMSIS-DSP")})
    proc = _tinyml("packs", "install", str(other), env=_cli_env(clean_env))
    _assert_one_line_error(proc, 24, "is the ARM.CMSIS-DSP pack; tinyml uses only ARM.CMSIS-NN and ARM.CMSIS")
    keil = _pack(clean_env / "keil.pack", {"Keil.CMSIS-NN.pdsc": _descriptor(vendor="Keil")})
    proc = _tinyml("packs", "install", str(keil), env=_cli_env(clean_env))
    _assert_one_line_error(proc, 24, "is the Keil.CMSIS-NN pack")


@pytest.mark.parametrize("member", ["../escaped.h", "Include/../../escaped.h", "/tmp/escaped.h", "..\\escaped.h"])
def test_member_outside_the_pack_is_refused(clean_env, member):
    """A member path that would land outside the pack's directory refuses the whole pack before anything is
    unpacked: nothing installed, nothing written beside it."""
    pack = _nn_pack(clean_env / "evil.pack", **{member: "/* escaped */\n"})
    proc = _tinyml("packs", "install", str(pack), env=_cli_env(clean_env))
    _assert_one_line_error(proc, 24, "evil.pack is unsafe to unpack", repr(member))
    assert not any(packs.installed().values())
    assert not list(clean_env.rglob("escaped.h")) and not Path("/tmp/escaped.h").exists()


def test_one_bad_file_installs_nothing_and_a_missing_file_is_a_usage_error(clean_env):
    """Every file is checked before any is unpacked; a file that is not there is a bad argument (exit 2)."""
    good = _nn_pack(clean_env / "good.pack")
    bad = _pack(clean_env / "bad.pack", {"README.md": "no descriptor\n"})
    env = _cli_env(clean_env)
    _assert_one_line_error(_tinyml("packs", "install", str(good), str(bad), env=env), 24, "bad.pack")
    assert not any(packs.installed().values())
    missing = _tinyml("packs", "install", str(good), str(clean_env / "absent.pack"), env=env)
    _assert_one_line_error(missing, 2, "absent.pack does not exist")
    assert not any(packs.installed().values())
    proc = _tinyml("packs", "install", str(good), env=env)
    assert proc.returncode == 0 and "ARM.CMSIS-NN 7.0.0 installed:" in proc.stdout, proc.stderr
