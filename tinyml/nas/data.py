"""Labelled images for the search: read once, held in memory as float32 pixels in 0..1.

The search trains on the same pixels `tinyml quantize` and `tinyml eval` read, so it reads them the same way:
through the quantizer's data readers (tinyml.quant.data), which already name every bad folder or file. This
module adds what training needs on top: labels are required, there must be two classes or more, and a
validation split must leave every class images on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tinyml.errors import InputDataError
from tinyml.quant.data import DataSource, InputSpec, open_data, read_data

#: PIL modes that hold one channel; any other image is read as RGB
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


@dataclass
class Labelled:
    """Images and their class indices."""

    #: (n, height, width, channels) float32 pixels in 0..1
    x: np.ndarray
    #: (n,) int64 class indices into `classes`
    y: np.ndarray
    #: class names, their index the label (sorted sub-folder names, or "0".."k-1" for an .npz)
    classes: list[str]
    #: where the data came from (logs and messages name it)
    path: Path
    #: fingerprint of the data's files: part of the search log's key, so a resumed search uses the same data
    sha256: str

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def size(self) -> int:
        """The images' height (the search's models take square inputs)."""
        return int(self.x.shape[1])

    @property
    def channels(self) -> int:
        return int(self.x.shape[3])

    def subset(self, indices: np.ndarray) -> Labelled:
        """The samples at `indices`, in that order."""
        return replace(self, x=self.x[indices], y=self.y[indices])


def load_labelled(
    path: str | Path, size: int | None = None, limit: int | None = None, seed: int = 0, progress: bool = False
) -> Labelled:
    """The labelled images at `path`: a folder with one sub-folder of images per class, or an .npz holding x
    (images, uint8 pixels or floats in 0..1) and y (class indices). Images keep their own channels (grey 1,
    anything else RGB 3) and are resized to `size` x `size` (bilinear) when `size` is given, else to the first
    image's size. `limit` reads a seeded choice of that many samples."""
    source = open_data(path)
    source.require_labels()
    shape = _image_shape(source)
    read_shape = (size, size, shape[2]) if size is not None and source.kind == "images" else shape
    data = read_data(
        source.path,
        [InputSpec("x", read_shape)],
        labelled=True,
        limit=limit,
        seed=seed,
        progress=progress,
        source=source,
    )
    x, y = data.inputs[0], data.labels
    assert y is not None
    if len(y) == 0:
        raise InputDataError(f"{source.path}: holds no samples", "pass a folder or .npz with labelled images")
    if data.input_range is None and (x.min() < -0.01 or x.max() > 1.01):
        raise InputDataError(
            f"{source.path}: the images' values span {x.min():g}..{x.max():g}; the search trains on pixels in 0..1",
            "store the images as uint8 pixels (0..255), or as floats scaled to 0..1",
        )
    classes = data.classes or [str(i) for i in range(int(y.max()) + 1)]
    present = np.unique(y)
    if len(present) < 2:
        only = classes[int(present[0])]
        raise InputDataError(
            f"{source.path}: holds one class only ({only!r}); a classifier needs two or more",
            "add a sub-folder of images for each other class (or their labels to the .npz)",
        )
    out = Labelled(np.ascontiguousarray(x, dtype=np.float32), y.astype(np.int64), classes, source.path, data.sha256)
    return resized(out, size) if size is not None and out.size != size else out


def _image_shape(source: DataSource) -> tuple[int, int, int]:
    """(height, width, channels) of the data's images: an .npz's array shape, or a folder's first image (its
    channels grey if every class's first image is grey)."""
    if source.kind == "npz":
        arrays = source.arrays  # type: ignore[attr-defined]
        key = "x" if "x" in arrays else next(iter(arrays)) if len(arrays) == 1 else None
        if key is None:
            raise InputDataError(
                f"{source.path}: holds several arrays ({', '.join(arrays)}) and none named x",
                "store the images as x and the labels as y: numpy.savez(path, x=images, y=labels)",
            )
        shape = arrays[key].shape[1:]
        if len(shape) == 2:
            shape = (*shape, 1)
        if len(shape) != 3 or shape[2] not in (1, 3) or shape[0] < 2 or shape[1] < 2:
            raise InputDataError(
                f"{source.path}: array {key!r} has shape {arrays[key].shape}, not images",
                "store the images as (n, height, width) or (n, height, width, 1 or 3 channels)",
            )
        return int(shape[0]), int(shape[1]), int(shape[2])
    if source.kind != "images":
        raise InputDataError(
            f"{source.path}: holds .bin tensors, not images", "pass a folder of images (one sub-folder per class)"
        )
    from PIL import Image, UnidentifiedImageError

    files: list[Path] = source.files  # type: ignore[attr-defined]
    labels: np.ndarray = source.labels  # type: ignore[attr-defined]
    firsts = [files[int(np.argmax(labels == c))] for c in np.unique(labels)]
    channels, size = 1, (0, 0)
    for i, file in enumerate(firsts):
        try:
            with Image.open(file) as img:
                if i == 0:
                    size = (img.height, img.width)
                if img.mode not in _GREY_MODES:
                    channels = 3
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise InputDataError(
                f"{file}: cannot read this image ({str(e).splitlines()[0][:160] if str(e) else type(e).__name__})",
                "remove or replace the damaged file",
            ) from None
    return size[0], size[1], channels


def split(data: Labelled, val_fraction: float, seed: int) -> tuple[Labelled, Labelled]:
    """Training and validation parts: `val_fraction` of every class (at least one image, never all of them)
    held out, a seeded choice, so that both parts see every class in its proportion."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in range(len(data.classes)):
        members = np.flatnonzero(data.y == c)
        if len(members) == 0:
            continue
        if len(members) < 2:
            raise InputDataError(
                f"{data.path}: class {data.classes[c]!r} has {len(members)} image; splitting off validation "
                "images needs at least 2 per class",
                f"add images of {data.classes[c]!r}, or remove that class",
            )
        members = rng.permutation(members)
        k = min(len(members) - 1, max(1, round(len(members) * val_fraction)))
        val_idx.append(members[:k])
        train_idx.append(members[k:])
    train, val = np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))
    return data.subset(train), data.subset(val)


def resized(data: Labelled, size: int) -> Labelled:
    """The images at `size` x `size`, resized as the data readers resize images (PIL bilinear, antialiased
    when shrinking), each channel in float so no precision is lost to a second rounding."""
    if data.x.shape[1] == size and data.x.shape[2] == size:
        return data
    from PIL import Image

    out = np.empty((data.n, size, size, data.channels), np.float32)
    for i, img in enumerate(data.x):
        for c in range(data.channels):
            band = Image.fromarray(np.ascontiguousarray(img[:, :, c])).resize((size, size), Image.Resampling.BILINEAR)
            out[i, :, :, c] = np.asarray(band, dtype=np.float32)
    return replace(data, x=out)
