"""The bare-metal runtime for `kind = "mcu"` boards: which runtime files a board needs, and the
template context its `board.h` and `linker.ld` are rendered with."""

from __future__ import annotations

from typing import Any

from tinyml.errors import UsageError
from tinyml.target.boards import Board

#: bytes of main stack when the caller does not say; the kernels use a few hundred
DEFAULT_STACK_SIZE = 8192
#: how long the bench server waits for the next byte of a frame before giving it up
DEFAULT_FRAME_TIMEOUT_MS = 2000


def frame_timeout_ms(board: Board) -> int:
    """The board's TM_BENCH_FRAME_TIMEOUT_MS: short on emulators, whose virtual clock crawls while polling."""
    return int(board.raw.get("runtime", {}).get("bench_frame_timeout_ms", DEFAULT_FRAME_TIMEOUT_MS))


#: UART drivers that share the STM32 GPIO/RCC set-up header
_STM32_UARTS = ("stm32", "stm32f4", "stm32_lpuart")
#: drivers that are another's C file with a different baud divider (the LPUART has the USART's registers)
_UART_FILES = {"stm32_lpuart": "uart_stm32.c"}
#: STM32 baud dividers (BRR): scale x kernel clock / baud, and the range the register accepts
_BRR = {"stm32": (1, 16, 0xFFFF), "stm32f4": (1, 16, 0xFFFF), "stm32_lpuart": (256, 0x300, (1 << 20) - 1)}
_AHB_DIVS = (1, 2, 4, 8, 16, 64, 128, 256, 512)
_APB_DIVS = (1, 2, 4, 8, 16)


def _bad(board: Board, what: str) -> UsageError:
    return UsageError(f"board {board.name}: {what}", f"fix boards/{board.name}.toml")


def runtime_sources(board: Board) -> list[str]:
    """The files in `firmware/runtime/` that `board` builds with, picked by its `[runtime]` table."""
    rt = board.raw.get("runtime")
    if board.kind != "mcu" or not rt:
        raise _bad(board, "has no [runtime] table (only mcu boards run the bare-metal runtime)")
    files = [
        "startup.c",
        "board.c",
        _UART_FILES.get(rt["uart"], f"uart_{rt['uart']}.c"),
        f"cycles_{rt['cycles']}.c",
        f"clock_{rt['clock']}.c",
        f"exit_{rt['exit']}.c",
    ]
    if rt["uart"] in _STM32_UARTS:
        files.append("tm_stm32.h")
    return files


def _region(board: Board, kind: str) -> dict[str, Any]:
    regions = [m for m in board.raw.get("memory", []) if m.get("kind") == kind]
    if len(regions) != 1:
        raise _bad(board, f"needs exactly one [[memory]] with kind = {kind!r}, has {len(regions)}")
    m = regions[0]
    return {"name": m["name"], "origin": int(m["origin"]), "size": int(m["size"]), "end": int(m["origin"] + m["size"])}


def _uart(board: Board) -> dict[str, Any]:
    rt = board.raw["runtime"]
    clock_hz = int(rt.get("uart_clock_hz", board.raw["cpu"]["clock_hz"]))
    pins = []
    for port, pin, af in rt.get("uart_pins", []):
        if "gpio_base" not in rt:
            raise _bad(board, "uart_pins needs gpio_base and gpio_stride in [runtime]")
        gpio = int(rt["gpio_base"]) + int(rt["gpio_stride"]) * (ord(port.upper()) - ord("A"))
        pins.append({"port": port.upper(), "pin": int(pin), "af": int(af), "gpio": gpio})
    setup = [{"address": int(addr), "bits": int(bits)} for addr, bits in rt.get("uart_setup", [])]
    baud = int(rt["baud"])
    brr = None
    if rt["uart"] in _BRR:
        scale, lo, hi = _BRR[rt["uart"]]
        brr = (scale * clock_hz + baud // 2) // baud
        if not lo <= brr <= hi:
            raise _bad(board, f"{baud} baud from a {clock_hz} Hz UART clock needs BRR {brr}, outside {lo}..{hi}")
    return {
        "driver": rt["uart"],
        "base": int(rt["uart_base"]),
        "baud": baud,
        "clock_hz": clock_hz,
        "brr": brr,
        "pins": pins,
        "setup": setup,
    }


def _clock_tree(board: Board) -> dict[str, Any] | None:
    """The `[clock]` table with defaults filled in, checked against `[cpu] clock_hz`."""
    raw = board.raw.get("clock")
    if raw is None:
        if board.raw["runtime"]["clock"] != "none":
            raise _bad(board, f"clock = {board.raw['runtime']['clock']!r} needs a [clock] table")
        return None
    tree = {"ahb_div": 1, "apb1_div": 1, "apb2_div": 1, "hse_bypass": False, **raw}
    if tree["ahb_div"] not in _AHB_DIVS or tree["apb1_div"] not in _APB_DIVS or tree["apb2_div"] not in _APB_DIVS:
        raise _bad(board, "[clock] ahb_div must be 1, 2, 4, ... 512 and apb1_div/apb2_div 1, 2, 4, 8 or 16")
    hclk = tree["hse_hz"] // tree["pll_m"] * tree["pll_n"] // tree["pll_p"] // tree["ahb_div"]
    if hclk != board.raw["cpu"]["clock_hz"]:
        raise _bad(board, f"[clock] gives {hclk} Hz but [cpu] clock_hz is {board.raw['cpu']['clock_hz']}")
    return tree


def board_context(board: Board, stack_size: int = DEFAULT_STACK_SIZE) -> dict[str, Any]:
    """Template context for `mcu/board.h.j2` and `mcu/linker.ld.j2` (besides `board` itself)."""
    if stack_size <= 0 or stack_size % 8:
        raise UsageError(f"stack size {stack_size} must be a positive multiple of 8 bytes")
    flash, ram = _region(board, "flash"), _region(board, "ram")
    if stack_size > ram["size"]:
        raise _bad(board, f"a {stack_size}-byte stack does not fit in its {ram['size']}-byte RAM")
    cpu = board.raw["cpu"]
    banks = [
        {"name": m["name"], "origin": int(m["origin"]), "size": int(m["size"])}
        for m in board.raw.get("memory", [])
        if m.get("kind") == "bank"
    ]
    return {
        "flash": flash,
        "ram": ram,
        "banks": banks,
        "stack_size": stack_size,
        "cpu": {"core": cpu["core"], "clock_hz": int(cpu["clock_hz"]), "fpu": cpu.get("fpu", "none")},
        "uart": _uart(board),
        "clock_tree": _clock_tree(board),
        "drivers": {k: board.raw["runtime"][k] for k in ("uart", "cycles", "clock", "exit")},
        "emulated": bool(board.raw.get("emulated", False)),
        "frame_timeout_ms": frame_timeout_ms(board),
    }
