"""Ctrl-C stops a metered loop even when Python drops the KeyboardInterrupt, as it does when the signal lands in a
finalizer (where TensorFlow spends much of a training step)."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import os, signal, sys
from tinyml import interrupt
from tinyml.quant.progress import meter

if sys.argv[1] == "install":
    interrupt.install()

class Freed:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)  # handled while the finalizer runs: Python prints and drops it
        for _ in range(10000):
            pass

steps = 0
try:
    with meter(10, "steps", enabled=False) as done:
        Freed()
        for steps in range(1, 11):
            done(1)
except KeyboardInterrupt:
    print("stopped at", steps)
    sys.exit(130)
print("ran to", steps)
"""


def run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, timeout=60)


def test_a_swallowed_ctrl_c_stops_the_next_step():
    proc = run("install")
    assert proc.returncode == 130 and proc.stdout.strip() == "stopped at 1", (proc.stdout, proc.stderr)
    assert "KeyboardInterrupt" in proc.stderr  # Python's "Exception ignored in" note: it was dropped once


def test_without_the_handler_the_loop_runs_on():
    """What the handler guards against: Python's default handler loses the interrupt in the finalizer."""
    proc = run("default")
    assert proc.returncode == 0 and proc.stdout.strip() == "ran to 10", (proc.stdout, proc.stderr)
