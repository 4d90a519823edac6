"""Calibration and evaluation data: an .npz file, a folder of images, or a folder of raw float32 .bin tensors.

Data is opened in two steps. `open_data` looks at the format only (a readable .npz, a folder that holds images
or tensors, labels where they are needed), so those mistakes are reported before any model is loaded;
`DataSource.load` then reads the chosen samples into arrays of the model's input shapes. Labels come from an
.npz's `y` (or `labels`) array, or from a folder's sub-folders: one per class, sorted names giving the label
indices, as Keras' `image_dataset_from_directory` numbers them.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import InputDataError
from tinyml.quant.options import INPUT_RANGES
from tinyml.quant.progress import bar

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
LABEL_KEYS = ("y", "labels")

_FORMATS = "an .npz of input arrays, a folder of images (.jpg, .png, .bmp), or a folder of float32 .bin tensors"
_LABEL_FIX = (
    "put each class's images in a sub-folder named after it (sorted names give the label indices), "
    "or pass an .npz holding x (inputs) and y (labels)"
)


@dataclass(frozen=True)
class InputSpec:
    """One model input as data must fill it."""

    #: the name an .npz array may carry for this input
    name: str
    #: one sample's shape, without the batch dimension
    shape: tuple[int, ...]
    #: other names that mean this input (the tensor's name beside the signature's, say)
    aliases: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def describe(self) -> str:
        return f"{self.name!r} {tuple(self.shape)}"


@dataclass
class Dataset:
    """Samples read for a model: one float32 array per input, each (n, *shape), and labels when there are some."""

    path: Path
    kind: str
    inputs: list[np.ndarray]
    labels: np.ndarray | None
    classes: list[str] | None
    #: how many samples the data holds; `n` of them were chosen
    available: int
    #: how pixels were scaled (images and uint8 arrays), else None
    input_range: str | None
    seed: int
    sha256: str = field(default="")

    @property
    def n(self) -> int:
        return len(self.inputs[0])

    def sample(self, i: int) -> list[np.ndarray]:
        """Sample `i` as one batch of 1 per input."""
        return [x[i : i + 1] for x in self.inputs]

    def summary(self, specs: Sequence[InputSpec]) -> dict[str, Any]:
        """What the metadata and the printed summary say about the data."""
        return {
            "file": self.path.name,
            "kind": self.kind,
            "sha256": self.sha256,
            "samples": self.n,
            "available": self.available,
            "seed": self.seed,
            "input_range": self.input_range,
            "classes": len(self.classes) if self.classes else None,
            "inputs": [
                {
                    "name": spec.name,
                    "shape": list(spec.shape),
                    "min": float(x.min()),
                    "max": float(x.max()),
                    "mean": float(x.mean()),
                }
                for spec, x in zip(specs, self.inputs, strict=True)
            ],
        }


def choose(total: int, limit: int | None, seed: int) -> np.ndarray:
    """Which samples to use: all of them in order, or a seeded choice of `limit` of them (in data order)."""
    if limit is None or limit >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=limit, replace=False))


def fingerprint(path: Path) -> str:
    """SHA-256 of a data file, or of a folder's file names and contents: the data's part of a cache key."""
    h = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


class DataSource:
    """Data whose format was checked; `load` reads samples for a model's inputs."""

    kind = ""

    def __init__(self, path: Path, count: int, labelled: bool, classes: list[str] | None) -> None:
        self.path = path
        self.count = count
        self.labelled = labelled
        self.classes = classes

    def require_labels(self) -> None:
        if not self.labelled:
            raise InputDataError(f"{self.path}: {self._why_unlabelled()}", self._label_fix())

    def _why_unlabelled(self) -> str:
        return "holds no labels"

    def _label_fix(self) -> str:
        return _LABEL_FIX

    def prepare(self, specs: Sequence[InputSpec]) -> None:
        """Check that the data can fill `specs` (and settle `count` where the shapes decide it)."""

    def load(
        self, specs: Sequence[InputSpec], input_range: str, indices: np.ndarray, progress: bool = False
    ) -> tuple[list[np.ndarray], np.ndarray | None, bool]:
        """The samples at `indices` for `specs`, their labels (or None), and whether `input_range` scaled them."""
        raise NotImplementedError


def open_data(path: str | Path) -> DataSource:
    """The data at `path`, its format checked (not yet its shapes): an .npz file or a folder of samples."""
    path = Path(path)
    if path.is_dir():
        return _open_folder(path)
    if not path.is_file():
        raise InputDataError(f"no file or folder {path}", f"pass {_FORMATS}")
    return _NpzSource.open(path)


def read_data(
    path: str | Path,
    specs: Sequence[InputSpec],
    *,
    input_range: str = "0..1",
    limit: int | None = None,
    seed: int = 0,
    labelled: bool = False,
    progress: bool = False,
    source: DataSource | None = None,
) -> Dataset:
    """Samples for a model with inputs `specs`: at most `limit` of them (a seeded choice), labels when `labelled`."""
    src = source or open_data(path)
    if labelled:
        src.require_labels()
    src.prepare(specs)
    indices = choose(src.count, limit, seed)
    inputs, labels, scaled = src.load(specs, input_range, indices, progress)
    for spec, x in zip(specs, inputs, strict=True):
        if not np.isfinite(x).all():
            raise InputDataError(
                f"{src.path}: the data for input {spec.name!r} holds NaN or infinite values",
                "calibrate with real, finite inputs",
            )
    return Dataset(
        src.path,
        src.kind,
        inputs,
        labels,
        src.classes,
        src.count,
        input_range if scaled else None,
        seed,
        fingerprint(src.path),
    )


# --- .npz -----------------------------------------------------------------------------------------------------------


class _NpzSource(DataSource):
    kind = "npz"

    def __init__(self, path: Path, arrays: dict[str, np.ndarray], count: int, labels: np.ndarray | None) -> None:
        super().__init__(path, count, labels is not None, None)
        self.arrays = arrays
        self.labels = labels
        self.fitted: list[tuple[str, np.ndarray]] = []

    @classmethod
    def open(cls, path: Path) -> _NpzSource:
        arrays = _read_npz(path)
        label_key = next((k for k in LABEL_KEYS if k in arrays), None)
        inputs = {k: v for k, v in arrays.items() if k != label_key}
        if not inputs:
            raise InputDataError(
                f"{path}: holds no input arrays (only {', '.join(arrays) or 'nothing'})",
                "write the inputs with numpy.savez(path, x=inputs, y=labels)",
            )
        for key, arr in inputs.items():
            if arr.dtype.kind not in "fiu":
                raise InputDataError(
                    f"{path}: array {key!r} holds {arr.dtype} values; the model's inputs are numbers",
                    "store the inputs as float32 arrays (or uint8 pixels, scaled by --input-range)",
                )
        labels = _labels(path, label_key, arrays[label_key]) if label_key is not None else None
        count = len(labels) if labels is not None else max(len(v) if v.ndim else 1 for v in inputs.values())
        return cls(path, inputs, count, labels)

    def _why_unlabelled(self) -> str:
        return f"holds no labels (no {' or '.join(LABEL_KEYS)} array beside {', '.join(self.arrays)})"

    def _label_fix(self) -> str:
        return "save the labels too: numpy.savez(path, x=inputs, y=labels), labels as class indices"

    def prepare(self, specs: Sequence[InputSpec]) -> None:
        """Each input's array in its shape; all of them (and the labels) with one count of samples."""
        keys = self._match(specs)
        self.fitted = [(k, _fit_shape(self.path, k, self.arrays[k], s)) for s, k in zip(specs, keys, strict=True)]
        first_key, first = self.fitted[0]
        for key, arr in self.fitted:
            if self.labels is not None and len(arr) != len(self.labels):
                raise InputDataError(
                    f"{self.path}: array {key!r} holds {len(arr)} samples, the labels {len(self.labels)}",
                    "give every array the same number of samples",
                )
            if len(arr) != len(first):
                raise InputDataError(
                    f"{self.path}: array {key!r} holds {len(arr)} samples, {first_key!r} {len(first)}",
                    "give every array the same number of samples",
                )
        self.count = len(first)

    def load(
        self, specs: Sequence[InputSpec], input_range: str, indices: np.ndarray, progress: bool = False
    ) -> tuple[list[np.ndarray], np.ndarray | None, bool]:
        out, scaled = [], False
        for _, arr in self.fitted:
            arr = arr[indices]
            if arr.dtype == np.uint8:
                arr, scaled = scale_pixels(arr, input_range), True
            out.append(np.ascontiguousarray(arr, dtype=np.float32))
        labels = self.labels[indices] if self.labels is not None else None
        return out, labels, scaled

    def _match(self, specs: Sequence[InputSpec]) -> list[str]:
        """Which array feeds which input: a lone array feeds a lone input; otherwise arrays are named after inputs."""
        names = list(self.arrays)
        if len(specs) == 1 and len(names) == 1:
            return names
        chosen = []
        for spec in specs:
            wanted = [spec.name, *spec.aliases] + (["x"] if len(specs) == 1 else [])
            key = next((k for k in wanted if k in self.arrays), None)
            if key is None:
                expected = ", ".join(s.name for s in specs)
                raise InputDataError(
                    f"{self.path}: no array for the model's input {spec.name!r} (the file holds {', '.join(names)})",
                    f"name the arrays after the model's inputs ({expected})"
                    + (", or store a single array x" if len(specs) == 1 else ""),
                )
            chosen.append(key)
        return chosen


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz, read now, so that a damaged file fails here with one message."""
    fix = "write it again with numpy.savez(path, x=inputs, y=labels)"
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise InputDataError(f"cannot read {path}: {e.strerror}", "check its permissions") from None
    if magic != b"PK\x03\x04":
        raise InputDataError(f"{path}: not a readable .npz file (not a zip archive of arrays)", fix)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as e:
        if "allow_pickle" in str(e) or "Object arrays" in str(e):
            raise InputDataError(
                f"{path}: holds Python objects (pickled arrays), not numbers", "store numeric arrays only"
            ) from None
        raise InputDataError(f"{path}: not a readable .npz file ({_first_line(e)})", fix) from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise InputDataError(f"{path}: not a readable .npz file ({_first_line(e)})", fix) from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:160] if text else type(e).__name__


def _labels(path: Path, key: str, y: np.ndarray) -> np.ndarray:
    """Class indices from an .npz's label array: integers, integral floats, or one-hot rows."""
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0)):
        raise InputDataError(
            f"{path}: array {key!r} ({y.dtype}, shape {y.shape}) is not a list of class indices",
            "store the labels as one integer per sample (or one-hot rows)",
        )
    if len(y) and y.min() < 0:
        raise InputDataError(f"{path}: array {key!r} holds negative labels", "store class indices from 0")
    return y.astype(np.int64)


def _fit_shape(path: Path, key: str, arr: np.ndarray, spec: InputSpec) -> np.ndarray:
    """An array as (n, *spec.shape): one sample without a batch axis, or a missing trailing channel of 1, is fine."""
    if arr.shape[1:] == spec.shape:
        return arr
    if arr.shape == spec.shape:
        return arr[None]
    if spec.shape and spec.shape[-1] == 1 and arr.shape[1:] == spec.shape[:-1]:
        return arr[..., None]
    raise InputDataError(
        f"{path}: array {key!r} has shape {arr.shape}; the model's input {spec.name!r} takes (n, "
        f"{', '.join(map(str, spec.shape))})",
        "store one sample per row, each of the input's shape",
    )


def scale_pixels(pixels: np.ndarray, input_range: str) -> np.ndarray:
    """Pixels 0..255 as float32 in `input_range` (0..1, -1..1 or 0..255)."""
    lo, hi = INPUT_RANGES[input_range]
    return (pixels.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)).astype(np.float32)


# --- folders ---------------------------------------------------------------------------------------------------------


def _open_folder(path: Path) -> DataSource:
    """A folder of images or of .bin tensors, directly inside it or in one sub-folder per class."""
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
        top = [Path(e.path) for e in entries if e.is_file()]
        subdirs = [Path(e.path) for e in entries if e.is_dir() and not e.name.startswith(".")]
        nested = {d.name: sorted(p for p in d.iterdir() if p.is_file()) for d in subdirs}
    except OSError as e:
        raise InputDataError(f"cannot read the folder {path}: {e.strerror}", "check its permissions") from None

    def of(files: list[Path], suffixes: tuple[str, ...]) -> list[Path]:
        return [f for f in files if f.suffix.lower() in suffixes and not f.name.startswith(".")]

    kinds = {}
    for kind, suffixes in (("images", IMAGE_SUFFIXES), ("bin", (".bin",))):
        found_top = of(top, suffixes)
        found_nested = {name: of(files, suffixes) for name, files in nested.items()}
        found_nested = {name: files for name, files in found_nested.items() if files}
        if found_top or found_nested:
            kinds[kind] = (found_top, found_nested)
    if not kinds:
        raise InputDataError(
            f"{path}: holds no data (no .jpg, .png or .bmp images and no .bin tensors, "
            "at its top level or in sub-folders)",
            f"pass {_FORMATS}",
        )
    if len(kinds) > 1:
        raise InputDataError(
            f"{path}: mixes images and .bin tensors", "keep one kind of sample per folder: images, or .bin tensors"
        )
    kind, (found_top, found_nested) = next(iter(kinds.items()))
    classes = sorted(found_nested) if found_nested and not found_top else None
    files = found_top + [f for name in sorted(found_nested) for f in found_nested[name]]
    labels = None
    if classes is not None:
        labels = np.array([i for i, name in enumerate(classes) for _ in found_nested[name]], dtype=np.int64)
    cls = _ImageFolder if kind == "images" else _BinFolder
    return cls(path, files, labels, classes, mixed=bool(found_top and found_nested))


class _Folder(DataSource):
    noun = ""

    def __init__(
        self, path: Path, files: list[Path], labels: np.ndarray | None, classes: list[str] | None, mixed: bool
    ) -> None:
        super().__init__(path, len(files), labels is not None, classes)
        self.files = files
        self.labels = labels
        self.mixed = mixed

    def _why_unlabelled(self) -> str:
        if self.mixed:
            return f"mixes {self.noun} at its top level with class sub-folders, so some have no label"
        return f"holds {self.noun} but no class sub-folders, so they have no labels"

    def load(
        self, specs: Sequence[InputSpec], input_range: str, indices: np.ndarray, progress: bool = False
    ) -> tuple[list[np.ndarray], np.ndarray | None, bool]:
        chosen = bar(indices, desc="reading", enabled=progress)
        samples = [self._read(self.files[i], specs, input_range) for i in chosen]
        inputs = [np.stack([s[k] for s in samples]).astype(np.float32) for k in range(len(specs))]
        labels = self.labels[indices] if self.labels is not None else None
        return inputs, labels, self.kind == "images"

    def _read(self, file: Path, specs: Sequence[InputSpec], input_range: str) -> list[np.ndarray]:
        raise NotImplementedError


class _ImageFolder(_Folder):
    kind = "images"
    noun = "images"

    def prepare(self, specs: Sequence[InputSpec]) -> None:
        if (
            len(specs) != 1
            or len(specs[0].shape) not in (2, 3)
            or (len(specs[0].shape) == 3 and specs[0].shape[2] not in (1, 3))
        ):
            takes = ", ".join(s.describe() for s in specs)
            raise InputDataError(
                f"{self.path}: holds images, but the model's inputs are {takes}; images fill one input of shape "
                "(height, width, 1 or 3 channels)",
                "pass the inputs as an .npz or as .bin tensors instead",
            )

    def _read(self, file: Path, specs: Sequence[InputSpec], input_range: str) -> list[np.ndarray]:
        """One image, converted to the input's channels and resized to its height and width (bilinear)."""
        from PIL import Image, UnidentifiedImageError

        shape = specs[0].shape
        height, width = shape[0], shape[1]
        grey = len(shape) == 2 or shape[2] == 1
        try:
            with Image.open(file) as img:
                img = img.convert("L" if grey else "RGB")
                if img.size != (width, height):
                    img = img.resize((width, height), Image.Resampling.BILINEAR)
                pixels = np.asarray(img, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise InputDataError(
                f"{file}: cannot read this image ({_first_line(e)})", "remove or replace the damaged file"
            ) from None
        return [scale_pixels(pixels.reshape(shape), input_range)]


class _BinFolder(_Folder):
    kind = "bin"
    noun = ".bin tensors"

    def _read(self, file: Path, specs: Sequence[InputSpec], input_range: str) -> list[np.ndarray]:
        """One sample: the inputs' float32 values, back to back in model order."""
        need = sum(s.size for s in specs) * 4
        try:
            raw = file.read_bytes()
        except OSError as e:
            raise InputDataError(f"cannot read {file}: {e.strerror}", "check its permissions") from None
        if len(raw) != need:
            shapes = ", ".join(f"float32{list(s.shape)}" for s in specs)
            raise InputDataError(
                f"{file}: holds {len(raw)} bytes; one sample needs {need} bytes ({shapes})",
                "write each sample's inputs as raw float32 (numpy: x.astype(np.float32).tofile(path))",
            )
        values = np.frombuffer(raw, dtype="<f4")
        out, pos = [], 0
        for s in specs:
            out.append(values[pos : pos + s.size].reshape(s.shape))
            pos += s.size
        return out
