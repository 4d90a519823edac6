"""Sub-byte storage: int8 tensors that can only take 16 or 4 values are stored packed, 4 or 2 bits each.

Models stay standard int8 TFLite, so that TFLite Micro runs them and stays the oracle; what makes a tensor
sub-byte is its quantization and clamp (quantization-aware training gives such models: tinyml.quant.fakequant):

- **Activations.** The fused activation of the op that writes a tensor clamps it to [lo, hi] in the int8 domain
  (TFLite's CalculateActivationRangeQuantized). With a RELU6, scale 6/15 and zero point -128 that is -128 .. -113:
  16 levels; with scale 6/3, 4 levels. Such a tensor is stored as the unsigned code value - lo, in 4 bits (at most
  16 levels) or 2 (at most 4), 8/bits per byte, low bits first. Its type becomes UINT4 or UINT2 and its
  quantization the codes' own: zero point minus lo, `level` lo. Every kernel then computes on codes with
  TFLite's own arithmetic, shifted, and writes exactly TFLite's values (as codes); only average pooling, whose
  rounding depends on the values' sign, needs the level back.
- **Weights.** An int8 constant with zero point 0 whose values all lie in [-2, 1], not all zero, becomes INT2:
  four signed values per byte in flash. (A tensor of zeros, a dead layer, says nothing of 2 bits, and the int8
  kernels run its constant channels faster.)

Packing is a storage choice, so it is made only where it is free of any copy: a tensor is packed when the op
that writes it can write it packed (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, the pools) and every op
that reads it can read it packed, and it is not a model input or output (the caller reads and writes those
as int8). Views (RESHAPE, SQUEEZE, EXPAND_DIMS) and pools keep their input's packing: the tensors they join are
packed together or not at all. Anything else stays int8, its producer writing int8 directly: that costs no
memory beyond the int8 plan's, where an unpacking op would hold both copies at once. The portable kernels
(tinyml.kernels.portable.subbyte) read and write packed operands; the others refuse them, so the planner falls
back to the portable ones for those ops. Each choice is checked against the portable kernel, which may refuse
a variant by name (then the tensor stays int8).

Runs after `check_supported`: TFLite Micro's rules are checked on the model as it is, and packing changes only
how tensors are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from tinyml.ir.graph import Graph, Operator, Tensor
from tinyml.ir.types import INT2, INT8, UINT2, UINT4, ElementType
from tinyml.kernels import REGISTRY
from tinyml.ops import Unsupported
from tinyml.ops.requant import fused_range

#: ops whose kernels write a packed output, from the clamp of their fused activation
WRITERS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MAX_POOL_2D", "AVERAGE_POOL_2D")
#: ops whose kernels read packed inputs, at these input positions
READERS = {
    "CONV_2D": (0,),
    "DEPTHWISE_CONV_2D": (0,),
    "FULLY_CONNECTED": (0,),
    "ADD": (0, 1),
    "MAX_POOL_2D": (0,),
    "AVERAGE_POOL_2D": (0,),
}
#: ops whose output is packed exactly as their input 0 (views share the bytes; pools keep the quantization)
JOINS = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "MAX_POOL_2D", "AVERAGE_POOL_2D")
#: ops whose input 1 may be 2-bit weights
WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def packed_type(levels: int) -> ElementType | None:
    """The unsigned type that holds `levels` codes in fewer than 8 bits, or None."""
    if levels <= 4:
        return UINT2
    if levels <= 16:
        return UINT4
    return None


@dataclass
class Packing:
    """What the pass did: the tensors it packed, with their types, and the groups it left int8 and why."""

    activations: list[Tensor] = field(default_factory=list)
    weights: list[Tensor] = field(default_factory=list)
    #: (tensor name, reason) for each group of tensors on at most 16 levels that stayed int8
    kept: list[tuple[str, str]] = field(default_factory=list)

    @property
    def saved_flash(self) -> int:
        """Bytes of weights packing saves."""
        return sum(t.num_elements - t.nbytes for t in self.weights)


class _Groups:
    """Activations joined by views and pools: union-find over tensor ids."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, t: int) -> int:
        self.parent.setdefault(t, t)
        while self.parent[t] != t:
            self.parent[t] = self.parent[self.parent[t]]
            t = self.parent[t]
        return t

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def _uses(graph: Graph) -> dict[int, list[tuple[Operator, int]]]:
    uses: dict[int, list[tuple[Operator, int]]] = {}
    for op in graph.ops:
        for i, t in enumerate(op.inputs):
            if t is not None:
                uses.setdefault(id(t), []).append((op, i))
    return uses


def _accepted(ops: list[Operator]) -> str | None:
    """None when the portable kernel of every op runs it as it now is, else the first refusal."""
    for op in ops:
        try:
            REGISTRY[op.type].check(op)
        except Unsupported as e:
            return f"{op.label}: {e}"
    return None


def _pack_weights(graph: Graph, uses: dict[int, list[tuple[Operator, int]]], result: Packing) -> None:
    seen: set[int] = set()
    for op in graph.ops:
        if op.type not in WEIGHTED or len(op.inputs) < 2 or op.inputs[1] is None:
            continue
        w = op.input(1)
        if id(w) in seen or w.type != INT8 or w.data is None or w.quant is None or any(w.quant.zero_points):
            continue
        seen.add(id(w))
        if not w.data.any() or int(w.data.min()) < INT2.min or int(w.data.max()) > INT2.max:
            continue  # (weights that are all zero say nothing of 2 bits, and the int8 kernels fold such channels)
        readers = uses.get(id(w), [])
        if any(u.type not in WEIGHTED or i != 1 for u, i in readers):
            continue
        w.type = INT2
        refusal = _accepted([u for u, _ in readers])
        if refusal is None:
            result.weights.append(w)
        else:
            w.type = INT8
            result.kept.append((w.name, refusal))


def _range(op: Operator) -> tuple[int, int] | None:
    """The int8 values `op` can write: its fused clamp (None when it is not an op that writes packed)."""
    if op.type not in WRITERS:
        return None
    try:
        return fused_range(op)
    except Unsupported:
        return None


def pack_subbyte(graph: Graph) -> Packing:
    """Pack every activation on at most 16 levels and every weight tensor in [-2, 1] that can be (see above)."""
    result = Packing()
    uses = _uses(graph)
    _pack_weights(graph, uses, result)

    producer = {id(t): op for op in graph.ops for t in op.outputs}
    groups = _Groups()
    activations = [t for t in graph.activations()]
    for op in graph.ops:
        if op.type in JOINS and op.inputs and op.inputs[0] is not None and not op.inputs[0].is_const:
            groups.union(id(op.outputs[0]), id(op.input(0)))
    members: dict[int, list[Tensor]] = {}
    for t in activations:
        members.setdefault(groups.find(id(t)), []).append(t)
    boundary = {id(t) for t in [*graph.inputs, *graph.outputs]}

    for group in members.values():
        # the tensor the group starts from: the one not written by a join of the group
        roots = [t for t in group if id(t) in producer and producer[id(t)].type not in JOINS]
        if len(roots) != 1:
            continue
        root = roots[0]
        span = _range(producer[id(root)])
        if span is None or root.type != INT8 or root.quant is None or root.quant.per_channel:
            continue
        packed = packed_type(span[1] - span[0] + 1)
        if packed is None:
            continue
        name = root.name
        reason = _unpackable(group, root, uses, boundary)
        if reason is not None:
            result.kept.append((name, reason))
            continue
        lo = span[0]
        before = [(t.type, t.quant) for t in group]
        for t in group:
            q = t.quant
            assert q is not None
            t.type = packed
            t.quant = replace(q, zero_points=(q.zero_point - lo,), level=lo)
        touched = {id(op): op for t in group for op, _ in uses.get(id(t), [])}
        touched.update({id(producer[id(t)]): producer[id(t)] for t in group})
        refusal = _accepted(list(touched.values()))
        if refusal is None:
            result.activations.extend(group)
        else:
            for t, (typ, q) in zip(group, before, strict=True):
                t.type, t.quant = typ, q
            result.kept.append((name, refusal))
    return result


def _unpackable(
    group: list[Tensor], root: Tensor, uses: dict[int, list[tuple[Operator, int]]], boundary: set[int]
) -> str | None:
    """Why this group of tensors cannot be stored packed without a copy, or None when it can."""
    q = root.quant
    for t in group:
        if id(t) in boundary:
            return f"tensor {t.name!r} is a model input or output (kept int8 for the caller)"
        if t.type != INT8 or t.quant is None or (t.quant.scales, t.quant.zero_points) != (q.scales, q.zero_points):
            return f"tensor {t.name!r} is not quantized as {root.name!r}"
        for op, i in uses.get(id(t), []):
            if op.type in JOINS and i == 0:
                continue
            if i not in READERS.get(op.type, ()):
                return f"{op.label} reads tensor {t.name!r} and has no kernel for packed inputs"
    return None


def unpacked_marks(graph: Graph, marks: Mapping[int, int]) -> list[str]:
    """Why each tensor the model's tinyml metadata marks as fewer than 8 bits (by its index in the model file:
    `tinyml quantize` records the bits it trained for) is stored int8 after all, one line each: packing follows
    the clamps and values, which prove what TFLite computes, not the marks. Model inputs and outputs are skipped:
    they stay int8 by design."""
    boundary = {id(t) for t in [*graph.inputs, *graph.outputs]}
    uses = _uses(graph)
    producer = {id(t): op for op in graph.ops for t in op.outputs}
    lines = []
    for t in graph.tensors():
        bits = marks.get(t.index, 8)
        if bits >= 8 or t.type.bits <= bits or id(t) in boundary or t.type.sub_byte:
            continue
        if t.is_const:
            why = f"its values span {int(t.data.min())}..{int(t.data.max())}" if t.data is not None else "unknown"
        else:
            op = producer.get(id(t))
            span = None if op is None else _range(op)
            readers = [u for u, i in uses.get(id(t), []) if i not in READERS.get(u.type, ()) and u.type not in JOINS]
            if op is None or op.type not in WRITERS:
                why = f"{op.label if op else 'no op'} writes it and has no kernel for packed outputs"
            elif span is not None and span[1] - span[0] + 1 > 1 << bits:
                why = f"the clamp of {op.label} allows {span[1] - span[0] + 1} levels"
            elif readers:
                why = f"{readers[0].label} reads it and has no kernel for packed inputs"
            else:
                why = "a tensor it is packed with cannot be"
        lines.append(f"tensor {t.name!r} is marked {bits}-bit in the model's tinyml metadata but stays int8: {why}")
    return lines
