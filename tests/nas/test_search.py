"""`tinyml search` end to end, on a tiny labelled folder this file draws: a search interrupted with Ctrl-C resumes
to a finished search whose best model compiles for stm32f746 and runs bit-exact with TFLite Micro; the same search
through a real local Ray instance finds the same candidates, estimates and best; and every bad input gets one line
and its own exit status."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinyml import pipeline
from tinyml.reference.inputs import random_inputs

SIZE, PER_CLASS = 16, 24
#: the smallest search that still does every step: stage 1, a supernet, two generations, a rank check, a finalist
TINY = [
    "--board", "stm32f746", "--sram-budget", "24K", "--flash-budget", "128K", "--seed", "1", "--quiet",
    "--stage1-samples", "4", "--supernet-epochs", "2", "--population", "4", "--generations", "1", "--parents", "2",
    "--rank-check", "3", "--rank-epochs", "1", "--finalists", "1", "--finalist-epochs", "1", "--qat-epochs", "0",
]  # fmt: skip


def draw(label: int, rng: np.random.Generator) -> np.ndarray:
    """One RGB image of its class over noise: horizontal stripes, vertical stripes, or a bright square."""
    img = rng.integers(0, 60, (SIZE, SIZE, 3))
    on = np.zeros((SIZE, SIZE), bool)
    phase = int(rng.integers(0, 3))
    if label == 0:
        on[phase::3, :] = True
    elif label == 1:
        on[:, phase::3] = True
    else:
        r, c = rng.integers(0, SIZE - 7, 2)
        on[r : r + 7, c : c + 7] = True
    img[on] = rng.integers(150, 256, 3)
    return img.astype(np.uint8)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    folder = tmp_path_factory.mktemp("search") / "images"
    rng = np.random.default_rng(0)
    for label, name in enumerate(("hstripes", "vstripes", "square")):
        (folder / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            Image.fromarray(draw(label, rng)).save(folder / name / f"{i:03d}.png")
    return folder


def search(data: Path, out: Path, *extra: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tinyml", "search", "--data", str(data), "-o", str(out), *TINY, *extra],
        capture_output=True,
        text=True,
        **kw,
    )


def records(out: Path, event: str) -> list[dict]:
    lines = (out / "search.log").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == event]  # every line whole JSON: the log is intact


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinyml: error: ") and "(fix: " in lines[0], proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.fixture(scope="module")
def finished(images: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A search on a process pool, interrupted with Ctrl-C once it has scored candidates, then resumed: its
    directory and what the resumed run printed."""
    out = tmp_path_factory.mktemp("pool") / "out"
    cmd = [sys.executable, "-m", "tinyml", "search", "--data", str(images), "-o", str(out), *TINY, "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "search.log"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists() and log.read_text().count('"event":"candidate"') >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()  # a search that ignored the interrupt must not run on after the test
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "tinyml: interrupted" in err.splitlines()
    before = records(out, "candidate")
    assert len(before) >= 2 and not (out / "best.tflite").exists()
    assert records(out, "supernet")
    again = search(images, out, "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert "resuming the search" in again.stdout and "best model:" in again.stdout
    assert [r["key"] for r in records(out, "candidate")[: len(before)]] == [r["key"] for r in before]
    assert len(records(out, "supernet")) == 1  # not trained again
    return out, again.stdout


def test_search_resumes_and_its_best_model_deploys(finished: tuple[Path, str]):
    out, stdout = finished
    assert {p.name for p in out.iterdir()} >= {"best.keras", "best.tflite", "pareto.json", "pareto.png", "search.log"}
    assert not [p for p in out.rglob("*.partial")]
    pareto = json.loads((out / "pareto.json").read_text())
    best = next(f for f in pareto["finalists"] if f["key"] == pareto["best"])
    assert best["bit_exact"] and best["ram"] <= 24 * 1024 and best["flash"] <= 128 * 1024 and not best["failures"]
    assert pareto["front"] and all(c["estimate"] is not None for c in pareto["front"])
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert best["test_samples"] == 12 and best["checked"] == 8  # 15% of each class held out; 8 compared with TFLM
    # it deploys: firmware for the board, and on the host the same bytes as TFLite Micro
    board = pipeline.compile_model(out / "best.tflite", "stm32f746")
    assert pipeline.build(board).name == "firmware.elf"
    host = pipeline.compile_model(out / "best.tflite", "host")
    inputs = [b"".join(x.tobytes() for x in random_inputs(host.model, seed)) for seed in range(3)]
    assert pipeline.run(host, inputs) == pipeline.tflm_expected(host, inputs)
    assert len(records(out, "rank")) == 3 and "Spearman rho" in stdout
    assert "TFLite Micro identical output" in stdout and f"tinyml deploy {out}/best.tflite" in stdout


def test_ray_finds_the_same_search(images: Path, finished: tuple[Path, str], tmp_path: Path):
    pool_out, _ = finished
    out = tmp_path / "ray"
    proc = search(images, out, "--ray", "auto", "--workers", "2", "--rank-check", "1")  # (no rank check: faster)
    assert proc.returncode == 0, proc.stderr
    assert "Ray" in proc.stdout
    ours = [(r["key"], r["estimate"]) for r in records(out, "candidate")]
    pool = [(r["key"], r["estimate"]) for r in records(pool_out, "candidate")]
    assert ours == pool
    best = [json.loads((d / "pareto.json").read_text())["best"] for d in (out, pool_out)]
    assert best[0] == best[1]


def test_mixed_bits_proxy_and_latency_budget(images: Path, tmp_path: Path):
    """The options the pool search leaves out, together: --bits mixed quantizes the finalist under the budgets,
    --proxy synflow scores children before their estimates, and --latency-budget holds the cost model's latency,
    within --budget-hours."""
    out = tmp_path / "mixed"
    extra = ["--bits", "mixed", "--proxy", "synflow", "--latency-budget", "400ms", "--budget-hours", "1"]
    proc = search(images, out, *extra, "--workers", "1", "--rank-check", "1")
    assert proc.returncode == 0, proc.stderr
    pareto = json.loads((out / "pareto.json").read_text())
    best = next(f for f in pareto["finalists"] if f["key"] == pareto["best"])
    assert best["quantization"].startswith("mixed") and best["bit_exact"] and not best["failures"]
    assert best["latency_ms"] <= 400 and best["ram"] <= 24 * 1024 and best["flash"] <= 128 * 1024
    candidates = records(out, "candidate")  # every child proxy-scored, only the better half estimated
    assert all(r["proxy"] is not None for r in candidates) and any(r["estimate"] is None for r in candidates)
    assert all(r["footprint"]["latency_ms"] <= 400 for r in candidates)


def test_another_seed_in_the_same_directory_is_refused(images: Path, finished: tuple[Path, str]):
    proc = search(images, finished[0], "--seed", "2")
    assert_one_line_error(proc, 15, "belongs to another search", "seed")


def test_empty_folder(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(search(tmp_path / "empty", tmp_path / "out"), 13)


def test_unlabelled_folder(images: Path, tmp_path: Path):
    from PIL import Image

    (tmp_path / "flat").mkdir()
    for i, png in enumerate(sorted(images.rglob("*.png"))[:6]):
        Image.open(png).save(tmp_path / "flat" / f"{i}.png")
    assert_one_line_error(search(tmp_path / "flat", tmp_path / "out"), 13, "label")


def test_impossible_budget_names_the_smallest(images: Path, tmp_path: Path):
    proc = search(images, tmp_path / "out", "--sram-budget", "4K")
    assert_one_line_error(proc, 3, "SRAM")


def test_ray_address_that_does_not_answer(images: Path, tmp_path: Path):
    start = time.monotonic()
    proc = search(images, tmp_path / "out", "--ray", "127.0.0.1:1")
    assert time.monotonic() - start < 30
    assert_one_line_error(proc, 34, "no Ray cluster answers at 127.0.0.1:1", "ray start --head")


def test_output_directory_with_foreign_files(images: Path, tmp_path: Path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    assert_one_line_error(search(images, tmp_path / "out"), 14, "notes.txt")
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "argv,words",
    [
        (["--latency-budget", "fast"], ["--latency-budget", "not a time"]),
        (["--sram-budget", "lots"], ["--sram-budget", "not a memory size"]),
        (["--ray", "head"], ["--ray", "HOST:PORT"]),
        (["--bits", "4"], ["--bits"]),
        (["--workers", "0"], ["--workers"]),
    ],
)
def test_bad_option_values_fail_at_once(images: Path, tmp_path: Path, argv: list[str], words: list[str]):
    assert_one_line_error(search(images, tmp_path / "out", *argv), 2, *words)
    assert not (tmp_path / "out").exists()


def test_output_directory_states(tmp_path: Path):
    from tinyml.errors import OutputDirError
    from tinyml.nas.search import prepare_out

    assert prepare_out(tmp_path / "new") is False and (tmp_path / "new").is_dir()
    assert prepare_out(tmp_path / "new") is False  # empty: used as is
    (tmp_path / "new" / "search.log").write_text("")
    (tmp_path / "new" / ".best.tflite.123.partial").write_bytes(b"half")
    assert prepare_out(tmp_path / "new") is True  # a search's own: resumed
    assert not (tmp_path / "new" / ".best.tflite.123.partial").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputDirError, match="is a file"):
        prepare_out(tmp_path / "file")
