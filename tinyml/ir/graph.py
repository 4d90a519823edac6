"""The graph IR every pipeline stage reads and writes.

Kept deliberately small: tensors with shape, element type (`types.ElementType`)
and quantization; operators with normalized attributes. Nothing here knows about
TFLite's flatbuffer layout or about C.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyml.ir.types import ElementType, element_type


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
    #: what the stored values sit above: the int8 value TFLite computes is the stored value plus `level`. 0 but
    #: for sub-byte activations (tinyml.passes.subbyte), which store the code value - level of a tensor whose
    #: clamp confines it to [level, level + 2^bits - 1]; their zero points are then the codes' (minus level too)
    level: int = 0

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
    #: what one element is (tinyml.ir.types); a type name such as "int8" is accepted and converted
    type: ElementType
    quant: Quantization | None = None
    #: a constant's values, unpacked (sub-byte types in their int8/uint8 container), in the tensor's shape
    data: np.ndarray | None = None
    #: position in the source model's tensor list (TFLM plans buffers in this order)
    index: int = -1
    #: a variable tensor (TFLite's `is_variable`): the state a stateful op (SVDF, LSTM) carries from one inference
    #: to the next; it lives in its own persistent buffer, outside the per-inference arena, until a reset
    variable: bool = False

    def __post_init__(self) -> None:
        self.type = element_type(self.type)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def num_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        """Bytes the tensor takes in memory (packed, for sub-byte types)."""
        return self.type.nbytes(self.num_elements)

    def __repr__(self) -> str:
        kind = "const" if self.is_const else "state" if self.variable else "act"
        return f"Tensor({self.name!r}, {self.shape}, {self.type}, {kind})"


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
        """Non-constant tensors but the state: the ones that need arena memory."""
        return [t for t in self.tensors() if not t.is_const and not t.variable]

    def variables(self) -> list[Tensor]:
        """The variable tensors (stateful ops' state), in source order: the persistent buffer's contents."""
        return sorted((t for t in self.tensors() if t.variable), key=lambda t: t.index)

    def consumers(self, tensor: Tensor) -> list[Operator]:
        return [op for op in self.ops if any(t is tensor for t in op.inputs)]

    def producer(self, tensor: Tensor) -> Operator | None:
        for op in self.ops:
            if any(t is tensor for t in op.outputs):
                return op
        return None
