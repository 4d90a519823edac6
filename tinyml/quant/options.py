"""What decides a quantized model besides the float model and its calibration data."""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: how image pixels (0..255) map onto the model's float input: `--input-range`
INPUT_RANGES: dict[str, tuple[float, float]] = {"0..1": (0.0, 1.0), "-1..1": (-1.0, 1.0), "0..255": (0.0, 255.0)}


@dataclass(frozen=True)
class QuantOptions:
    """Every choice that changes the quantized model: part of the cache key and of the metadata entry."""

    #: calibrate with at most this many samples (a seeded choice when the data holds more)
    samples: int = 200
    #: the seed of that choice
    seed: int = 0
    #: pixels 0..255 are scaled to this range (a key of INPUT_RANGES); also uint8 arrays of an .npz
    input_range: str = "0..1"
    #: keep float32 inputs and outputs (QUANTIZE/DEQUANTIZE at the edges) instead of int8 ones
    float_io: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
