"""Where the search's trials run: in this process, in a local process pool, or as Ray tasks on a cluster.

Every runner has one operation, `map(fn, items, shared)`: `fn(shared_value, item)` for each item, the results in
the items' order, whatever order the trials finish in. The search only decides what to run; a runner decides where,
so the same seed gives the same search on one core, on a pool of processes (`--workers N`) and on a Ray cluster
(`--ray auto|ADDRESS`). Large inputs every trial reads (the data, the supernet's weights) go through `share`
once: a pool's workers read them from a file once each, Ray's from its object store.

Functions run in other processes, so they must be importable (module-level functions of tinyml) and depend on
nothing but their arguments.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import signal
import socket
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tinyml.errors import ClusterError, RunError, TinymlError, ToolchainError

T = TypeVar("T")
R = TypeVar("R")

#: seconds to wait for a Ray cluster's address to answer before saying it does not
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Shared:
    """A value every trial of a `map` reads, handed to the workers once: the value itself (this process), a file
    (a pool) or an object reference (Ray)."""

    handle: Any


class Runner(ABC):
    """Runs trials; see the module's docstring."""

    #: how many trials run at once
    workers: int

    @abstractmethod
    def share(self, value: Any) -> Shared: ...

    @abstractmethod
    def map(self, fn: Callable[[Any, T], R], items: Sequence[T], shared: Shared | None = None) -> list[R]: ...

    @abstractmethod
    def describe(self) -> str:
        """Where the trials run, for the user: "2 local processes", "Ray at 10.0.0.1:6379 (16 CPUs)"."""

    @abstractmethod
    def close(self) -> None:
        """Stop the workers this runner started."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InlineRunner(Runner):
    """Trials one after the other in this process: --workers 1, and the tests of the search's logic."""

    workers = 1

    def share(self, value: Any) -> Shared:
        return Shared(value)

    def map(self, fn: Callable[[Any, T], R], items: Sequence[T], shared: Shared | None = None) -> list[R]:
        value = shared.handle if shared is not None else None
        return [fn(value, item) for item in items]

    def describe(self) -> str:
        return "this process"

    def close(self) -> None:
        """Nothing was started."""


# --- a local process pool -----------------------------------------------------------------------------------------

#: in a pool's worker: the shared values read so far, by file
_worker_shared: dict[str, Any] = {}


def _worker_init() -> None:
    """A pool worker leaves Ctrl-C to the search, which stops the pool itself (no traceback from each worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _pool_call(fn: Callable[[Any, T], R], path: str | None, item: T) -> R:
    value = None
    if path is not None:
        if path not in _worker_shared:
            _worker_shared.clear()  # one search shares a few values at a time; keep only the newest
            with open(path, "rb") as f:
                _worker_shared[path] = pickle.load(f)
        value = _worker_shared[path]
    return fn(value, item)


class PoolRunner(Runner):
    """Trials in `workers` local processes (spawned, so no worker inherits TensorFlow's state from this one)."""

    def __init__(self, workers: int) -> None:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        self.workers = workers
        self._dir = Path(tempfile.mkdtemp(prefix="tinyml-search-"))
        self._count = 0
        self._abandoned = False
        self._pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_init)

    def share(self, value: Any) -> Shared:
        self._count += 1
        path = self._dir / f"shared-{self._count}.pickle"
        with path.open("wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        return Shared(str(path))

    def map(self, fn: Callable[[Any, T], R], items: Sequence[T], shared: Shared | None = None) -> list[R]:
        from concurrent.futures.process import BrokenProcessPool

        path = shared.handle if shared is not None else None
        futures = [self._pool.submit(_pool_call, fn, path, item) for item in items]
        try:
            return [f.result() for f in futures]
        except BrokenProcessPool:
            raise RunError(
                "a worker process of the search died (out of memory?)",
                "rerun the same command with fewer --workers: the search resumes where it stopped",
            ) from None
        except BaseException:
            self._abandoned = True
            for f in futures:
                f.cancel()
            raise

    def describe(self) -> str:
        return f"{self.workers} local process{'es' * (self.workers != 1)}"

    def close(self) -> None:
        if self._abandoned:  # Ctrl-C or an error left trials running: stop them rather than wait for a training
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._dir, ignore_errors=True)


# --- Ray ----------------------------------------------------------------------------------------------------------


def _ray_call(fn: Callable[[Any, T], R], value: Any, item: T) -> R:
    """A Ray task: Ray resolves `value` (an object reference at the top level) before calling."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return fn(value, item)


def parse_ray_address(text: str) -> str:
    """--ray: "auto", HOST:PORT or ray://HOST:PORT (Ray Client). Raises ValueError saying what is wrong."""
    if text == "auto":
        return text
    rest = text.removeprefix("ray://")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not auto, HOST:PORT or ray://HOST:PORT (port 1 to 65535)")
    return text


def _probe(address: str) -> None:
    """Fail within CONNECT_TIMEOUT when nothing listens at `address`: Ray itself retries for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as e:
        why = "timed out" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise ClusterError(
            f"no Ray cluster answers at {address} ({why})",
            "start one with `ray start --head` on the head node and pass its HOST:6379, or use --ray auto "
            "(a local Ray instance), or leave out --ray (a local process pool)",
        ) from None


class RayRunner(Runner):
    """Trials as Ray core tasks, one CPU each. `address`: a cluster to join (HOST:PORT, ray://HOST:PORT), "auto"
    (the cluster this machine belongs to, else a new local instance), or None (always a new local instance)."""

    def __init__(self, address: str | None, workers: int) -> None:
        try:
            import ray
        except ImportError:
            raise ToolchainError(
                "--ray runs the search's trials on Ray, which is not installed", "pip install 'tinyml[ray]'"
            ) from None
        self._ray = ray
        quiet = {"logging_level": logging.ERROR, "include_dashboard": False, "log_to_driver": False}
        if address not in (None, "auto"):
            _probe(address)
        try:
            if address is None:
                ray.init(num_cpus=workers, **quiet)
            elif address == "auto":
                try:
                    ray.init(address="auto", **quiet)
                except ConnectionError:  # no cluster on this machine: start one
                    ray.init(num_cpus=workers, **quiet)
            else:
                ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError, TimeoutError) as e:
            ray.shutdown()
            raise ClusterError(
                f"cannot join the Ray cluster at {address or 'this machine'}: {str(e).splitlines()[0]}",
                "check that `ray status` works on the head node, and that this machine runs the same Ray "
                "and Python versions",
            ) from None
        self.address = address
        self.workers = max(1, int(ray.cluster_resources().get("CPU", workers)))
        self._task = ray.remote(num_cpus=1, max_retries=0)(_ray_call)

    def share(self, value: Any) -> Shared:
        return Shared(self._ray.put(value))

    def map(self, fn: Callable[[Any, T], R], items: Sequence[T], shared: Shared | None = None) -> list[R]:
        ray = self._ray
        value = shared.handle if shared is not None else None
        refs = [self._task.remote(fn, value, item) for item in items]
        try:
            return list(ray.get(refs))
        except ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, TinymlError):
                raise cause from None
            raise
        except BaseException:
            for ref in refs:
                ray.cancel(ref, force=True)
            raise

    def describe(self) -> str:
        where = "a local Ray instance" if self.address in (None, "auto") else f"the Ray cluster at {self.address}"
        return f"{where} ({self.workers} CPUs)"

    def close(self) -> None:
        self._ray.shutdown()


def make_runner(workers: int, ray: str | None) -> Runner:
    """The runner the command line asks for: Ray with --ray, else a pool of `workers` processes (this process
    alone for one worker)."""
    if ray is not None:
        return RayRunner(ray, workers)
    return InlineRunner() if workers == 1 else PoolRunner(workers)
