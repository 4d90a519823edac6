"""TensorFlow and its converters talk a lot: C++ logs, Python warnings, prints of exported signatures. Users of
tinyml see one line per problem, so all of it is captured while TensorFlow works, and shown only by a bug report.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from tinyml.quant.progress import stderr_is


@contextmanager
def tensorflow_quiet() -> Iterator[TextIO]:
    """Run the body with file descriptors 1 and 2 (and Python's warnings) captured; yields a stream on the real
    stderr for progress bars. Set TINYML_DEBUG=1 to let everything through."""
    if os.environ.get("TINYML_DEBUG"):
        yield sys.stderr
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    real_stderr = os.fdopen(os.dup(saved[1]), "w", buffering=1)
    absl = logging.getLogger("absl")
    level = absl.level
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        absl.setLevel(logging.ERROR)
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with stderr_is(real_stderr):
                yield real_stderr
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            real_stderr.close()
            absl.setLevel(level)
