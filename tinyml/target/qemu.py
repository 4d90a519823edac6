"""Emulated boards: QEMU with the console UART on a loopback TCP port.

The same bytes a real board would send over its serial port cross a real TCP
stream, read through pyserial's `socket://` URL. `-icount shift=0` makes the
virtual clock advance exactly one nanosecond per instruction, so SysTick
counts are deterministic instruction counts (scaled by the board clock).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tinyml.errors import RunError, ToolchainError
from tinyml.target.boards import Board
from tinyml.target.build import require_tool

QEMU = "qemu-system-arm"


@dataclass
class Emulation:
    """A running QEMU: where to connect, and the process."""

    url: str
    process: subprocess.Popen[bytes]

    def wait(self, timeout: float) -> int:
        """Wait for the firmware to exit (semihosting) and return its status."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RunError(
                f"QEMU did not exit within {timeout:.0f} s", "this is a tinyml bug; please report it"
            ) from None


def instructions_per_cycle(board: Board) -> float:
    """Instructions per counted cycle under `-icount shift=0`: 1 ns per instruction, SysTick at the board clock."""
    return 1e9 / board.raw["cpu"]["clock_hz"]


def qemu_command(board: Board, elf: Path, port: int) -> list[str]:
    machine = board.raw.get("emulator", {}).get("qemu_machine")
    if machine is None:
        raise ToolchainError(f"board {board.name} is not emulated", "use an emulated board or --emulate")
    return [
        QEMU,
        "-M",
        machine,
        "-nographic",
        "-monitor",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-icount",
        "shift=0,align=off,sleep=off",
        "-serial",
        f"tcp:127.0.0.1:{port},server=on,wait=on",
        "-kernel",
        str(elf),
    ]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something accepts connections on this loopback port."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def emulate(board: Board, elf: Path, start_timeout: float = 20.0) -> Iterator[Emulation]:
    """Start QEMU for `board` running `elf`, its UART reachable at `Emulation.url`.

    QEMU holds the CPU until a first client connects; the readiness probe is
    that client, and QEMU accepts the real one next. Firmware stays silent
    until asked, so nothing is lost in between.
    """
    require_tool(QEMU)
    for _attempt in range(5):
        port = free_port()
        proc = subprocess.Popen(qemu_command(board, elf, port), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + start_timeout
        while proc.poll() is None and time.monotonic() < deadline and not listening(port):
            time.sleep(0.05)
        if proc.poll() is None and time.monotonic() < deadline:
            # another QEMU (a parallel run) may have taken the port first and be the one listening: ours then
            # exits at once with "Address already in use"
            time.sleep(0.1)
            if proc.poll() is None:
                break
        err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None and proc.stderr else ""
        proc.kill()
        proc.wait()
        if "Address already in use" not in err:
            raise RunError(
                f"QEMU failed to start for {board.name}: {err.strip() or 'timed out'}", "check the QEMU install"
            )
    else:
        raise RunError("QEMU could not get a free TCP port", "free some loopback ports and retry")
    try:
        yield Emulation(f"socket://127.0.0.1:{port}", proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
