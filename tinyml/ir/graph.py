"""The graph IR every pipeline stage reads and writes.

Kept deliberately small: tensors with shape, dtype, element bit width and
quantization; operators with normalized attributes. Nothing here knows about
TFLite's flatbuffer layout or about C.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: bits per element of each storage dtype
DTYPE_BITS = {
    "int8": 8,
    "uint8": 8,
    "int16": 16,
    "int32": 32,
    "int64": 64,
    "float16": 16,
    "float32": 32,
    "float64": 64,
    "bool": 8,
}

#: C type of each dtype the generated code handles
C_TYPES = {
    "int8": "int8_t",
    "uint8": "uint8_t",
    "int16": "int16_t",
    "int32": "int32_t",
    "int64": "int64_t",
    "float32": "float",
    "bool": "uint8_t",
}


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per channel.

    Scales are stored as Python floats holding the model's float32 values
    exactly, so that requantization constants are derived from the same bits
    TFLite Micro sees.
    """

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    @property
    def scale(self) -> float:
        return self.scales[0]

    @property
    def zero_point(self) -> int:
        return self.zero_points[0]


@dataclass(eq=False)
class Tensor:
    """A value in the graph: an activation (planned in the arena) or a constant."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quantization | None = None
    data: np.ndarray | None = None
    #: element bit width in memory; 8, 4 or 2 for quantized integer tensors
    bits: int = 0
    #: position in the source model's tensor list (TFLM plans buffers in this order)
    index: int = -1

    def __post_init__(self) -> None:
        if not self.bits:
            self.bits = DTYPE_BITS.get(self.dtype, 8)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def num_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return (self.num_elements * self.bits + 7) // 8

    def __repr__(self) -> str:
        kind = "const" if self.is_const else "act"
        return f"Tensor({self.name!r}, {self.shape}, {self.dtype}, {kind})"


@dataclass(eq=False)
class Operator:
    """One operator, with its attributes in the form its definition gives them (`tinyml.ops`)."""

    type: str
    inputs: list[Tensor | None]
    outputs: list[Tensor]
    #: a frozen dataclass of typed attributes for every op type tinyml defines (ConvAttrs, PoolAttrs, ...,
    #: made once at load); the frontend's raw option dict for the others (ops the optimiser folds away)
    attrs: Any = field(default_factory=dict)
    #: position in the source model, kept for messages ("op #12 CONV_2D")
    index: int = 0

    @property
    def label(self) -> str:
        return f"op #{self.index} {self.type}"

    def input(self, i: int) -> Tensor:
        """The i-th input, which must be present."""
        t = self.inputs[i]
        if t is None:
            raise IndexError(f"{self.label} has no input {i}")
        return t

    def opt_input(self, i: int) -> Tensor | None:
        """The i-th input, or None when absent (optional bias, say)."""
        return self.inputs[i] if i < len(self.inputs) else None


@dataclass(eq=False)
class Graph:
    """A single-subgraph model: ops in execution order."""

    name: str
    inputs: list[Tensor]
    outputs: list[Tensor]
    ops: list[Operator]
    #: sha256 of the source file, for caching and the firmware model hash
    source_hash: str = ""

    def tensors(self) -> list[Tensor]:
        """Every tensor referenced by the graph, in first-use order."""
        seen: dict[int, Tensor] = {}
        for t in self.inputs:
            seen.setdefault(id(t), t)
        for op in self.ops:
            for t in [*op.inputs, *op.outputs]:
                if t is not None:
                    seen.setdefault(id(t), t)
        return list(seen.values())

    def activations(self) -> list[Tensor]:
        """Non-constant tensors: the ones that need arena memory."""
        return [t for t in self.tensors() if not t.is_const]

    def consumers(self, tensor: Tensor) -> list[Operator]:
        return [op for op in self.ops if any(t is tensor for t in op.inputs)]

    def producer(self, tensor: Tensor) -> Operator | None:
        for op in self.ops:
            if any(t is tensor for t in op.outputs):
                return op
        return None
