"""Element types: what one value of a tensor is, and everything that follows from it.

A tensor's `ElementType` answers every question that used to be a string
comparison on a NumPy dtype name: the value range (what a fused activation or
a saturation clamps to), the NumPy container of unpacked values, the C type,
the bytes a number of elements takes in memory (`nbytes`: packed for sub-byte
types), how values are packed for flash and unpacked from a model file, and
the runtime's type tag. Sub-byte integers (INT4, INT2, UINT4, UINT2) are
stored 8/bits values per byte, the first value in the lowest bits: TFLite's
INT4 tensors and CMSIS-NN's _s4 kernels pack them this way.

Comparing an ElementType with a string raises TypeError, so that no check
written against the old dtype strings can survive silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INT, UINT, FLOAT, BOOL_KIND, OPAQUE = "int", "uint", "float", "bool", "opaque"


@dataclass(frozen=True, eq=False)
class ElementType:
    """One element's kind ("int", "uint", "float", "bool" or "opaque"), width in bits and name."""

    kind: str
    bits: int
    #: set only for opaque types TFLite has and tinyml never computes on (string, complex64, resource, ...)
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind in (INT, UINT) and self.bits < 8 and 8 % self.bits:
            raise ValueError(f"{self.bits}-bit integers do not pack into bytes")

    # --- identity ---------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """int8, uint4, float32, bool, or an opaque type's label."""
        return self.label or (BOOL_KIND if self.kind == BOOL_KIND else f"{self.kind}{self.bits}")

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return self.name.upper()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            raise TypeError(f"an ElementType compared with the string {other!r}; compare with tinyml.ir.types.*")
        if not isinstance(other, ElementType):
            return NotImplemented
        return (self.kind, self.bits, self.label) == (other.kind, other.bits, other.label)

    def __hash__(self) -> int:
        return hash((self.kind, self.bits, self.label))

    # --- classification ---------------------------------------------------------------------------------------

    @property
    def is_int(self) -> bool:
        """A signed or unsigned integer (of any width)."""
        return self.kind in (INT, UINT)

    @property
    def is_float(self) -> bool:
        return self.kind == FLOAT

    @property
    def signed(self) -> bool:
        return self.kind in (INT, FLOAT)

    @property
    def sub_byte(self) -> bool:
        """Packed several to a byte (INT4, INT2, ...)."""
        return self.is_int and self.bits < 8

    # --- values -----------------------------------------------------------------------------------------------

    @property
    def min(self) -> int | float:
        """The smallest value (integers: -2^(bits-1) or 0; floats: the most negative finite value)."""
        if self.kind == INT:
            return -(1 << (self.bits - 1))
        if self.kind in (UINT, BOOL_KIND):
            return 0
        if self.kind == FLOAT:
            return float(np.finfo(self.np_dtype).min)
        raise TypeError(f"{self.name} has no value range")

    @property
    def max(self) -> int | float:
        """The largest value."""
        if self.kind == INT:
            return (1 << (self.bits - 1)) - 1
        if self.kind == UINT:
            return (1 << self.bits) - 1
        if self.kind == BOOL_KIND:
            return 1
        if self.kind == FLOAT:
            return float(np.finfo(self.np_dtype).max)
        raise TypeError(f"{self.name} has no value range")

    @property
    def range(self) -> tuple[int, int]:
        """(min, max) of an integer (or bool) type: what quantized values saturate to."""
        if not (self.is_int or self.kind == BOOL_KIND):
            raise TypeError(f"{self.name} is not an integer type")
        return int(self.min), int(self.max)

    @property
    def np_dtype(self) -> np.dtype:
        """The NumPy dtype holding one unpacked value (sub-byte integers: int8 or uint8)."""
        if self.kind == OPAQUE:
            return np.dtype(np.uint8)
        if self.kind == BOOL_KIND:
            return np.dtype(np.bool_)
        return np.dtype(f"{self.kind}{max(self.bits, 8)}")

    @property
    def c_type(self) -> str:
        """The C type of the generated code's pointers and arrays (sub-byte types: the packed bytes')."""
        if self.kind == FLOAT and self.bits == 32:
            return "float"
        if self.kind == BOOL_KIND or self.kind == OPAQUE:
            return "uint8_t"
        if self.is_int:
            return f"{'u' if self.kind == UINT else ''}int{max(self.bits, 8)}_t"
        raise TypeError(f"the generated code has no C type for {self.name}")

    @property
    def tm_type(self) -> str:
        """The runtime's tm_type tag (tm_model.h) of model inputs and outputs of this type."""
        tag = _TM_TYPES.get(self)
        if tag is None:
            raise TypeError(f"the runtime has no tm_type for {self.name} tensors")
        return tag

    # --- memory -----------------------------------------------------------------------------------------------

    @property
    def per_byte(self) -> int:
        """Values per byte: 8 // bits for sub-byte types, else 1."""
        return 8 // self.bits if self.sub_byte else 1

    def nbytes(self, count: int) -> int:
        """Bytes `count` values take in memory (sub-byte types packed, the last byte padded)."""
        if self.sub_byte:
            return -(-count // self.per_byte)
        return count * self.np_dtype.itemsize

    def pack(self, values: np.ndarray) -> np.ndarray:
        """Values (any shape, in range) as the bytes memory holds, flat: uint8 for sub-byte types, low bits first;
        other types as their own little-endian dtype."""
        flat = np.asarray(values).reshape(-1)
        if not self.sub_byte:
            return flat.astype(self.np_dtype.newbyteorder("<"))
        lo, hi = self.range
        if flat.size and (int(flat.min()) < lo or int(flat.max()) > hi):
            raise ValueError(f"values outside {self.name}'s range [{lo}, {hi}]")
        n = self.per_byte
        fields = np.zeros(self.nbytes(flat.size) * n, dtype=np.uint8)
        fields[: flat.size] = flat.astype(np.int64) & ((1 << self.bits) - 1)
        shifts = np.arange(n, dtype=np.uint8) * self.bits
        return np.bitwise_or.reduce(fields.reshape(-1, n) << shifts, axis=1).astype(np.uint8)

    def unpack(self, data: bytes | np.ndarray, count: int) -> np.ndarray:
        """The first `count` values of packed memory (bytes, or a uint8/int8 array), flat, in `np_dtype`."""
        raw = np.frombuffer(bytes(data), dtype=np.uint8) if isinstance(data, bytes | bytearray) else data
        raw = np.asarray(raw).reshape(-1)
        if not self.sub_byte:
            return raw.view(np.uint8).view(self.np_dtype.newbyteorder("<"))[:count].astype(self.np_dtype)
        n, mask = self.per_byte, (1 << self.bits) - 1
        if raw.size * n < count:
            raise ValueError(f"{raw.size} bytes hold {raw.size * n} {self.name} values, not {count}")
        shifts = np.arange(n, dtype=np.uint8) * self.bits
        fields = ((raw.view(np.uint8)[:, None] >> shifts) & mask).reshape(-1)[:count].astype(np.int16)
        if self.kind == INT:
            fields = np.where(fields > self.max, fields - (1 << self.bits), fields)
        return fields.astype(self.np_dtype)


INT8 = ElementType(INT, 8)
UINT8 = ElementType(UINT, 8)
INT16 = ElementType(INT, 16)
UINT16 = ElementType(UINT, 16)
INT32 = ElementType(INT, 32)
UINT32 = ElementType(UINT, 32)
INT64 = ElementType(INT, 64)
UINT64 = ElementType(UINT, 64)
FLOAT16 = ElementType(FLOAT, 16)
FLOAT32 = ElementType(FLOAT, 32)
FLOAT64 = ElementType(FLOAT, 64)
BOOL = ElementType(BOOL_KIND, 8)
INT4 = ElementType(INT, 4)
INT2 = ElementType(INT, 2)
UINT4 = ElementType(UINT, 4)
UINT2 = ElementType(UINT, 2)

#: every named type, by name
TYPES: dict[str, ElementType] = {
    t.name: t
    for t in (
        *(INT8, UINT8, INT16, UINT16, INT32, UINT32, INT64, UINT64),
        *(FLOAT16, FLOAT32, FLOAT64, BOOL, INT4, INT2, UINT4, UINT2),
    )
}

_TM_TYPES = {INT8: "TM_INT8", UINT8: "TM_UINT8", INT16: "TM_INT16", INT32: "TM_INT32", FLOAT32: "TM_FLOAT32"}


def opaque(label: str) -> ElementType:
    """A TFLite type tinyml stores but never computes on (string, complex64, resource, variant)."""
    return ElementType(OPAQUE, 8, label)


def element_type(name: str | ElementType) -> ElementType:
    """The type of this name (int8, float32, int4, ...); an ElementType is returned as is."""
    if isinstance(name, ElementType):
        return name
    t = TYPES.get(name)
    if t is None:
        raise ValueError(f"unknown element type {name!r} (known: {', '.join(TYPES)})")
    return t


def of_dtype(dtype: np.dtype | type) -> ElementType:
    """The element type NumPy arrays of this dtype hold (never a sub-byte one)."""
    return element_type(np.dtype(dtype).name)
