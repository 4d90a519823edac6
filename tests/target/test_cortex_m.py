"""Cortex-M end to end: MLPerf Tiny models bit-exact on emulated cores, the stm32f746 image, bench and deploy.

Everything runs for real: arm-none-eabi-gcc builds the firmware, QEMU runs it,
and the bench protocol crosses a TCP socket through pyserial.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from support import mlperf_dir, tinyml

from tinyml.reference.inputs import random_inputs
from tinyml.reference.tflm import tflm_outputs
from tinyml.target.boards import load_board
from tinyml.target.qemu import free_port, qemu_command

MODELS = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "str_ww_ref_model", "vww_96_int8"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _run_bit_exact(model: Path, board: str, seeds: range, work: Path, cache: Path) -> None:
    """`tinyml run` on one input per seed; every output byte must be TFLM's."""
    inputs = [random_inputs(model, seed)[0] for seed in seeds]
    (work / "in.bin").write_bytes(b"".join(x.tobytes() for x in inputs))
    files = ("--input", str(work / "in.bin"), "--output", str(work / "out.bin"))
    proc = tinyml("run", str(model), "--board", board, *files, cache=cache)
    assert proc.returncode == 0, proc.stderr
    expected = b"".join(tflm_outputs(model, [x])[0].tobytes() for x in inputs)
    assert (work / "out.bin").read_bytes() == expected


@pytest.mark.parametrize("board", ["mps2-an500", "mps2-an386"])
@pytest.mark.parametrize("name", MODELS)
def test_run_on_emulated_core_is_bit_exact(name, board, tmp_path, cache):
    _run_bit_exact(mlperf_dir() / f"{name}.tflite", board, range(3), tmp_path, cache)


@pytest.mark.parametrize("board", ["mps3-an547", "netduinoplus2"])
def test_other_emulated_cores(board, tmp_path, cache):
    _run_bit_exact(mlperf_dir() / "kws_ref_model.tflite", board, range(5, 6), tmp_path, cache)


def _readelf(*args: str) -> str:
    return subprocess.run(["arm-none-eabi-readelf", *args], capture_output=True, text=True, check=True).stdout


def test_stm32f746_firmware(tmp_path, cache):
    out = tmp_path / "f746"
    proc = tinyml(
        "compile", str(mlperf_dir() / "vww_96_int8.tflite"), "--board", "stm32f746", "-o", str(out), cache=cache
    )
    assert proc.returncode == 0, proc.stderr
    assert "flash" in proc.stdout and "of 1,048,576 bytes" in proc.stdout and "of 327,680 bytes" in proc.stdout
    assert re.search(r"^  kernels +(portable|cmsis-nn|fast) \d+.*\(\d+ in place\)", proc.stdout, re.MULTILINE)
    elf = out / "firmware.elf"
    assert (out / "firmware.bin").is_file() and (out / "firmware.hex").is_file()
    sections = _readelf("-SW", str(elf))
    vector = next(line for line in sections.splitlines() if ".isr_vector" in line)
    assert " 08000000 " in vector
    attrs = _readelf("-A", str(elf))
    assert "Tag_CPU_arch: v7E-M" in attrs and "FPv5/FP-D16 for ARMv8" in attrs
    assert "Tag_ABI_HardFP_use: SP only" in attrs
    # it fits: every loaded byte in the 1 MB flash, every RAM byte in the 320 KB SRAM
    load = [line.split() for line in _readelf("-lW", str(elf)).splitlines() if line.strip().startswith("LOAD")]
    assert load and all(
        0x08000000 <= int(f[2], 16) < 0x08100000 or 0x20000000 <= int(f[2], 16) < 0x20050000 for f in load
    )


def test_model_too_big_for_the_board_fails_clearly(tmp_path, cache):
    """A model over the board's flash fails at link time with exit 3 and names the region.

    The board is a user-defined one ($TINYML_BOARDS): an MPS2 M7 with only 64 KB of flash.
    """
    board_dir = tmp_path / "boards"
    board_dir.mkdir()
    text = (Path(__file__).resolve().parents[2] / "boards" / "mps2-an500.toml").read_text()
    text = text.replace('name = "mps2-an500"', 'name = "tiny-m7"').replace("size = 0x00400000", "size = 0x00010000", 1)
    (board_dir / "tiny-m7.toml").write_text(text)
    env = {**os.environ, "TINYML_CACHE": str(cache), "TINYML_BOARDS": str(board_dir)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinyml",
            "compile",
            str(mlperf_dir() / "ad01_int8.tflite"),
            "--board",
            "tiny-m7",
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 3, proc.stderr
    assert "does not fit in flash" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
    # the report says so before anything is built
    report = subprocess.run(
        [sys.executable, "-m", "tinyml", "report", str(mlperf_dir() / "ad01_int8.tflite"), "--board", "tiny-m7"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert report.returncode == 3 and "DOES NOT FIT" in report.stdout and "flash" in report.stderr


def _built_elf(cache: Path, model: Path, board: str, tmp_path: Path) -> Path:
    out = tmp_path / board
    proc = tinyml("compile", str(model), "--board", board, "-o", str(out), cache=cache)
    assert proc.returncode == 0, proc.stderr
    return out / "firmware.elf"


def test_bench_against_qemu_started_by_hand(tmp_path, cache):
    model = mlperf_dir() / "kws_ref_model.tflite"
    elf = _built_elf(cache, model, "mps2-an500", tmp_path)
    reports = []
    for _ in range(2):  # cycle counts are reproducible run to run
        port = free_port()
        qemu = subprocess.Popen(
            qemu_command(load_board("mps2-an500"), elf, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(0.5)
            proc = tinyml(
                "bench",
                str(model),
                "--board",
                "mps2-an500",
                "--port",
                f"socket://127.0.0.1:{port}",
                "--runs",
                "3",
                "--json",
                cache=cache,
            )
        finally:
            qemu.kill()
            qemu.wait()
        assert proc.returncode == 0, proc.stderr
        reports.append(json.loads(proc.stdout))
    first, second = reports
    assert first["matched"] == first["runs"] == 3
    # mps2-an500 counts SysTick ticks; with --port tinyml cannot know QEMU ran with -icount: no instructions
    assert first["counter"] == "ticks" and "cycles" not in first and "instructions" not in first
    assert first["ticks"]["median"] > 100_000 and len(first["layers"]) == 13
    assert sum(layer["ticks"] for layer in first["layers"]) <= first["ticks"]["max"]
    assert first["ticks"] == second["ticks"] and first["layers"] == second["layers"]
    assert first["estimate"]["board"] == "mps2-an500" and first["estimate"]["cycles"] > 100_000


def _serve(port_holder: list[int], payload: bytes | None, stop: threading.Event) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port_holder.append(server.getsockname()[1])
        server.settimeout(10)
        conn, _ = server.accept()
        with conn:
            rng = np.random.default_rng(0)
            while not stop.is_set():
                if payload is not None:
                    try:
                        conn.sendall(rng.integers(0, 256, 64, dtype=np.uint8).tobytes())
                    except OSError:  # the client gave up and hung up, as it should
                        return
                time.sleep(0.01)


@pytest.mark.parametrize("garbage", [False, True], ids=["silent", "garbage"])
def test_bench_on_a_dead_port_fails_cleanly(garbage, tmp_path, cache):
    port: list[int] = []
    stop = threading.Event()
    thread = threading.Thread(target=_serve, args=(port, b"x" if garbage else None, stop), daemon=True)
    thread.start()
    while not port:
        time.sleep(0.01)
    start = time.monotonic()
    proc = tinyml(
        "bench",
        str(mlperf_dir() / "ad01_int8.tflite"),
        "--board",
        "mps2-an500",
        "--port",
        f"socket://127.0.0.1:{port[0]}",
        "--runs",
        "1",
        cache=cache,
        timeout=120,
    )
    stop.set()
    assert proc.returncode == 30, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("tinyml: warning:")]
    assert "Traceback" not in proc.stderr and len(errors) == 1
    assert time.monotonic() - start < 60


def test_deploy_without_probe_says_so(cache):
    proc = tinyml("deploy", str(mlperf_dir() / "ad01_int8.tflite"), "--board", "stm32f746", cache=cache)
    assert proc.returncode in (20, 32), proc.stderr
    assert "Traceback" not in proc.stderr
    assert "no debug probe" in proc.stderr or "no flashing tool" in proc.stderr
    assert "--emulate" in proc.stderr or "install" in proc.stderr


def test_deploy_emulated(cache):
    proc = tinyml(
        "deploy", str(mlperf_dir() / "kws_ref_model.tflite"), "--board", "stm32f746", "--emulate", cache=cache
    )
    assert proc.returncode == 0, proc.stderr
    assert "of 1,048,576 bytes" in proc.stdout  # the real board's memory sizes are enforced
    assert "identical output" in proc.stdout
    # the emulated counts named for what they are, and the F746's own estimate beside them
    instructions = re.search(r"^  instructions  ([\d,]+): QEMU -icount, 40 per SysTick tick$", proc.stdout, re.M)
    ticks = re.search(r"^  timer ticks   ([\d,]+): SysTick at the emulated 25 MHz", proc.stdout, re.M)
    estimate = re.search(r"^  estimate      ([\d,]+) cycles, ([\d.]+) ms at 216 MHz on stm32f746 ", proc.stdout, re.M)
    assert instructions and ticks and estimate, proc.stdout
    count, cycles = int(instructions[1].replace(",", "")), int(estimate[1].replace(",", ""))
    assert count == 40 * int(ticks[1].replace(",", "")) and abs(cycles - count) <= 0.15 * count
    assert float(estimate[2]) == pytest.approx(cycles / 216_000, abs=1e-3)
    assert "cycles " not in proc.stdout.replace("cycles, ", "")  # no tick is called a cycle


def test_renode_missing_is_a_clear_error(cache):
    proc = tinyml(
        "bench",
        str(mlperf_dir() / "ad01_int8.tflite"),
        "--board",
        "stm32f746",
        "--emulator",
        "renode",
        "--runs",
        "1",
        cache=cache,
    )
    assert proc.returncode == 20 and "renode" in proc.stderr.lower() and "Traceback" not in proc.stderr


def test_run_on_hardware_board_needs_emulate(tmp_path, cache):
    (tmp_path / "in.bin").write_bytes(bytes(640))
    proc = tinyml(
        "run",
        str(mlperf_dir() / "ad01_int8.tflite"),
        "--board",
        "stm32f746",
        "--input",
        str(tmp_path / "in.bin"),
        "--output",
        str(tmp_path / "o.bin"),
        cache=cache,
    )
    assert proc.returncode == 2 and "--emulate" in proc.stderr


def test_export_platformio_via_cli(tmp_path, cache):
    proc = tinyml(
        "export",
        str(mlperf_dir() / "kws_ref_model.tflite"),
        "--board",
        "stm32f746",
        "--platformio",
        str(tmp_path / "pio"),
        cache=cache,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "pio" / "platformio.ini").is_file()
    refused = tinyml(
        "export",
        str(mlperf_dir() / "kws_ref_model.tflite"),
        "--board",
        "mps2-an500",
        "--platformio",
        str(tmp_path / "pio2"),
        cache=cache,
    )
    assert refused.returncode == 2 and not (tmp_path / "pio2").exists()


def test_boards_lists_every_target(cache):
    proc = tinyml("boards", cache=cache)
    for name in [
        "stm32f746",
        "nucleo-f767zi",
        "nucleo-h743zi",
        "nucleo-l4r5zi",
        "mps2-an500",
        "mps2-an386",
        "mps3-an547",
        "netduinoplus2",
    ]:
        assert name in proc.stdout
    assert "stm32f746g-disco" in proc.stdout
