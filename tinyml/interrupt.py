"""Ctrl-C that TensorFlow cannot swallow.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT arrives. During training that
is often a finalizer TensorFlow runs (a tensor or variable being freed), and an exception raised in a finalizer is
printed and dropped: the training would go on. So the command line's handler also remembers the interrupt, and
long loops ask `check()` at every step (the progress meters do), which raises it again where it propagates.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

_requested = False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt


def install() -> None:
    """Handle Ctrl-C as above in this process (the command line does; a library caller keeps its own handler)."""
    global _requested
    _requested = False
    if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
        signal.signal(signal.SIGINT, _on_sigint)


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed since `install()`."""
    if _requested:
        raise KeyboardInterrupt
