"""4-bit weights from an int8 TFLite model alone (`tinyml quantize MODEL_int8.tflite -o OUT.tflite --bits w4a8`).

Many models are published only as int8 files (the MLPerf Tiny ones among them), so their float weights are gone and
neither post-training quantization nor quantization-aware training can start from them. The int8 weights still hold
the float weights to 8 bits, so the 4-bit ones are derived from them: each CONV_2D, DEPTHWISE_CONV_2D and
FULLY_CONNECTED weight tensor becomes a TFLite INT4 tensor (two values per byte, low nibble first, values -7..7,
zero point 0), per output channel where the int8 tensor was (FULLY_CONNECTED always per tensor: TFLite Micro takes
only per-tensor int4 there), and its int32 bias is rescaled to the new bias scale, input scale x weight scale.
Activations, their scales and every other byte of the model stay as they were.

Two choices go beyond the plain requantization (scale s4 = max|q8| * s8 / 7, values rounded to nearest):

- The scale: among max|w| / 7 * k / 32 (k = 16 .. 32), and s8 itself where the int8 values already fit in -7..7
  (they then stay exact), the one that reconstructs the int8 weights with the least squared error. Clipping the few
  largest values shrinks the step of all the others: on the MLPerf Tiny AD model the weights' RMS error falls from
  4.2 to 2.7 int8 steps.
- The rounding (`_round`): each output channel's sum of weights is kept within half a 4-bit step. The inputs of a
  layer share an offset (AD's first layer reads log-mel dB values around -28; a ReLU's outputs are all >= 0), and
  that offset multiplies the error of the channel's sum: rounded to nearest, 640 weights can leave it several steps
  off, which shifts the output as a whole. With clipping this matters even more, since clipped values all err the
  same way.

Measured on AD's real sample (196 vectors; the AD score, the mean squared error of the output against the input,
through TFLite Micro): int8 10.26; plain 39.37; kept sums alone 34.77; least-error scale alone 91.62 (clipping
without kept sums); both (the default) 19.70. `rule="max", sums=False` gives the plain requantization, kept for such
comparisons.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyml import __version__
from tinyml.errors import BudgetExceededError, UnsupportedModelError, UsageError
from tinyml.quant import metadata
from tinyml.quant.flatbuf import read_model, write_model
from tinyml.quant.footprint import MemoryModel

if TYPE_CHECKING:
    from tinyml.ir.graph import Graph
    from tinyml.quant.search import Assignment

#: TFLite's BuiltinOperator numbers of the layers with weights, by name
WEIGHTED = {3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 9: "FULLY_CONNECTED"}
#: TFLite's TensorType numbers
_INT32, _INT8, _INT4 = 2, 9, 17
#: the scale rules: "mse" (the default, see the module docstring) and "max" (m * s8 / 7)
RULES = ("mse", "max")
#: the fractions of m * s8 / 7 the "mse" rule tries, k / 32 for k = 16 .. 32
_FRACTIONS = np.arange(16, 33) / 32
_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Layer:
    """One weighted operator of the model, and what requantization does with it."""

    #: the operator's position in the file's graph
    op: int
    type: str
    #: its weight tensor's name (with the op's position when another layer's weights have that name) and index
    name: str
    weights: int
    #: the weight bytes in flash as the file holds them, and once packed at 4 bits (equal when it cannot take them)
    int8_bytes: int
    int4_bytes: int
    #: 4 when it can take INT4 weights; 8 with `why` it cannot
    bits: int
    why: str = ""
    #: per output channel (else per tensor) at 4 bits
    per_channel: bool = False


@dataclass
class Requantized:
    """The requantized model, its "tinyml" metadata entry, and each weighted layer's outcome."""

    raw: bytes
    metadata: dict[str, Any]
    layers: list[Layer]
    #: the op positions given 4-bit weights
    converted: list[int] = field(default_factory=list)
    #: per converted op: the RMS error of its 4-bit weights against the int8 ones, in int8 steps
    error: dict[int, float] = field(default_factory=dict)


def read_int8(path: Path) -> bytes:
    """The bytes of the int8 model at `path`, after tinyml's front end accepted it: a float model is refused (it
    has no int8 weights to start from), a missing or damaged file with the front end's own message."""
    from tinyml.frontend import load_model
    from tinyml.frontend.detect import FLOAT_KINDS, float_model_kind

    found = float_model_kind(path)
    if found is not None:
        raise UsageError(
            f"{path}: is a {FLOAT_KINDS[found[0]]}; --bits without --qat requantizes the weights of an int8 model to "
            "4 bits, and this one has float weights",
            "train it at 4 bits: --qat --train DATA --bits w4a8, or quantize it to int8 first "
            "(tinyml quantize MODEL -o int8.tflite --calib DATA) and requantize that file",
        )
    load_model(path)  # a missing, damaged or foreign file: the front end's message and status
    return path.read_bytes()


def layers_of(raw: bytes) -> list[Layer]:
    """Every CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED of the model, with whether its weights can go to 4 bits
    (int8 constant weights with zero point 0 between int8 activations, not shared with another operator)."""
    model = read_model(raw)
    sub = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    uses: dict[int, int] = {}
    for op in sub.operators:
        for i in op.inputs:
            uses[int(i)] = uses.get(int(i), 0) + 1
    found: list[Layer] = []
    for position, op in enumerate(sub.operators):
        kind = WEIGHTED.get(codes[op.opcodeIndex])
        if kind is None:
            continue
        w = int(op.inputs[1])
        t = sub.tensors[w]
        count = int(np.prod(t.shape)) if t.shape is not None else 0
        name = (t.name.decode(errors="replace") if isinstance(t.name, bytes) else t.name) or f"tensor {w}"
        if any(x.name == name for x in found):
            name = f"{name} (op {position})"
        why = _refusal(model, op, kind, uses)
        nbytes = count if t.type == _INT8 else (count + 1) // 2
        packed = (count + 1) // 2 if not why else nbytes
        q = t.quantization
        per_channel = kind != "FULLY_CONNECTED" and q is not None and q.scale is not None and len(q.scale) > 1
        found.append(Layer(position, kind, name, w, nbytes, packed, 8 if why else 4, why, per_channel and not why))
    return found


def _refusal(model: Any, op: Any, kind: str, uses: dict[int, int]) -> str:
    """Why this operator's weights cannot go to 4 bits, or "" when they can."""
    sub = model.subgraphs[0]
    t = sub.tensors[int(op.inputs[1])]
    data = model.buffers[t.buffer].data if t.buffer else None
    if t.type == _INT4:
        return "its weights are 4-bit already"
    if t.type != _INT8 or data is None:
        return "its weights are not constant int8 tensors"
    if sub.tensors[int(op.inputs[0])].type != _INT8 or sub.tensors[int(op.outputs[0])].type != _INT8:
        return "its activations are not int8 (TFLite Micro takes 4-bit weights only between int8 activations)"
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0 or np.any(np.asarray(q.zeroPoint) != 0):
        return "its weights are not symmetrically quantized (zero point 0)"
    axis = _output_axis(kind)
    if len(q.scale) > 1 and (int(q.quantizedDimension) != axis or len(q.scale) != int(t.shape[axis])):
        return "its int8 scales are not one per output channel"
    bias = int(op.inputs[2]) if len(op.inputs) > 2 else -1
    if bias >= 0 and sub.tensors[bias].type != _INT32:
        return "its bias is not int32"
    if uses.get(int(op.inputs[1]), 0) > 1 or (bias >= 0 and uses.get(bias, 0) > 1):
        return "its weights or bias are shared with another operator"
    return ""


def requantize(
    raw: bytes,
    source: Path,
    *,
    only: set[int] | None = None,
    rule: str = "mse",
    sums: bool = True,
    extra: dict[str, Any] | None = None,
) -> Requantized:
    """The int8 model `raw` (read from `source`) with 4-bit weights in every layer that can take them, or in the
    layers at the op positions `only`; its metadata entry records each layer's bits, and `extra`'s fields (the
    "mixed" entry of a choice under budgets). `rule="max", sums=False` is the plain requantization (the scale
    max|q8| * s8 / 7, values rounded to nearest), kept to measure what the defaults gain."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}")
    layers = layers_of(raw)
    chosen = [x for x in layers if x.bits == 4 and (only is None or x.op in only)]
    if not any(x.bits == 4 for x in layers):
        counts: dict[tuple[str, str], int] = {}
        for x in layers:
            counts[(x.type, x.why)] = counts.get((x.type, x.why), 0) + 1
        reasons = "; ".join(f"{kind} x{n}: {why}" for (kind, why), n in counts.items())
        raise UnsupportedModelError(
            f"{source}: has no convolution, depthwise convolution or fully connected layer with int8 weights to "
            f"requantize" + (f" ({reasons})" if reasons else ""),
            "compile it as it is: tinyml compile MODEL --board BOARD -o DIR",
        )
    model = read_model(raw)
    sub = model.subgraphs[0]
    owners: dict[int, int] = {}
    for t in sub.tensors:
        owners[t.buffer] = owners.get(t.buffer, 0) + 1
    errors = {}
    for layer in chosen:
        errors[layer.op] = _requantize_op(model, sub.operators[layer.op], layer, rule, sums, owners)
    out = write_model(model)
    entry = metadata.describe(
        out,
        source={"file": source.name, "kind": "tflite-int8", "sha256": hashlib.sha256(raw).hexdigest()},
        calibration=None,
        options={"bits": "w4a8", "scale_rule": rule, "keep_row_sums": sums},
        converter=f"tinyml {__version__} (int8 weights requantized)",
        method="requant",
        extra={
            "requant": {
                "layers": {
                    x.name: {
                        "op": x.op,
                        "type": x.type,
                        "weights": 4 if x in chosen else 8,
                        "why": "4 bits" if x in chosen else f"8 bits: {x.why}" if x.why else "8 bits: not chosen",
                        "per_channel": x.per_channel if x in chosen else None,
                        "int8_bytes": x.int8_bytes,
                        "bytes": x.int4_bytes if x in chosen else x.int8_bytes,
                        "rms_error_int8_steps": round(errors[x.op], 4) if x in chosen else None,
                    }
                    for x in layers
                },
            },
            **(extra or {}),
        },
    )
    return Requantized(metadata.attach(out, entry), entry, layers, [x.op for x in chosen], errors)


def _requantize_op(model: Any, op: Any, layer: Layer, rule: str, sums: bool, owners: dict[int, int]) -> float:
    """Give `op` 4-bit weights and the bias that goes with them, in place; the RMS error of the new weights against
    the int8 ones, in int8 steps."""
    sub = model.subgraphs[0]
    t = sub.tensors[layer.weights]
    q8 = np.frombuffer(model.buffers[t.buffer].data.tobytes(), dtype=np.int8).reshape(t.shape)
    axis = _output_axis(layer.type)
    channels = np.moveaxis(q8, axis, 0)
    s8 = np.broadcast_to(np.asarray(t.quantization.scale, dtype=np.float64), channels.shape[:1])
    real = channels.reshape(len(s8), -1) * s8[:, None]  # the weights the int8 tensor stands for, by output channel
    if layer.per_channel:
        s4 = _scales(real, s8, s8, rule)
    else:
        single = len(t.quantization.scale) == 1
        exact = s8[:1] if single else None
        s4 = np.broadcast_to(_scales(real.reshape(1, -1), exact, s8.max(keepdims=True), rule), s8.shape)
    q4 = _round(real / s4[:, None]) if sums else np.clip(np.round(real / s4[:, None]), -7, 7)
    error = float(np.sqrt(np.mean((q4 * s4[:, None] / s8[:, None] - channels.reshape(len(s8), -1)) ** 2)))
    values = np.moveaxis(q4.reshape(channels.shape), 0, axis).astype(np.int8)
    if owners.get(t.buffer, 0) > 1:  # another tensor reads this buffer: the weights get their own
        model.buffers.append(_schema().BufferT())
        t.buffer = len(model.buffers) - 1
    model.buffers[t.buffer].data = _pack(values.reshape(-1))
    stored = s4 if layer.per_channel else s4[:1]
    t.type = _INT4
    t.quantization.scale = stored.astype(np.float32)
    t.quantization.zeroPoint = np.zeros(len(stored), dtype=np.int64)
    t.quantization.quantizedDimension = axis if layer.per_channel else 0
    bias = int(op.inputs[2]) if len(op.inputs) > 2 else -1
    if bias >= 0:
        input_scale = float(sub.tensors[int(op.inputs[0])].quantization.scale[0])
        _rescale_bias(model, sub.tensors[bias], s8, s4, stored * input_scale, layer)
    return error


def _output_axis(kind: str) -> int:
    """The axis of the output channels in a weight tensor: OHWI for CONV_2D and FULLY_CONNECTED's OI, 1HWO for
    DEPTHWISE_CONV_2D."""
    return 3 if kind == "DEPTHWISE_CONV_2D" else 0


def _round(x: np.ndarray) -> np.ndarray:
    """Each row of `x` (one output channel's weights, in 4-bit steps) rounded to -7..7 so that the row's sum stays
    within half a step of the exact one: to nearest, then the values nearest the rounding boundary moved one step
    the other way until the sum of what rounding removed is below half a step. The inputs these weights multiply
    share an offset (a zero point, a ReLU's positive mean), which multiplies each row's sum: rounding to nearest
    alone can bias an output by many steps, where this bounds that bias by half a step times the offset."""
    q = np.clip(np.round(x), -7, 7)
    for row, (values, wanted) in enumerate(zip(q, x, strict=True)):
        left = wanted - values
        need = int(np.round(left.sum()))
        if need == 0:
            continue
        step = 1 if need > 0 else -1
        room = values < 7 if step > 0 else values > -7
        order = np.argsort(-left * step)  # the values rounded furthest the other way first
        order = order[room[order]][: abs(need)]
        q[row, order] += step
    return q


def _scales(real: np.ndarray, exact: np.ndarray | None, idle: np.ndarray, rule: str) -> np.ndarray:
    """Each row's 4-bit scale (float32 values, as the file stores them): see the module docstring. `exact` gives
    each row's int8 scale when the row shares one, which keeps a row within -7..7 exactly; a row of zeros keeps the
    scale `idle` (its int8 one), so that its bias keeps its precision."""
    top = np.abs(real).max(axis=1)
    base = np.where(top > 0, top / 7, idle)
    if rule == "max":
        return base.astype(np.float32).astype(np.float64)
    candidates = [base * f for f in _FRACTIONS]
    if exact is not None:
        candidates.append(np.broadcast_to(exact, base.shape))
    best, best_error = base, np.full(base.shape, np.inf)
    for c in candidates:
        c = np.asarray(c, dtype=np.float32).astype(np.float64)
        err = ((np.clip(np.round(real / c[:, None]), -7, 7) * c[:, None] - real) ** 2).sum(axis=1)
        better = err < best_error
        best, best_error = np.where(better, c, best), np.where(better, err, best_error)
    return best


def _rescale_bias(model: Any, bias: Any, s8: np.ndarray, s4: np.ndarray, scale: np.ndarray, layer: Layer) -> None:
    """The int32 bias at the new bias scale `scale` (input scale x 4-bit weight scale): b4 = round(b8 * s8 / s4),
    per output channel."""
    b8 = np.frombuffer(model.buffers[bias.buffer].data.tobytes(), dtype=np.int32).astype(np.float64)
    b4 = np.round(b8 * s8 / s4)
    if np.any(np.abs(b4) > _INT32_MAX):
        raise UnsupportedModelError(
            f"{layer.type} op {layer.op} ({layer.name}): its bias does not fit int32 at the 4-bit weights' scale",
            "compile the int8 model as it is: tinyml compile MODEL --board BOARD -o DIR",
        )
    model.buffers[bias.buffer].data = b4.astype("<i4").view(np.uint8)
    bias.quantization.scale = scale.astype(np.float32)
    bias.quantization.zeroPoint = np.zeros(len(scale), dtype=np.int64)


def _pack(values: np.ndarray) -> np.ndarray:
    """Signed 4-bit values two per byte, the first in the low nibble (TFLite's INT4 buffers)."""
    nibbles = (values.astype(np.int16) & 0x0F).astype(np.uint8)
    if len(nibbles) % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8)


def _schema() -> Any:
    import ai_edge_litert.schema_py_generated as fb

    return fb


# --- which layers, under a board's budgets (Rusci et al.'s rule, weights only) ------------------------------------


@dataclass
class LayerChoice:
    """The layers Rusci's rule gives 4-bit weights to fit a board, and what that needs."""

    #: the op positions to requantize
    ops: set[int]
    choice: Any
    memory: Any
    #: the "mixed" metadata entry, as `tinyml report` reads it
    entry: dict[str, Any]


def choose_layers(raw: bytes, source: Path, mixed: Any) -> LayerChoice:
    """The layers whose weights go to 4 bits so that the model fits `mixed`'s board and budgets (a
    quant.mixed.MixedOptions with rule "rusci"): Rusci et al.'s rule over flash (the layer holding the largest share
    of the weights first), each candidate priced by tinyml's planner and report on the requantized file itself.
    Activations keep their bits: an int8 model without its float weights has no ranges to give them fewer."""
    from tinyml import pipeline
    from tinyml.plan import PlanOptions
    from tinyml.quant.mixed import savings
    from tinyml.quant.search import WEIGHTS, Knob, budget_name, choose, uniform

    board = pipeline.target(mixed.board)
    backend = pipeline.backend_for(board, pipeline.CompileOptions(kernels=mixed.kernels))
    layers = [x for x in layers_of(raw) if x.bits == 4]
    if not layers:
        requantize(raw, source)  # raises the error that names why no layer can take 4-bit weights
    graph = pipeline.load(source)
    by_index = {op.index: op for op in graph.ops}
    names = {x.name: x for x in layers if x.op in by_index}
    knobs = [Knob(name, WEIGHTS, (8, 4)) for name in names]
    memory = _RequantizedMemory(
        raw,
        source,
        {name: x.op for name, x in names.items()},
        graph,
        {name: by_index[x.op] for name, x in names.items()},
        knobs,
        board,
        backend,
        PlanOptions(sram_budget=mixed.sram_budget),
        mixed.flash_budget,
    )
    lowest = memory.footprint(uniform(knobs, lambda k: 4))
    if not lowest.fits:
        which = "sram" if lowest.sram_over else "flash"
        needs = lowest.sram_bytes if which == "sram" else lowest.flash_bytes
        over = lowest.sram_over if which == "sram" else lowest.flash_over
        raise BudgetExceededError(
            f"{source.name} does not fit {budget_name(lowest, which)} even with 4-bit weights in every layer that "
            f"takes them: it needs {needs:,} bytes of {'SRAM' if which == 'sram' else 'flash'}, {over:,} over"
            + ("; 4-bit weights leave the activations' SRAM as it is" if which == "sram" else ""),
            f"raise --{which}-budget to at least {needs:,} bytes, or use a board with more "
            f"{'RAM' if which == 'sram' else 'flash'}",
        )
    choice = choose(memory, "rusci", None, source.name)
    ops = {names[name].op for name, (w, _) in choice.assignment.items() if w == 4}
    saved = savings(memory, choice)
    entry = {
        "rule": "rusci",
        "options": {**mixed.as_dict(), "weights_only": True},
        "board": board.name,
        "kernels": backend.name,
        "budgets": {which: _budget(choice.footprint, which) for which in ("sram", "flash")},
        "int8": _figures(choice.int8),
        "chosen": _figures(choice.footprint),
        "layers": {
            name: {
                "op": names[name].op,
                "weights": w,
                "activations": a,
                "why": {k: why for (layer, k), why in choice.reasons.items() if layer == name},
                "saved": saved[name],
            }
            for name, (w, a) in choice.assignment.items()
        },
        "cost": None,
        "sensitivity": None,
        "evaluations": memory.evaluations,
    }
    return LayerChoice(ops, choice, memory, entry)


def _figures(fp: Any) -> dict[str, int]:
    return {"sram_bytes": fp.sram_bytes, "flash_bytes": fp.flash_bytes, "weights_bytes": fp.weights_bytes}


def _budget(fp: Any, which: str) -> dict[str, Any] | None:
    entry = fp.report["budget"][which]
    return None if entry is None else {"limit_bytes": entry["limit_bytes"], "source": entry["source"]}


class _RequantizedMemory(MemoryModel):
    """The memory model of an int8 file whose assignments are that file requantized: each candidate's graph is
    what tinyml loads from the bytes `requantize` writes for it, so its price is the written file's."""

    def __init__(self, raw: bytes, source: Path, ops: dict[str, int], *args: Any) -> None:
        super().__init__(*args)
        self.raw, self.source, self.file_ops = raw, source, ops

    def graph_for(self, assignment: Assignment) -> Graph:
        import tempfile

        from tinyml import pipeline

        only = {self.file_ops[name] for name, (w, _) in assignment.items() if w == 4}
        data = requantize(self.raw, self.source, only=only).raw if only else self.raw
        with tempfile.TemporaryDirectory(prefix="tinyml-requant-") as tmp:
            path = Path(tmp) / self.source.name
            path.write_bytes(data)
            return pipeline.load(path)
