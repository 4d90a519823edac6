"""The bare-metal board runtime (firmware/runtime/, templates/mcu/, tinyml/firmware.py) on QEMU.

tests/firmware/hello.c runs on every emulated board: greeting, SysTick cycle counts around busy
loops of known instruction counts, UART echo, a read that times out, a HardFault, the 64-bit
SysTick extension across a wrap, and a semihosting exit status. The hardware boards are
built (not run), and too-big programs must fail to link with tinyml's own message.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import serial

from tinyml.codegen.render import template_env
from tinyml.errors import UsageError
from tinyml.target.boards import Board, list_boards, load_board
from tinyml.target.firmware import board_context, runtime_sources
from tinyml.target.qemu import free_port, qemu_command

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "firmware" / "runtime"
HELLO = REPO / "tests" / "firmware" / "hello.c"
TOO_BIG = REPO / "tests" / "firmware" / "too_big.c"
CC = "arm-none-eabi-gcc"
QEMU = "qemu-system-arm"
EMULATED = ["mps2-an500", "mps2-an386", "mps3-an547", "netduinoplus2"]
MCU_BOARDS = [b.name for b in list_boards() if b.kind == "mcu"]
LOOP = 1_000_000  # hello.c: the busy loops run 2 * LOOP and 4 * LOOP instructions
TIMEOUT_MS = 20  # hello.c: the read that must time out
FAULT_EXIT = (-100 - 3) & 0xFF  # TM_EXIT_FAULT - HardFault, as QEMU's exit status

needs_cc = pytest.mark.skipif(shutil.which(CC) is None, reason=f"{CC} is not installed (make test installs it)")
needs_qemu = pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"{QEMU} is not installed (make test installs it)")


def build(board: Board, out: Path, main: Path = HELLO, defines: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Render board.h and linker.ld into `out` and build `main` with the board's runtime into out/hello.elf."""
    out.mkdir(parents=True, exist_ok=True)
    ctx = {"board": board, **board_context(board)}
    env = template_env()
    for name in ("board.h", "linker.ld"):
        (out / name).write_text(env.get_template(f"mcu/{name}.j2").render(**ctx))
    sources = [main] + [RUNTIME / f for f in runtime_sources(board) if f.endswith(".c")]
    cmd = [
        CC,
        *board.raw["cpu"]["gcc_flags"],
        "-O2",
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-ffunction-sections",
        "-fdata-sections",
        "-Wl,--gc-sections",
        "--specs=nano.specs",
        "--specs=nosys.specs",
        "-nostartfiles",
        *(f"-D{d}" for d in defines),
        f"-I{out}",
        f"-I{RUNTIME}",
        f"-T{out / 'linker.ld'}",
        "-o",
        str(out / "hello.elf"),
        *map(str, sources),
    ]
    return subprocess.run(cmd, capture_output=True, text=True)


def built(board: Board, out: Path) -> Path:
    proc = build(board, out)
    assert proc.returncode == 0, proc.stderr
    return out / "hello.elf"


class Qemu:
    """hello.elf under QEMU, its first serial port on a loopback TCP port that we are the only client of."""

    def __init__(self, board: Board, elf: Path, log: Path) -> None:
        for _attempt in range(3):
            port = free_port()
            self.log = log.open("wb")
            cmd = qemu_command(board, elf, port)
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)
            deadline = time.monotonic() + 10
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    self.port = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=10)
                    return
                except serial.SerialException:
                    time.sleep(0.02)
            self.close()
        raise AssertionError(f"QEMU did not start: {log.read_text(errors='replace')}")

    def line(self, ending: bytes = b"\n") -> str:
        data = self.port.read_until(ending)
        assert data.endswith(ending), f"no {ending!r} from the board, got {data!r}"
        return data.decode(errors="replace").strip()

    def exit_status(self) -> int:
        return self.proc.wait(timeout=20)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


def run_hello(board: Board, elf: Path, log: Path, commands: str) -> tuple[dict[str, list[int]], int]:
    """Drive hello.elf through its script; returns its numeric report lines and QEMU's exit status."""
    qemu = Qemu(board, elf, log)
    try:
        report: dict[str, list[int]] = {}
        assert qemu.line() == f"hello from {board.name} {board.raw['cpu']['clock_hz']}"
        cycles = qemu.line().split()
        assert cycles[0] == "cycles", cycles
        report["cycles"] = [int(v) for v in cycles[1:]]

        echo = bytes(b for b in range(256) if b != ord("q"))  # 8-bit clean, 255 bytes back to back
        qemu.port.write(echo)
        assert qemu.port.read(len(echo)) == echo
        qemu.port.write(b"q")
        timeout = qemu.line().split()
        assert timeout[0] == "timeout", timeout
        report["timeout"] = [int(v) for v in timeout[1:]]

        for command in commands:
            qemu.port.write(command.encode())
            if command in "wm":
                wrap = qemu.line().split()
                assert wrap[0] == "wrap", wrap
                report[command] = [int(v) for v in wrap[1:]]
            elif command == "f":
                fault = qemu.line(b"\r\n") or qemu.line(b"\r\n")  # the message starts on a new line
                assert re.fullmatch(r"tinyml: fault 3 pc 0x[0-9a-f]{8} cfsr 0x[0-9a-f]{8} hfsr 0x[0-9a-f]{8}", fault)
        return report, qemu.exit_status()
    finally:
        qemu.close()


@needs_cc
@needs_qemu
@pytest.mark.parametrize("name", EMULATED)
def test_hello_on_qemu(name: str, tmp_path: Path) -> None:
    board = load_board(name)
    clock_hz = board.raw["cpu"]["clock_hz"]
    elf = built(board, tmp_path)
    # netduinoplus2's 168 MHz SysTick wraps 2^24 within 100 M instructions: check the 64-bit extension there
    first, status = run_hello(board, elf, tmp_path / "qemu1.log", "wmx" if name == "netduinoplus2" else "x")
    assert status == 7
    second, status = run_hello(board, elf, tmp_path / "qemu2.log", "f")
    assert status == FAULT_EXIT

    # SysTick ticks are deterministic run to run, and tick at clock_hz per 10^9 instructions
    c0, c1, c2 = first["cycles"]
    assert second["cycles"] == first["cycles"]
    assert c0 < c1 < c2
    extra = (c2 - c1) - (c1 - c0)  # ticks for 2 * LOOP instructions, the calls' overhead cancelled
    assert abs(extra - 2 * LOOP * clock_hz / 1e9) <= 1, (extra, clock_hz)

    for report in (first, second):
        byte, elapsed = report["timeout"]
        assert byte == -1
        assert TIMEOUT_MS * clock_hz // 1000 <= elapsed < TIMEOUT_MS * clock_hz // 1000 * 11 // 10

    if name == "netduinoplus2":
        step = 2 * LOOP * clock_hz / 1e9
        for command in "wm":  # interrupts on: the SysTick handler counts the wrap; masked: the pending bit does
            chunks, lo, hi = first[command]
            assert chunks * step > 1 << 24
            assert step <= lo <= hi < step + 16, (command, lo, hi)


@needs_cc
@pytest.mark.parametrize("name", MCU_BOARDS)
def test_every_board_builds_warning_free(name: str, tmp_path: Path) -> None:
    proc = build(load_board(name), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def _readelf(*args: str) -> str:
    return subprocess.run(["arm-none-eabi-readelf", *args], capture_output=True, text=True, check=True).stdout


@needs_cc
def test_stm32f746_image(tmp_path: Path) -> None:
    board = load_board("stm32f746")
    elf = built(board, tmp_path)
    sections = {m[0]: int(m[1], 16) for m in re.findall(r"\]\s+(\S+)\s+\S+\s+([0-9a-f]{8})", _readelf("-SW", str(elf)))}
    assert sections[".isr_vector"] == 0x08000000
    assert sections[".text"] > 0x08000000

    # the vector table: initial SP at the top of RAM, Reset_Handler (Thumb) = the ELF entry point
    vectors = tmp_path / "vectors.bin"
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", "-j", ".isr_vector", str(elf), str(vectors)], check=True)
    dump = vectors.read_bytes()
    sp, reset = int.from_bytes(dump[0:4], "little"), int.from_bytes(dump[4:8], "little")
    assert sp == 0x20000000 + 0x50000
    entry = int(re.search(r"Entry point address:\s+0x([0-9a-f]+)", _readelf("-h", str(elf)))[1], 16)
    assert reset == entry and reset & 1 and 0x08000000 < reset < 0x08100000

    # Cortex-M7: GCC names only the architecture (Tag_CPU_name "7E-M"), but FPv5 on Armv7E-M is the M7's
    # FPU alone; single precision only
    attrs = _readelf("-A", str(elf))
    assert "Tag_CPU_arch: v7E-M" in attrs
    assert "Tag_FP_arch: FPv5/FP-D16 for ARMv8" in attrs
    assert "Tag_ABI_HardFP_use: SP only" in attrs
    assert "Tag_ABI_VFP_args: VFP registers" in attrs


@needs_cc
@pytest.mark.parametrize(
    ("define", "message"),
    [
        ("BIG_FLASH=(2u<<20)", "tinyml: the model does not fit in flash (flash region, 1048576 bytes)"),
        ("BIG_RAM=(320u*1024u)", "tinyml: the model does not fit in RAM (ram region, 327680 bytes)"),
        ("BIG_RAM=(315u*1024u)", "leave no room for the 8192-byte stack"),  # fits RAM, but not with the stack
    ],
)
def test_too_big_fails_to_link(define: str, message: str, tmp_path: Path) -> None:
    proc = build(load_board("stm32f746"), tmp_path, main=TOO_BIG, defines=(define,))
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_runtime_sources_exist_for_every_board() -> None:
    for name in MCU_BOARDS:
        files = runtime_sources(load_board(name))
        assert files[:2] == ["startup.c", "board.c"]
        for f in files:
            assert (RUNTIME / f).is_file(), (name, f)


def test_board_context() -> None:
    ctx = board_context(load_board("stm32f746"), stack_size=4096)
    assert ctx["flash"] == {"name": "flash", "origin": 0x08000000, "size": 0x100000, "end": 0x08100000}
    assert ctx["ram"]["origin"] == 0x20000000 and ctx["ram"]["size"] == 0x50000
    assert ctx["stack_size"] == 4096
    assert ctx["uart"]["pins"][1] == {"port": "B", "pin": 7, "af": 7, "gpio": 0x40020400}
    assert ctx["clock_tree"]["pll_n"] == 432
    assert board_context(load_board("mps2-an386"))["clock_tree"] is None
    with pytest.raises(UsageError):
        board_context(load_board("stm32f746"), stack_size=1001)
    with pytest.raises(UsageError):
        runtime_sources(load_board("host"))


def test_stm32_baud_dividers() -> None:
    """BRR is clock / baud on a USART, 256 x clock / baud on the LPUART (same driver file); out of range, the board
    is refused by name."""
    assert board_context(load_board("stm32f746"))["uart"]["brr"] == 938  # 108 MHz / 115200
    l4r5 = load_board("nucleo-l4r5zi")
    assert board_context(l4r5)["uart"]["brr"] == 8889  # 256 x 4 MHz / 115200
    assert "uart_stm32.c" in runtime_sources(l4r5)
    f746 = load_board("stm32f746")
    slow = dataclasses.replace(f746, raw={**f746.raw, "runtime": {**f746.raw["runtime"], "baud": 1000}})
    with pytest.raises(UsageError, match=r"stm32f746: 1000 baud .* BRR 108000, outside 16\.\.65535"):
        board_context(slow)
