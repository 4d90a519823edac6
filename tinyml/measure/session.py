"""Measure stage: run a built image on a device or emulator, check it against TFLite Micro, time it.

A session is a `BenchClient` on the board's serial port: one given by the user
(`--port`), or QEMU/Renode started here with the UART on a loopback socket.
Either way the same protocol bytes cross a real serial stream.

The device times every generated op; reports show the model's own layers, a
patch stage's tiles and region copies summed into the layer they run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tinyml.errors import RunError
from tinyml.ir.graph import Graph
from tinyml.measure.protocol import BenchClient, Result
from tinyml.target.boards import Board
from tinyml.target.firmware import frame_timeout_ms
from tinyml.target.qemu import emulate


@contextmanager
def session(
    board: Board, elf: Path, graph: Graph, port: str | None = None, emulator: str = "qemu", timeout: float = 120.0
) -> Iterator[BenchClient]:
    """A verified connection to `elf` running on `board` (at `port`, or in an emulator started here)."""
    baud = int(board.raw.get("runtime", {}).get("baud", 115200))
    options = {"baudrate": baud, "frame_timeout": frame_timeout_ms(board) / 1000, "infer_timeout": timeout}
    if port is not None:
        with BenchClient(port, **options) as client:
            client.verify(graph.source_hash, name=graph.name)
            yield client
        return
    if emulator == "renode":
        from tinyml.target.renode import run_renode

        with run_renode(board, elf) as run, BenchClient(run.url, **options) as client:
            client.verify(graph.source_hash, name=graph.name)
            yield client
        return
    with emulate(board, elf) as emu:
        with BenchClient(emu.url, connect_timeout=30.0, **options) as client:
            client.verify(graph.source_hash, name=graph.name)
            yield client
            client.exit(0)
        status = emu.wait(timeout=30.0)
        if status != 0:
            raise RunError(f"the firmware on {board.name} exited with status {status}", "see the board's console")


def infer_all(client: BenchClient, inputs: list[bytes]) -> list[Result]:
    """One inference per input; a kernel that rejects its arguments is a tinyml bug, reported as such."""
    results = []
    for data in inputs:
        result = client.infer(data)
        if result.status != 0:
            raise RunError(
                f"layer {-result.status - 1} rejected its arguments on the device (status {result.status})",
                "this is a tinyml bug; please report it with the model",
            )
        results.append(result)
    return results
