"""Labelled data for the search: folders and .npz files read as the quantizer reads them, split per class, resized,
and every bad input named with its fix."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tinyml.errors import InputDataError
from tinyml.nas.data import load_labelled, resized, split
from tinyml.quant.data import fingerprint


def test_folder_and_npz_hold_the_same_images(tiny_data):
    CLASSES, PER_CLASS, SIZE = tiny_data.classes, tiny_data.per_class, tiny_data.size
    folder = load_labelled(tiny_data.folder)
    npz = load_labelled(tiny_data.npz)
    assert folder.classes == list(CLASSES) and npz.classes == ["0", "1", "2"]
    assert folder.x.shape == npz.x.shape == (PER_CLASS * 3, SIZE, SIZE, 3) and folder.x.dtype == np.float32
    assert folder.sha256 == fingerprint(tiny_data.folder) and npz.sha256 == fingerprint(tiny_data.npz)
    assert np.bincount(folder.y).tolist() == [PER_CLASS] * 3
    # the folder lists class by class, file by file; the .npz interleaves classes: the same pixels either way
    order = np.argsort(tiny_data.y, kind="stable")
    assert np.array_equal(folder.x, npz.x[order]) and np.array_equal(folder.y, npz.y[order])
    assert np.allclose(npz.x, tiny_data.x / 255, atol=1e-6) and np.array_equal(npz.y, tiny_data.y)


def test_size_limit_and_grey_images(tiny_data, tmp_path):
    PER_CLASS, SIZE = tiny_data.per_class, tiny_data.size
    small = load_labelled(tiny_data.folder, size=8, limit=30, seed=1)
    assert small.x.shape == (30, 8, 8, 3) and small.x.min() >= 0 and small.x.max() <= 1
    assert not np.array_equal(
        load_labelled(tiny_data.folder, limit=30, seed=2).y, load_labelled(tiny_data.folder, limit=30, seed=1).y
    )
    # an .npz is read at its size, then resized as the readers resize images (PIL bilinear)
    npz8 = load_labelled(tiny_data.npz, size=8)
    first = np.asarray(Image.fromarray(tiny_data.x[0]).resize((8, 8), Image.Resampling.BILINEAR)) / 255
    assert npz8.x.shape == (PER_CLASS * 3, 8, 8, 3) and np.abs(npz8.x[0] - first).max() <= 1 / 255 + 1e-6
    for name in ("a", "b"):
        (tmp_path / "grey" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(tiny_data.x[i, :, :, 0]).save(tmp_path / "grey" / name / f"{i}.png")
    grey = load_labelled(tmp_path / "grey")
    assert grey.x.shape == (6, SIZE, SIZE, 1) and grey.channels == 1


def test_split_is_stratified_and_seeded(tiny_data):
    data = load_labelled(tiny_data.npz)
    train, val = split(data, 0.2, seed=0)
    assert np.bincount(val.y).tolist() == [12] * 3 and np.bincount(train.y).tolist() == [48] * 3
    assert train.n + val.n == data.n
    rows = {r.tobytes() for r in train.x.reshape(train.n, -1)} | {r.tobytes() for r in val.x.reshape(val.n, -1)}
    assert len(rows) == data.n  # no image on both sides, none lost
    again, _ = split(data, 0.2, seed=0)
    other, _ = split(data, 0.2, seed=1)
    assert np.array_equal(again.x, train.x) and not np.array_equal(other.x, train.x)
    assert resized(train, 8).x.shape == (train.n, 8, 8, 3) and resized(train, tiny_data.size) is train


def _folder(root, counts, suffix=".png"):
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (8, 8), (i * 40 % 256, 0, 0)).save(root / name / f"{i}{suffix}")
    return root


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.mkdir() or p, ("holds no data",)),
        (lambda p: _folder(p, {"a": 3}), ("one class only", "'a'")),
        (lambda p: _folder(p, {"a": 3, "b": 1}) and p, ("'b' has 1 image", "at least 2")),
        (lambda p: [p.mkdir(), Image.new("L", (8, 8)).save(p / "x.png")] and p, ("no class sub-folders",)),
        (
            lambda p: [_folder(p, {"a": 2, "b": 2}), (p / "b" / "bad.png").write_bytes(b"not a png")] and p,
            ("bad.png", "cannot read this image"),
        ),
    ],
    ids=["empty", "one-class", "too-few", "unlabelled", "unreadable"],
)
def test_bad_folders(tmp_path, make, words):
    path = make(tmp_path / "data")
    with pytest.raises(InputDataError) as e:
        split(load_labelled(path), 0.2, seed=0)
    assert all(w in e.value.message for w in words), e.value.message
    assert e.value.fix and e.value.exit_code == 13


@pytest.mark.parametrize(
    ("arrays", "words"),
    [
        ({"x": np.zeros((4, 8, 8, 3), np.uint8)}, ("holds no labels",)),
        ({"x": np.zeros((4, 8, 8, 3), np.uint8), "y": np.zeros(4, np.int64)}, ("one class only",)),
        ({"x": np.full((4, 8, 8, 3), 200.0, np.float32), "y": np.arange(4) % 2}, ("0..200", "0..1")),
        ({"x": np.zeros((4, 8), np.float32), "y": np.arange(4) % 2}, ("not images",)),
        ({"a": np.zeros((4, 8, 8)), "b": np.zeros((4, 8, 8)), "y": np.arange(4) % 2}, ("none named x",)),
    ],
    ids=["unlabelled", "one-class", "range", "not-images", "no-x"],
)
def test_bad_npz(tmp_path, arrays, words):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(InputDataError) as e:
        load_labelled(tmp_path / "d.npz")
    assert all(w in e.value.message for w in words), e.value.message
    assert e.value.fix


def test_unreadable_npz(tmp_path):
    (tmp_path / "d.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputDataError, match=r"not a readable \.npz"):
        load_labelled(tmp_path / "d.npz")
