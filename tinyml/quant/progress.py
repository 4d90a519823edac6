"""Progress bars on stderr: shown only on a terminal, never in pipes, logs or tests, and never with --quiet."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TextIO, TypeVar

T = TypeVar("T")

#: the terminal's stderr while TensorFlow's own output is captured (see quiet.py); bars still reach the user
_redirected: list[TextIO] = []


@contextmanager
def stderr_is(stream: TextIO) -> Iterator[None]:
    """Draw bars on `stream` while fd 2 is captured."""
    _redirected.append(stream)
    try:
        yield
    finally:
        _redirected.pop()


def bar(items: Iterable[T], *, total: int | None = None, desc: str, enabled: bool = True) -> Iterator[T]:
    """`items`, with a tqdm bar on stderr when `enabled` and stderr is a terminal."""
    from tqdm import tqdm

    out = _redirected[-1] if _redirected else sys.stderr
    show = enabled and out.isatty()
    yield from tqdm(items, total=total, desc=desc, file=out, disable=not show, leave=False, unit="sample")


@contextmanager
def meter(total: int, desc: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A bar for work reported in steps: yields `done(n)`, to call after every n items. `done` also raises a Ctrl-C
    that TensorFlow swallowed (see tinyml.interrupt), so every metered loop stops at its next step."""
    from tqdm import tqdm

    from tinyml.interrupt import check

    out = _redirected[-1] if _redirected else sys.stderr
    with tqdm(
        total=total, desc=desc, file=out, disable=not (enabled and out.isatty()), leave=False, unit="sample"
    ) as t:

        def done(n: int) -> None:
            check()
            t.update(n)

        yield done
