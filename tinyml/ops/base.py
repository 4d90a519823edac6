"""What an operator IS, apart from any kernel that runs it: the `OpDef` interface and its registry.

One definition per TFLite operator type (and per operator tinyml makes itself)
answers every question about an op that does not depend on how a C kernel
computes it: its typed attributes, the role of each input, which variants are
meaningful (`validate`), the shapes of its outputs, its multiply-accumulates,
its sliding window and receptive field, and what it computes (`reference`,
NumPy, bit-exact with TFLite Micro). Kernels (`tinyml.kernels`) answer only
how they run a valid op; patch planning, the report and the reference
interpreter ask the definitions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from tinyml.ir.graph import Operator, Quantization, Tensor
from tinyml.ir.types import INT2, INT4, INT8, INT32, ElementType
from tinyml.ops.window import Region, Window

#: a definition's input arrays, in the order of `op.inputs` (None for an absent optional input)
Arrays = list[np.ndarray | None]


class Unsupported(Exception):
    """An op variant that cannot be compiled; the message names the variant (and, from a kernel, the kernel)."""


class Role(enum.Enum):
    """What an operator input is, which decides how kernels, the planner and the report treat it."""

    #: a feature map or other data flowing through the network (activations, or a constant operand of ADD)
    FEATURE = "input"
    #: learned weights: a filter, a fully connected matrix (counted as weights in the report)
    WEIGHTS = "weights"
    #: a bias added to the accumulator
    BIAS = "bias"
    #: an operand that parameterises the op: a shape, paddings, axes, a pad value
    PARAM = "parameter"
    #: a variable tensor a stateful op reads and updates, carried from one inference to the next (SVDF, LSTM)
    STATE = "state"


@dataclass(frozen=True)
class NoAttrs:
    """The attributes of an op that has none."""

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> NoAttrs:
        return cls()


@dataclass(frozen=True)
class FusedActivation:
    """Attributes of ops whose only option is a fused activation (ADD, MUL)."""

    #: TFLite's ActivationFunctionType name: NONE, RELU, RELU6, RELU_N1_TO_1 (others are refused by validate)
    activation: str = "NONE"

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> FusedActivation:
        return cls(activation=str(options.get("activation", "NONE")))


#: the types weights may have: int8, and the sub-byte ints whose values a definition computes with unpacked
#: (TFLite's INT4 weights; issue 11's INT2)
WEIGHT_TYPES = (INT8, INT4, INT2)

#: the fused activations TFLite Micro's int8 kernels implement
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


class OpDef:
    """The definition of one or more operator types (subclasses register with `@define`).

    Methods take the op and read its typed `attrs` (an instance of `attrs_type`,
    made once at load by `parse_attrs`). Every method may assume `validate`
    passed, except `validate` itself and `parse_attrs`.
    """

    op_types: ClassVar[tuple[str, ...]] = ()
    #: the frozen dataclass of this family's attributes, built by its `from_options(raw dict)`
    attrs_type: ClassVar[Any] = NoAttrs
    #: the role of each input position; the last one repeats for ops with any number of inputs
    input_roles: ClassVar[tuple[Role, ...]] = (Role.FEATURE,)
    #: whether the last role repeats (CONCATENATION)
    variadic: ClassVar[bool] = False
    #: the axis of the WEIGHTS input that indexes output channels (conv-like ops), else None
    weights_channel_axis: ClassVar[int | None] = None
    #: the element types its data (feature inputs and outputs) may have; the check pass holds every op that
    #: `validate` lets through to them as well, so the compiler takes no type that `tinyml ops` does not list
    types: ClassVar[tuple[ElementType, ...]] = (INT8,)
    #: the element types of its WEIGHTS inputs (none for ops without weights)
    weight_types: ClassVar[tuple[ElementType, ...]] = ()

    def parse_attrs(self, options: dict[str, Any]) -> Any:
        """Typed attributes from the frontend's raw option dict (snake_case keys, enum names as strings)."""
        return self.attrs_type.from_options(options)

    def roles(self, op: Operator) -> tuple[Role, ...]:
        """One role per position of `op.inputs`."""
        n = len(op.inputs)
        roles = self.input_roles[:n]
        if len(roles) < n:
            roles += (self.input_roles[-1] if self.variadic else Role.PARAM,) * (n - len(roles))
        return roles

    def role_of(self, op: Operator, t: Tensor) -> Role:
        """The role `t` plays as an input of `op` (the first position it appears at)."""
        for tensor, role in zip(op.inputs, self.roles(op), strict=True):
            if tensor is t:
                return role
        raise ValueError(f"{t.name!r} is not an input of {op.label}")

    def inputs_with(self, op: Operator, role: Role) -> list[Tensor]:
        """The present inputs of `op` that play `role`."""
        return [t for t, r in zip(op.inputs, self.roles(op), strict=True) if r is role and t is not None]

    def check_types(self, op: Operator) -> None:
        """Refuse a data tensor whose type is not one of `types`, and weights not of `weight_types`."""
        named = [(t, r) for t, r in zip(op.inputs, self.roles(op), strict=True) if r in (Role.FEATURE, Role.WEIGHTS)]
        for t, role in [*named, *((t, Role.FEATURE) for t in op.outputs)]:
            allowed = self.weight_types if role is Role.WEIGHTS else self.types
            if t is not None and t.type not in allowed:
                what = "weights" if role is Role.WEIGHTS else "data"
                names = " or ".join(map(str, allowed))
                raise Unsupported(f"tensor {t.name!r} is {t.type}; {op.type} takes {names} {what}")

    def validate(self, op: Operator) -> None:
        """Raise `Unsupported` naming the variant no kernel can run: types, shapes, attributes.

        The default checks that the output shapes follow from the inputs.
        """
        self.check_shapes(op)

    def check_shapes(self, op: Operator) -> None:
        """Refuse output shapes that do not follow from the inputs and attributes."""
        shapes = self.infer_shapes(op)
        for t, shape in zip(op.outputs, shapes, strict=True):
            if tuple(t.shape) != tuple(shape):
                raise Unsupported(f"output shape {t.shape} does not follow from the inputs (expected {shape})")

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        """The output shapes the inputs and attributes imply; raises `Unsupported` when they imply none."""
        return [tuple(op.input(0).shape)]

    def macs(self, op: Operator) -> int:
        """Multiply-accumulates per inference (0 for data movement)."""
        return 0

    def window(self, op: Operator) -> Window | None:
        """The sliding window of a windowed op (convolutions, pools), padding resolved; None for the others."""
        return None

    def patchable(self, op: Operator) -> bool:
        """Whether a patch stage may run this op on spatial tiles: every output pixel depends on a bounded
        region of each feature input, which `receptive_field` gives. Elementwise ops and windowed ops on one
        NHWC image qualify."""
        return False

    def receptive_field(self, op: Operator, out_region: Region, input_index: int) -> Region:
        """The region of input `input_index` that computing `out_region` of the output reads, clipped to the
        input (only for `patchable` ops)."""
        raise NotImplementedError(f"{op.type} has no spatial receptive field")

    def patch_attrs(self, op: Operator, out_region: Region, in_region: Region) -> Any:
        """The attributes of a patch's copy of the op, which computes `out_region` of the output from `in_region`
        of input 0 (regions of the whole maps; only for `patchable` ops without a window): the op's own, unless
        its arithmetic depends on where the tile lies (a resize's coordinate tables)."""
        return op.attrs

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """What the op computes, as TFLite Micro computes it, bit for bit: one array per output, of its
        tensor's type and shape. `inputs` are the input arrays in `op.inputs` order (a constant's data, None
        for an absent optional input); a stateful op updates the arrays of its STATE inputs in place, which the
        caller keeps for the next inference."""
        raise NotImplementedError(f"{op.type} has no reference implementation")


#: op type -> its definition
DEFINITIONS: dict[str, OpDef] = {}


def define(cls: type[OpDef]) -> type[OpDef]:
    """Class decorator: register a definition for its op types."""
    instance = cls()
    for t in cls.op_types:
        DEFINITIONS[t] = instance
    return cls


def definition(op: Operator) -> OpDef:
    """The definition of `op`'s type (which `passes.check` made sure exists)."""
    d = DEFINITIONS.get(op.type)
    if d is None:
        raise Unsupported(f"operator {op.type} is not supported")
    return d


def parse_attrs(op_type: str, options: dict[str, Any]) -> Any:
    """The typed attributes of an op of this type, or the raw options when no definition has it (an op the
    optimiser folds away, or one the check pass refuses)."""
    d = DEFINITIONS.get(op_type)
    return options if d is None else d.parse_attrs(options)


# --- helpers shared by the definitions ---


def quant(t: Tensor) -> Quantization:
    """A tensor's quantization, which every quantized operand of a valid op has."""
    if t.quant is None:
        raise ValueError(f"tensor {t.name!r} is not quantized")
    return t.quant


def array(inputs: Arrays, i: int) -> np.ndarray:
    """The i-th input array, which must be present."""
    x = inputs[i] if i < len(inputs) else None
    if x is None:
        raise ValueError(f"input {i} is missing")
    return x


def require_arity(op: Operator, low: int, high: int | None = None) -> None:
    """Refuse ops with fewer than `low` (or more than `high`) inputs, or without an output."""
    n = len(op.inputs)
    high = low if high is None else high
    if not low <= n <= high or not op.outputs:
        want = f"{low}" if low == high else f"{low} to {high}"
        raise Unsupported(f"{n} inputs and {len(op.outputs)} outputs ({want} inputs and an output expected)")
    for i in range(low):
        if op.inputs[i] is None:
            raise Unsupported(f"input {i} is absent")


def require_quantized(*tensors: Tensor | None, types: tuple[ElementType, ...] = (INT8,)) -> None:
    """Every present tensor is quantized, with one of `types`; refused by name otherwise."""
    for t in tensors:
        if t is None:
            continue
        if t.type not in types or t.quant is None:
            what = f"{t.type}{'' if t.quant else ' (not quantized)'}"
            raise Unsupported(f"tensor {t.name!r} is {what}; {' or '.join(map(str, types))} expected")


def require_per_tensor(*tensors: Tensor) -> None:
    for t in tensors:
        if t.quant is not None and t.quant.per_channel:
            raise Unsupported(f"tensor {t.name!r} is quantized per channel; per-tensor expected")


def require_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise Unsupported(f"fused activation {activation}")
    return activation


def require_constant(t: Tensor | None, what: str) -> None:
    if t is not None and t.data is None:
        raise Unsupported(f"{what} computed at run time")


def const_ints(t: Tensor, what: str, types: tuple[ElementType, ...] = (INT32,)) -> np.ndarray:
    """A constant integer operand (paddings, axes), which TFLite Micro reads at prepare time."""
    if t.data is None:
        raise Unsupported(f"{what} computed at run time")
    if t.type not in types:
        raise Unsupported(f"{what} of type {t.type}; {' or '.join(map(str, types))} expected")
    return t.data


def window_of(op: Operator) -> Window:
    """The window of a windowed op (convolutions, pools): what kernels of those ops read their geometry from."""
    w = definition(op).window(op)
    if w is None:
        raise ValueError(f"{op.label} has no sliding window")
    return w
