"""Post-training int8 quantization, end to end: a float model and calibration data in, an int8 .tflite out.

`quantize` works in memory; `quantized` keeps the result in the cache, keyed by the content of the model, the
data and the options (and the converters' versions), so that `compile --calib` quantizes a model once.
The result always passes tinyml's front end as a fully int8 model, and carries the "tinyml" metadata entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tinyml import __version__
from tinyml.errors import UnsupportedModelError, UsageError
from tinyml.quant import metadata
from tinyml.quant.data import fingerprint, open_data, read_data
from tinyml.quant.options import QuantOptions


@dataclass(frozen=True)
class Int8Model:
    """An int8 TFLite model quantized from a float model."""

    #: the model's bytes, metadata entry included
    raw: bytes
    #: the float model it came from, and its kind (a key of frontend.detect.FLOAT_KINDS)
    source: Path
    kind: str
    #: its "tinyml" metadata entry
    metadata: dict[str, Any]
    #: where it is stored (the cache), or None when only in memory
    path: Path | None = None
    #: whether it was found in the cache rather than quantized now
    cached: bool = False


def float_source(model: str | Path) -> tuple[str, Path] | None:
    """The kind of float model at `model` and the path to quantize, or None when it is not a float model."""
    from tinyml.frontend.detect import float_model_kind

    return float_model_kind(Path(model))


def quantize(
    model: str | Path, calib: str | Path, options: QuantOptions | None = None, *, progress: bool = False
) -> Int8Model:
    """Quantize the float model at `model` to int8 with the calibration data at `calib` (see data.py)."""
    from tinyml.quant.convert import convert
    from tinyml.quant.quiet import tensorflow_quiet
    from tinyml.quant.source import open_float_model

    options = options or QuantOptions()
    kind, path = require_float(Path(model))
    source = open_data(calib)  # the data's format is checked before TensorFlow loads anything
    with tensorflow_quiet():
        float_model = open_float_model(path, kind)
        data = read_data(
            calib,
            float_model.inputs,
            input_range=options.input_range,
            limit=options.samples,
            seed=options.seed,
            progress=progress,
            source=source,
        )
        raw, converter = convert(float_model, data, options, progress)
    check_int8(raw, path)
    entry = metadata.describe(
        raw,
        source={"file": path.name, "kind": kind, "sha256": fingerprint(path), "loader": float_model.loader},
        calibration=data.summary(float_model.inputs),
        options=options.as_dict(),
        converter=converter,
    )
    return Int8Model(metadata.attach(raw, entry), path, kind, entry)


def quantized(
    model: str | Path, calib: str | Path, options: QuantOptions | None = None, *, progress: bool = False
) -> Int8Model:
    """`quantize`, kept in the cache: cache_root()/quantized/<key>/<model name>.tflite, the key a SHA-256 of the
    model's and the data's content, the options, and the versions of tinyml and the converters."""
    from tinyml.resources import cache_root

    options = options or QuantOptions()
    kind, path = require_float(Path(model))
    if not Path(calib).exists():
        open_data(calib)  # names the missing data
    key = cache_key(path, Path(calib), options)
    target = cache_root() / "quantized" / key / f"{path.stem or 'model'}.tflite"
    if target.is_file():
        raw = target.read_bytes()
        entry = metadata.read(raw)
        if entry is not None:
            return Int8Model(raw, path, kind, entry, target, cached=True)
    result = quantize(path, calib, options, progress=progress)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        tmp.write_bytes(result.raw)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return Int8Model(result.raw, path, kind, result.metadata, target)


def cache_key(model: Path, calib: Path, options: QuantOptions) -> str:
    """What decides the quantized model, hashed: contents, options, and every converter's version."""
    parts = {
        "schema": metadata.SCHEMA,
        "tinyml": __version__,
        "versions": [_version(p) for p in ("tensorflow", "keras", "tf-keras", "ai-edge-quantizer", "ai-edge-litert")],
        "model": fingerprint(model),
        "data": fingerprint(calib),
        "options": options.as_dict(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _version(package: str) -> str:
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return f"{package} -"


def require_float(model: Path) -> tuple[str, Path]:
    """The float model's kind and path; anything else is refused with the front end's reason or as int8."""
    found = float_source(model)
    if found is not None:
        return found
    from tinyml.frontend import load_model

    load_model(model)  # a missing, damaged, partly quantized or foreign file: the front end's own message
    raise UsageError(
        f"{model}: is already an int8 model; there is nothing to quantize",
        f"compile it directly: tinyml compile {model} --board BOARD -o DIR",
    )


def check_int8(raw: bytes, source: Path) -> None:
    """The converter's result must be int8 throughout, as tinyml compiles it: say so when it left float ops."""
    from tinyml.frontend import parse_model

    try:
        parse_model(raw, name=source.stem or "model")
    except UnsupportedModelError as e:
        detail = e.message.split("partly quantized: ", 1)[-1].split("; tinyml compiles", 1)[0]
        raise UnsupportedModelError(
            f"{source}: quantization left part of the model in float: {detail}",
            "replace those layers with ones TFLite has int8 kernels for, or compute them outside the model",
        ) from None
