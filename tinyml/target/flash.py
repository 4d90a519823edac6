"""Flashing a built image onto a real board with whichever tool is installed.

The board's TOML lists the methods it supports in order of preference, with
the facts each needs (openocd config, pyocd target); `--flasher` picks one.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tinyml.errors import ProbeError, ToolchainError, UsageError
from tinyml.target.boards import Board

#: how to install each tool, for the message when none is
INSTALL = {
    "openocd": "sudo apt-get install openocd",
    "st-flash": "sudo apt-get install stlink-tools",
    "pyocd": "pip install pyocd",
}
#: what each tool prints when no debug probe is attached
NO_PROBE = ("open failed", "Couldn't find any ST-Link", "No connected debug probes", "no probe", "unable to find")


def flasher_command(tool: str, board: Board, project: Path) -> list[str]:
    cfg = board.raw.get("flash", {})
    elf, binary = project / "firmware.elf", project / "firmware.bin"
    flash_origin = next(m["origin"] for m in board.raw["memory"] if m["kind"] == "flash")
    if tool == "openocd":
        return ["openocd", "-f", cfg["openocd_config"], "-c", f"program {elf} verify reset exit"]
    if tool == "st-flash":
        return ["st-flash", "--reset", "write", str(binary), hex(flash_origin)]
    if tool == "pyocd":
        return ["pyocd", "flash", "--target", cfg["pyocd_target"], str(elf)]
    raise UsageError(f"unknown flasher {tool!r}", f"use one of: {', '.join(INSTALL)}")


def choose_flasher(board: Board, wanted: str | None) -> str:
    """`wanted` if installed, else the board's first installed method."""
    methods = board.raw.get("flash", {}).get("methods", [])
    if not methods:
        raise UsageError(f"board {board.name} cannot be flashed (it is emulated)", "use `tinyml run` or `--emulate`")
    if wanted is not None:
        if wanted not in methods:
            raise UsageError(f"{board.name} is not flashed with {wanted}", f"use one of: {', '.join(methods)}")
        if shutil.which(wanted) is None:
            raise ToolchainError(f"{wanted} is not installed", INSTALL[wanted])
        return wanted
    for tool in methods:
        if shutil.which(tool):
            return tool
    hints = "; or ".join(INSTALL[m] for m in methods)
    raise ToolchainError(f"no flashing tool found for {board.name} (tried {', '.join(methods)})", hints)


def flash(board: Board, project: Path, wanted: str | None = None, timeout: float = 120.0) -> str:
    """Write the project's image to the board; returns the tool used."""
    tool = choose_flasher(board, wanted)
    try:
        proc = subprocess.run(
            flasher_command(tool, board, project), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise ProbeError(f"{tool} did not finish within {timeout:.0f} s", "unplug and replug the board") from None
    output = proc.stdout + proc.stderr
    if any(marker.lower() in output.lower() for marker in NO_PROBE) and (proc.returncode != 0 or "** " in output):
        raise ProbeError(
            f"no debug probe found: {tool} cannot see a {board.name}",
            "connect the board's ST-LINK USB port, check `lsusb` lists it, and that you may access it (udev rules "
            "or sudo); or try the board without hardware: --emulate",
        )
    if proc.returncode != 0 or "** OpenOCD init failed **" in output:
        last = [ln for ln in output.splitlines() if ln.strip()][-3:]
        raise ProbeError(f"{tool} failed to flash {board.name}: {' | '.join(last)}", "check the board and cable")
    return tool
