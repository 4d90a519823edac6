"""CMSIS packs: finding trees (options, environment, installed packs) and failing clearly offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinyml import packs
from tinyml.errors import ToolchainError


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
