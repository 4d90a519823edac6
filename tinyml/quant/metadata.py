"""The "tinyml" metadata entry `tinyml quantize` writes into a model (TFLite's Model.metadata, a JSON buffer).

It records where the model came from (the float model's SHA-256), how it was calibrated, and how many bits each
quantized tensor holds: 8 for an int8 tensor, 4 for an INT4 one; entries of 4 or 2 bits on int8 tensors mark
tensors whose values fit in that many bits (quantization-aware training's 2-bit weights, and its sub-byte
activations, confined by their scale, zero point and clamp), so that tinyml can pack them. TFLite and TFLite Micro
ignore the entry. Quantization-aware training adds "qat": its options, per-layer bits and training figures.

    {"schema": "tinyml.quant/1", "tinyml": "0.1.0", "method": "ptq", "converter": "tensorflow 2.21.0",
     "source": {"file": "model.keras", "kind": "keras", "sha256": "..."},
     "options": {"samples": 200, "seed": 0, "input_range": "0..1", "float_io": false},
     "calibration": {"file": "calib", "kind": "images", "samples": 200, "available": 1000, ...},
     "tensors": [{"index": 0, "name": "serving_default_input:0", "bits": 8}, ...]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tinyml import __version__
from tinyml.quant.flatbuf import quantized_tensors, read_metadata, set_metadata

NAME = "tinyml"
SCHEMA = "tinyml.quant/1"


def describe(
    raw: bytes,
    *,
    source: dict[str, Any],
    calibration: dict[str, Any],
    options: dict[str, Any],
    converter: str,
    method: str = "ptq",
    bits: Mapping[int, int] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The entry for the quantized model `raw`: every int8 and int4 tensor at its bits (its storage's, or the
    fewer `bits` gives by tensor index), and the `extra` fields of the method."""
    bits = bits or {}
    return {
        "schema": SCHEMA,
        "tinyml": __version__,
        "method": method,
        "converter": converter,
        "source": source,
        "options": options,
        "calibration": calibration,
        "tensors": [{"index": i, "name": name, "bits": bits.get(i, b)} for i, name, b in quantized_tensors(raw)],
        **(extra or {}),
    }


def attach(raw: bytes, entry: dict[str, Any]) -> bytes:
    """The model with `entry` as its "tinyml" metadata (replacing an older one)."""
    return set_metadata(raw, NAME, json.dumps(entry, sort_keys=True).encode())


def read(raw: bytes) -> dict[str, Any] | None:
    """A model's "tinyml" entry, or None when it has none (or one this version cannot read)."""
    payload = read_metadata(raw, NAME)
    if payload is None:
        return None
    try:
        entry = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return entry if isinstance(entry, dict) and entry.get("schema") == SCHEMA else None
