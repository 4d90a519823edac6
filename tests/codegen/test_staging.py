"""Output directories: complete or absent, and a user's file is never deleted or reverted without --force.

The unit tests drive `staged_dir` with small jobs that write files; the CLI tests run `compile`, `deploy -o`
and `export --platformio` into directories where a user has added or edited files.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from support import mlperf_dir, tinyml

from tinyml.codegen.staging import FIX, MARKER, SHOWN, staged_dir
from tinyml.errors import OutputDirError

JOB = {"model.c": "int x;\n", "model.h": "extern int x;\n", "tinyml/kernels/k.c": "void k(void) {}\n", "app": "\x7fELF"}


def _job(target: Path, files: dict[str, str] = JOB, **kw) -> None:  # type: ignore[no-untyped-def]
    """A stand-in for a tinyml job: writes `files` into the staging directory."""
    with staged_dir(target, info={"tinyml": "test", "model": "m", "board": "host"}, **kw) as tmp:
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text)


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes: to prove a refused job touched nothing."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _refused(target: Path, *names: str, **kw) -> OutputDirError:  # type: ignore[no-untyped-def]
    """Run a job into `target`, check it is refused naming `names`, and that nothing changed or was left."""
    before = _snapshot(target)
    with pytest.raises(OutputDirError) as err:
        _job(target, {"model.c": "int y;\n"}, **kw)
    assert err.value.exit_code == 14 and err.value.fix == FIX
    assert str(target) in err.value.message
    for name in names:
        assert name in err.value.message, (name, err.value.message)
    assert _snapshot(target) == before
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no staging directory left behind
    return err.value


def test_manifest_records_every_file_with_its_sha256(tmp_path: Path) -> None:
    target = tmp_path / "fw"
    _job(target)
    manifest = json.loads((target / MARKER).read_text())
    assert {k: manifest[k] for k in ("tinyml", "model", "board")} == {"tinyml": "test", "model": "m", "board": "host"}
    assert manifest["files"] == {name: hashlib.sha256(text.encode()).hexdigest() for name, text in JOB.items()}


def test_own_unchanged_output_is_replaced_and_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "fw"
    _job(target)
    (target / "app").unlink()  # a file tinyml wrote and the user deleted is simply written again
    _job(target, {**JOB, "model.c": "int y;\n"})
    assert (target / "model.c").read_text() == "int y;\n" and (target / "app").is_file()
    assert f"replacing tinyml's earlier output in {target}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fw"]


def test_empty_directory_is_used_quietly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "fw"
    (target / "sub").mkdir(parents=True)  # empty directories hold nothing to lose
    _job(target)
    assert (target / "model.c").is_file() and capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"my_app.c": "int main;\n"}, ["my_app.c (added)"]),
        ({"notes/todo.txt": "todo\n"}, ["notes/todo.txt (added)"]),
        ({"model.h": "extern int x; /* mine */\n"}, ["model.h (edited)"]),
        ({"tinyml/kernels/mine.c": "\n", "model.c": "int z;\n"}, ["tinyml/kernels/mine.c (added)", "model.c (edited)"]),
    ],
)
def test_added_or_edited_files_are_refused(tmp_path: Path, change: dict[str, str], named: list[str]) -> None:
    target = tmp_path / "fw"
    _job(target)
    for name, text in change.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(text)
    err = _refused(target, *named)
    assert f"holds {len(named)} file" in err.message


def test_many_offending_files_are_counted(tmp_path: Path) -> None:
    target = tmp_path / "fw"
    _job(target)
    for i in range(SHOWN + 3):
        (target / f"user{i}.c").write_text("\n")
    err = _refused(target, f"holds {SHOWN + 3} files", "user0.c (added)", "and 3 more")
    assert f"user{SHOWN}.c" not in err.message


def test_symbolic_links_are_never_taken_for_tinyml_files(tmp_path: Path) -> None:
    target = tmp_path / "fw"
    _job(target)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "keep.c").write_text("mine\n")
    os.symlink(tmp_path / "elsewhere", target / "linked")
    model_c = (target / "model.c").read_text()
    (target / "model.c").unlink()
    (tmp_path / "same.c").write_text(model_c)
    os.symlink(tmp_path / "same.c", target / "model.c")  # same bytes, but not the file tinyml wrote
    before = _snapshot(target)
    with pytest.raises(OutputDirError) as err:
        _job(target)
    assert "linked (added)" in err.value.message and "model.c (edited)" in err.value.message
    assert _snapshot(target) == before


def test_directory_without_manifest_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    (target / "src").mkdir(parents=True)
    (target / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    err = _refused(target, "already holds 1 file tinyml did not write", "src/main.c")
    assert "changed" not in err.message


@pytest.mark.parametrize(
    ("marker", "why"),
    [
        ('{"tinyml": "0.1", "board": "host"}\n', "older tinyml that recorded no file hashes"),
        ("not json", f"unreadable {MARKER} manifest"),
    ],
)
def test_marker_without_file_hashes_is_refused(tmp_path: Path, marker: str, why: str) -> None:
    target = tmp_path / "fw"
    _job(target)
    (target / MARKER).write_text(marker)
    _refused(target, why, "of its 4 files", "model.c")


def test_force_replaces_and_says_what(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "fw"
    _job(target)
    (target / "my_app.c").write_text("mine\n")
    (target / "model.h").write_text("edited\n")
    _job(target, force=True)
    assert not (target / "my_app.c").exists() and (target / "model.h").read_text() == JOB["model.h"]
    err = capsys.readouterr().err
    assert f"--force: replacing {target}" in err and "model.h (edited), my_app.c (added)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fw"]


def test_a_failed_or_interrupted_job_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "fw"
    _job(target)
    before = _snapshot(target)
    for exc in (RuntimeError("build failed"), KeyboardInterrupt()):
        with pytest.raises(type(exc)), staged_dir(target) as tmp:
            (tmp / "model.c").write_text("half")
            raise exc
        assert _snapshot(target) == before
        assert [p.name for p in tmp_path.iterdir()] == ["fw"]
    with pytest.raises(RuntimeError), staged_dir(tmp_path / "new") as tmp:
        (tmp / "model.c").write_text("half")
        raise RuntimeError("build failed")
    assert [p.name for p in tmp_path.iterdir()] == ["fw"]


def test_a_file_written_during_the_job_stops_the_swap(tmp_path: Path) -> None:
    target = tmp_path / "fw"
    _job(target)
    with pytest.raises(OutputDirError, match=r"late\.c \(added\)"), staged_dir(target) as tmp:
        (tmp / "model.c").write_text("new")
        (target / "late.c").write_text("written while tinyml built\n")
    assert (target / "late.c").is_file() and (target / "model.c").read_text() == JOB["model.c"]
    assert [p.name for p in tmp_path.iterdir()] == ["fw"]


def test_regenerated_build_directory_may_be_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "proj"
    _job(target, regenerated=(".pio",))
    assert json.loads((target / MARKER).read_text())["regenerated"] == [".pio"]
    (target / ".pio" / "build").mkdir(parents=True)
    (target / ".pio" / "build" / "firmware.elf").write_text("built by pio")
    _job(target, regenerated=(".pio",))
    assert not (target / ".pio").exists()
    assert "(and the build directory .pio/ in it)" in capsys.readouterr().err
    # only a directory the manifest names: the same files elsewhere are the user's
    (target / "build").mkdir()
    (target / "build" / "firmware.elf").write_text("built by the user")
    _refused(target, "build/firmware.elf (added)", regenerated=(".pio",))


def test_a_file_in_the_way_is_refused_even_with_force(tmp_path: Path) -> None:
    target = tmp_path / "fw"
    target.write_text("a file")
    with pytest.raises(OutputDirError, match="not a directory"):
        _job(target, force=True)
    assert target.read_text() == "a file"


# --- the commands users run --------------------------------------------------------------------------------


def _one_line_refusal(proc: subprocess.CompletedProcess, out: Path, *names: str) -> None:
    assert proc.returncode == 14, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"tinyml: error: {out} ") and f"(fix: {FIX})" in lines[0]
    for name in names:
        assert name in lines[0], (name, lines[0])


def _user_changes(out: Path, edited: str) -> dict[str, bytes]:
    """What a user does to a generated directory: adds a file, adds one in a folder, edits a generated file."""
    (out / "my_app.c").write_text("int main(void) { return 0; }\n")
    (out / "notes").mkdir()
    (out / "notes" / "todo.txt").write_text("flash it\n")
    with (out / edited).open("a") as f:
        f.write("/* my change */\n")
    return _snapshot(out)


def test_compile_keeps_the_users_files(tmp_path: Path) -> None:
    model = str(mlperf_dir() / "ad01_int8.tflite")
    out = tmp_path / "fw"
    assert tinyml("compile", model, "--board", "host", "-o", str(out)).returncode == 0
    again = tinyml("compile", model, "--board", "host", "-o", str(out))
    assert again.returncode == 0 and f"replacing tinyml's earlier output in {out}" in again.stderr, again.stderr
    before = _user_changes(out, "model.h")
    proc = tinyml("compile", model, "--board", "host", "-o", str(out))
    _one_line_refusal(proc, out, "3 files", "model.h (edited)", "my_app.c (added)", "notes/todo.txt (added)")
    assert _snapshot(out) == before and [p.name for p in tmp_path.iterdir()] == ["fw"]
    forced = tinyml("compile", model, "--board", "host", "-o", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"--force: replacing {out}" in forced.stderr and "my_app.c (added)" in forced.stderr
    assert not (out / "my_app.c").exists() and not (out / "notes").exists()
    assert (out / "model.h").read_bytes() != before["model.h"] and (out / "app").is_file()


def test_deploy_output_keeps_the_users_files(tmp_path: Path) -> None:
    model = str(mlperf_dir() / "ad01_int8.tflite")
    out = tmp_path / "fw"
    args = ("deploy", model, "--board", "mps2-an500", "--kernels", "portable", "-o", str(out))
    first = tinyml(*args, cache=tmp_path / "cache")
    assert first.returncode == 0 and (out / "firmware.elf").is_file(), first.stderr
    again = tinyml(*args, cache=tmp_path / "cache")
    assert again.returncode == 0 and f"replacing tinyml's earlier output in {out}" in again.stderr, again.stderr
    before = _user_changes(out, "board.h")
    _one_line_refusal(tinyml(*args, cache=tmp_path / "cache"), out, "board.h (edited)", "notes/todo.txt (added)")
    assert _snapshot(out) == before
    forced = tinyml(*args, "--force", cache=tmp_path / "cache")
    assert forced.returncode == 0 and "--force: replacing" in forced.stderr and not (out / "notes").exists()


def test_platformio_export_keeps_the_users_files(tmp_path: Path) -> None:
    model = str(mlperf_dir() / "ad01_int8.tflite")
    out = tmp_path / "proj"
    args = ("export", model, "--board", "nucleo-l4r5zi", "--kernels", "portable", "--platformio", str(out))
    assert tinyml(*args).returncode == 0
    (out / ".pio" / "build").mkdir(parents=True)  # what `pio run` leaves: PlatformIO rebuilds it at will
    (out / ".pio" / "build" / "firmware.elf").write_bytes(b"\x7fELF")
    again = tinyml(*args)
    assert again.returncode == 0 and f"replacing tinyml's earlier output in {out}" in again.stderr, again.stderr
    before = _user_changes(out, "platformio.ini")
    _one_line_refusal(tinyml(*args), out, "platformio.ini (edited)", "my_app.c (added)", "notes/todo.txt (added)")
    assert _snapshot(out) == before
    forced = tinyml(*args, "--force")
    assert forced.returncode == 0 and "--force: replacing" in forced.stderr and not (out / "my_app.c").exists()
