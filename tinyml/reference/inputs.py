"""Seeded random inputs covering each input tensor's whole value range: what tests and `bench` feed a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def random_inputs(model: Path, seed: int) -> list[np.ndarray]:
    """Seeded random input tensors covering each input's full value range (floats in [-4, 4])."""
    from tinyml.frontend.tflite import load_model

    rng = np.random.default_rng(seed)
    result = []
    for t in load_model(model).inputs:
        dt = t.type.np_dtype
        if t.type.is_float:
            result.append(rng.uniform(-4, 4, size=t.shape).astype(dt))
        else:
            lo, hi = t.type.range
            result.append(rng.integers(lo, hi + 1, size=t.shape, dtype=dt))
    return result
