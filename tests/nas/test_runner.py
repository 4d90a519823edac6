"""Trial runners: this process, a local process pool and a real local Ray instance give the same results in the same
order; an error in a trial comes back as itself; a Ray address that does not answer fails fast and clearly."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest

from tinyml.errors import ClusterError, InputDataError
from tinyml.nas.runner import InlineRunner, PoolRunner, RayRunner, parse_ray_address


def trial(shared: np.ndarray, seed: int) -> tuple[int, str]:
    """A deterministic trial of uneven length (so they finish out of order): a seeded draw mixed with the shared
    array, and a digest of it."""
    rng = np.random.default_rng(seed)
    time.sleep(0.02 * (seed % 3))
    v = rng.standard_normal(shared.shape) @ shared
    return seed, hashlib.sha256(np.float64(v).tobytes()).hexdigest()[:16]


def failing(shared: object, item: int) -> int:
    if item == 2:
        raise InputDataError(f"sample {item} is unreadable", "fix it")
    return item


SHARED = np.linspace(-1, 1, 64)
ITEMS = [5, 1, 4, 2, 3, 0, 7]


@pytest.fixture(scope="module")
def ray_runner():
    runner = RayRunner(None, 2)  # a new local instance with 2 CPUs, whatever else runs on this machine
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def expected() -> list[tuple[int, str]]:
    inline = InlineRunner()
    return inline.map(trial, ITEMS, inline.share(SHARED))


def test_inline_keeps_order(expected):
    assert [seed for seed, _ in expected] == ITEMS
    assert len({digest for _, digest in expected}) == len(ITEMS)


def test_pool_equals_inline(expected):
    with PoolRunner(2) as pool:
        shared = pool.share(SHARED)
        assert pool.map(trial, ITEMS, shared) == expected
        assert pool.map(trial, ITEMS[:2], shared) == expected[:2]  # the pool and the shared value are reused
        with pytest.raises(InputDataError, match="sample 2"):
            pool.map(failing, [1, 2, 3])
        assert pool.describe() == "2 local processes"


def test_ray_equals_inline(ray_runner, expected):
    assert ray_runner.workers == 2
    assert ray_runner.map(trial, ITEMS, ray_runner.share(SHARED)) == expected
    with pytest.raises(InputDataError, match="sample 2"):
        ray_runner.map(failing, [1, 2, 3])
    assert "Ray" in ray_runner.describe()


def test_ray_address_that_does_not_answer():
    start = time.monotonic()
    with pytest.raises(ClusterError) as e:
        RayRunner("127.0.0.1:1", 2)
    assert time.monotonic() - start < 10
    assert "no Ray cluster answers at 127.0.0.1:1" in e.value.message and "ray start --head" in e.value.fix
    assert e.value.exit_code == 34


@pytest.mark.parametrize("text", ["auto", "10.0.0.1:6379", "ray://head:10001", "[::1]:6379"])
def test_ray_addresses(text):
    assert parse_ray_address(text) == text


@pytest.mark.parametrize("text", ["", "head", "head:", "head:0", "head:70000", ":6379"])
def test_bad_ray_addresses(text):
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_ray_address(text)
