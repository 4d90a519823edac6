"""CIFAR-10 for the benchmarks: the shared JPEG tars (../shared/data/cifar10: train.tar, test.tar) read into cached
.npz files of uint8 pixels and labels, the form tinyml's data readers take."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def cifar_dir() -> Path:
    """$TINYML_CIFAR10, else ../shared/data/cifar10 beside the repo, else beside the MLPerf Tiny models' folder."""
    if os.environ.get("TINYML_CIFAR10"):
        return Path(os.environ["TINYML_CIFAR10"])
    beside_repo = REPO.parent / "shared" / "data" / "cifar10"
    models = os.environ.get("TINYML_MODELS")
    if beside_repo.is_dir() or not models:
        return beside_repo
    return Path(models).resolve().parents[1] / "data" / "cifar10"


def photos(tar: Path, per_class: int, target: Path) -> Path:
    """The first `per_class` photos of each class in a CIFAR-10 tar as an .npz (x uint8 pixels, y labels in the
    usual order, which is the classes' sorted names), kept in the cache."""
    if target.is_file():
        return target
    from PIL import Image

    found: dict[str, list[tuple[int, np.ndarray]]] = {}
    with tarfile.open(tar) as t:
        for member in t:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3 and int(Path(parts[2]).stem) < per_class:
                pixels = np.asarray(Image.open(BytesIO(t.extractfile(member).read())).convert("RGB"))
                found.setdefault(parts[1], []).append((int(Path(parts[2]).stem), pixels))
    classes = sorted(found)
    x = np.stack([p for c in classes for _, p in sorted(found[c], key=lambda item: item[0])])
    y = np.repeat(np.arange(len(classes)), [len(found[c]) for c in classes])
    write_atomic(target, lambda tmp: np.savez(tmp, x=x, y=y))
    return target


def write_atomic(target: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary name beside `target`, so an interrupted run never leaves a half-written cache."""
    tmp = target.with_name(f".{os.getpid()}.partial{target.suffix}")
    try:
        write(tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
