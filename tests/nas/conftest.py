"""Tiny labelled data for the search's tests: three classes of 16x16 images a small network tells apart in a few
steps (horizontal stripes, vertical stripes, a bright square), as a folder of PNGs and as an .npz."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CLASSES = ("hstripes", "square", "vstripes")
SIZE = 16
PER_CLASS = 60


def pattern(label: int, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """One uint8 RGB image of class `label`: its pattern at a random phase and colour, over noise."""
    img = rng.integers(0, 60, (size, size, 3)).astype(np.int64)
    colour = rng.integers(120, 256, 3)
    period, phase = int(rng.integers(3, 5)), int(rng.integers(0, 4))
    on = np.zeros((size, size), bool)
    if CLASSES[label] == "hstripes":
        on[(np.arange(size) + phase) % period == 0, :] = True
    elif CLASSES[label] == "vstripes":
        on[:, (np.arange(size) + phase) % period == 0] = True
    else:
        side = int(rng.integers(5, 9))
        r, c = rng.integers(0, size - side, 2)
        on[r : r + side, c : c + side] = True
    img[on] = colour
    return np.clip(img, 0, 255).astype(np.uint8)


def make_images(n_per_class: int, seed: int, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(x uint8 (n, size, size, 3), y int64) with classes interleaved."""
    rng = np.random.default_rng(seed)
    y = np.tile(np.arange(len(CLASSES)), n_per_class)
    x = np.stack([pattern(int(label), rng, size) for label in y])
    return x, y.astype(np.int64)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """folder: one sub-folder of PNGs per class; npz: the same pixels as x (uint8) and y; x, y: the arrays
    (test modules cannot import conftest, so the constants travel here too)."""
    from PIL import Image

    d = tmp_path_factory.mktemp("tiny_data")
    x, y = make_images(PER_CLASS, seed=0)
    folder = d / "images"
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        sub = folder / CLASSES[label]
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(sub / f"{i:04d}.png")
    np.savez(d / "images.npz", x=x, y=y)
    return SimpleNamespace(
        folder=folder, npz=d / "images.npz", x=x, y=y, dir=Path(d), classes=CLASSES, per_class=PER_CLASS, size=SIZE
    )
