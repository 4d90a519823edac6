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


#: the bit widths quantization-aware training gives weights and activations
WEIGHT_BITS = (8, 4, 2)
ACTIVATION_BITS = (8, 4, 2)


def parse_bits(text: str) -> tuple[int, int]:
    """`--bits`: "8" (int8 throughout) or "wXaY" (X-bit weights, Y-bit activations), as (weight, activation) bits.
    Raises ValueError with the accepted forms."""
    spec = text.strip().lower()
    if spec == "8":
        return 8, 8
    parts = spec.removeprefix("w").split("a")
    if spec.startswith("w") and len(parts) == 2 and all(p.isdigit() for p in parts):
        weights, activations = int(parts[0]), int(parts[1])
        if weights in WEIGHT_BITS and activations in ACTIVATION_BITS:
            return weights, activations
    raise ValueError(
        f"{text!r} is not a bit width: use 8, or wXaY with X (weight bits) and Y (activation bits) each 8, 4 or 2, "
        "such as w4a8"
    )


#: the real range sub-byte activations take: a ReLU6's
SUB_BYTE_RANGE = 6.0


def sub_byte_scale(bits: int) -> float:
    """The scale of a b-bit activation on [0, 6]: 2^b levels, 6/(2^b − 1) apart (with zero point −128, the int8
    tensor then holds −128 … −128 + 2^b − 1)."""
    return SUB_BYTE_RANGE / (2**bits - 1)


def bits_label(weights: int, activations: int) -> str:
    """(8, 8) as "8", (4, 8) as "w4a8": the form `--bits` takes."""
    return "8" if (weights, activations) == (8, 8) else f"w{weights}a{activations}"


@dataclass(frozen=True)
class QatOptions:
    """Every choice of quantization-aware training besides the data: part of the metadata entry.

    `bits` applies to every convolution, depthwise convolution and dense layer not named in `layers`; activation
    bits below 8 go only to those whose output passes a ReLU or ReLU6, the others keep 8. A layer named in
    `layers` gets exactly its bits, or is refused.
    """

    #: passes over the training data, at least 1
    epochs: int = 1
    #: samples per optimizer step
    batch_size: int = 32
    #: Adam's step size; fine-tuning wants a small one
    learning_rate: float = 1e-4
    #: (weight bits, activation bits) for the layers not named in `layers`
    bits: tuple[int, int] = (8, 8)
    #: per-layer bits, sorted by layer name: (name, weight bits, activation bits)
    layers: tuple[tuple[str, int, int], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "bits", tuple(self.bits))
        object.__setattr__(self, "layers", tuple(sorted((str(n), int(w), int(a)) for n, w, a in self.layers)))

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["bits"], d["layers"] = bits_label(*self.bits), {n: bits_label(w, a) for n, w, a in self.layers}
        return d
