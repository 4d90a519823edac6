"""Mixed precision under memory budgets, end to end: a float Keras model, calibration data and a board (or budgets)
in; a standard TFLite file out whose layers hold 8-, 4- or 2-bit weights and activations, chosen so that the
model fits the board's SRAM and flash with the least accuracy lost.

The stages:

  1. The model is carried into tf-keras (carry.py) and fake-quantized at 8 bits everywhere, its ranges set by the
     calibration data, and converted once (fakequant.calibrated, convert.py). tinyml's front end loads that file
     into the int8 IR graph the memory model works on (footprint.py).
  2. Nothing more when the model fits at 8 bits. When even 2 bits wherever allowed cannot fit, the budget is
     refused here, before anything is measured (search.no_fit).
  3. With the default rule, each layer's sensitivity is measured on the calibration data (sensitivity.py).
  4. A rule (search.py) chooses the assignment.
  5. The model is fake-quantized at the chosen bits and converted: with calibration only, or fine-tuned first
     (quantization-aware training at those bits, as qat.py trains).
  6. The written file is checked: tinyml's front end and planner must find in it the bits chosen and the fit
     promised. The "tinyml" metadata entry records each layer's bits, why, and the memory each choice saved.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyml.errors import UnsupportedModelError, UsageError
from tinyml.quant import metadata
from tinyml.quant.data import Dataset, InputSpec, fingerprint, open_data, read_data
from tinyml.quant.options import QatOptions, QuantOptions
from tinyml.quant.ptq import Int8Model, check_int8, require_float
from tinyml.quant.search import ACTIVATIONS, RULES, WEIGHTS, Assignment, Choice, Knob, require_feasible

if TYPE_CHECKING:
    from tinyml.ir.graph import Graph
    from tinyml.quant.footprint import Footprint, MemoryModel
    from tinyml.quant.sensitivity import Sensitivity

#: TFLite's BuiltinOperator numbers of the layers with weights, and of ADD (which holds the ReLU after an Add)
_WEIGHTED_OPS = (3, 4, 9)
_ADD = 0


@dataclass(frozen=True)
class MixedOptions:
    """What mixed precision aims for: the target and its budgets, and the rule that chooses the bits."""

    #: the board whose RAM and flash the model must fit, by name
    board: str
    #: "sensitivity" (least measured sensitivity) or "rusci" (Rusci et al.'s memory-driven rule)
    rule: str = "sensitivity"
    #: --sram-budget / --flash-budget: replace the board's RAM / flash
    sram_budget: int | None = None
    flash_budget: int | None = None
    #: the kernels the model will run on ("auto", "cmsis-nn", "portable"): they decide scratch and code size
    kernels: str = "auto"

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, not {self.rule!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Prepared:
    """Everything the rules need, worked out once: the carried model, its data, its knobs and memory model."""

    path: Path
    kind: str
    loader: str
    inputs: list[InputSpec]
    carried: Any
    keras_model: Any
    #: calibration data (ranges and sensitivity)
    ranges: Dataset
    #: labelled training data, when there is some
    train: Dataset | None
    #: the int8 graph and what each assignment needs on the target
    memory: MemoryModel
    #: the converter that made the int8 model ("tensorflow 2.21.0")
    converter: str

    @property
    def knobs(self) -> list[Knob]:
        """Each layer's weights and activation, with the bits tinyml can give them."""
        return self.memory.knobs


def quantize_mixed(
    model: str | Path,
    mixed: MixedOptions,
    quant: QuantOptions | None = None,
    *,
    calib: str | Path | None = None,
    train: str | Path | None = None,
    qat: QatOptions | None = None,
    progress: bool = False,
) -> Int8Model:
    """The float Keras model at `model` with per-layer bits that fit `mixed`'s board and budgets. Ranges come from
    `calib`; with `train` (labelled) and `qat`, the model is fine-tuned at the chosen bits before conversion (and
    without `calib`, ranges come from the training data)."""
    quant = quant or QuantOptions()
    started = time.monotonic()
    if calib is None and train is None:
        raise UsageError(
            "mixed precision needs calibration data: --calib DATA",
            "add --calib DATA (an .npz of inputs, or a folder of images or of .bin tensors)",
        )
    from tinyml.quant.quiet import tensorflow_quiet

    with tensorflow_quiet():
        prepared = prepare(model, mixed, quant, calib=calib, train=train, progress=progress)
        sensitivity = measure_sensitivity(prepared, progress=progress) if mixed.rule == "sensitivity" else None
        choice = choose(prepared, mixed.rule, sensitivity)
        data = prepared.train if qat is not None else None
        raw, training = convert_choice(prepared, choice.assignment, quant, train=data, qat=qat, progress=progress)
    return finish(prepared, mixed, quant, choice, sensitivity, raw, training, qat, time.monotonic() - started)


def prepare(
    model: str | Path,
    mixed: MixedOptions,
    quant: QuantOptions,
    *,
    calib: str | Path | None,
    train: str | Path | None = None,
    progress: bool = False,
) -> Prepared:
    """Stage 1: load and carry the model, read its calibration data, convert it once at 8 bits and build the
    memory model on its int8 graph. Refuses a budget no assignment meets (stage 2)."""
    from tinyml import pipeline
    from tinyml.plan import PlanOptions
    from tinyml.quant import fakequant
    from tinyml.quant.carry import carry
    from tinyml.quant.convert import convert_trained
    from tinyml.quant.footprint import MemoryModel
    from tinyml.quant.qat import layer_of, load_keras, range_samples, require_classifier

    kind, path = require_keras(Path(model))
    # the data's format and labels are checked before TensorFlow loads anything
    train_source = open_data(train) if train is not None else None
    if train_source is not None:
        train_source.require_labels()
    calib_source = open_data(calib) if calib is not None else None
    board = pipeline.target(mixed.board)
    backend = pipeline.backend_for(board, pipeline.CompileOptions(kernels=mixed.kernels))
    keras_model, inputs, loader = load_keras(path, kind)
    labelled = None
    if train is not None:
        labelled = read_data(
            train, inputs, input_range=quant.input_range, labelled=True, progress=progress, source=train_source
        )
    ranges = range_samples(calib, calib_source, inputs, quant, labelled, progress)
    carried = carry(keras_model, path, [(spec.name, spec.shape) for spec in inputs])
    if labelled is not None:
        require_classifier(keras_model, carried, path, labelled)
    knobs = knobs_of(carried)
    raw, converter = convert_trained(
        fakequant.calibrated(carried, {k.layer: (8, 8) for k in knobs}, ranges.inputs), path, quant.float_io
    )
    check_int8(raw, path)
    graph = graph_of(raw, path)
    layers = {}
    names = {k.layer: None for k in knobs}
    for op in graph.ops:
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            name = layer_of(op.input(1).name, names)
        elif op.type == "ADD":  # the ReLU after an Add, fused into it: named in the ADD's output
            name = layer_of(op.outputs[0].name, names)
        else:
            continue
        if name is not None:
            layers[name] = op
    missing = [k.layer for k in knobs if k.layer not in layers]
    if missing:
        raise AssertionError(f"the converted model has no operator for layer(s) {', '.join(missing)}")
    memory = MemoryModel(
        graph, layers, knobs, board, backend, PlanOptions(sram_budget=mixed.sram_budget), mixed.flash_budget
    ).restricted()
    if not any(len(k.bits) > 1 for k in memory.knobs):
        raise UnsupportedModelError(
            f"{path}: has no convolution, depthwise convolution or dense layer whose bits tinyml could lower",
            "quantize it to int8 without --board and the budgets: tinyml quantize MODEL -o OUT.tflite --calib DATA",
        )
    require_feasible(memory, path.name)
    return Prepared(path, kind, loader, inputs, carried, keras_model, ranges, labelled, memory, converter)


def require_keras(model: Path) -> tuple[str, Path]:
    """The kind and path of a float model whose Keras layers are known (a .keras or .h5 file, or a SavedModel Keras
    2 wrote with its layers' metadata): mixed precision sets bits per layer."""
    kind, path = require_float(model)
    fix = "pass the .keras or .h5 file it came from, or quantize it to int8: tinyml quantize MODEL -o OUT --calib DATA"
    if kind == "tflite":
        raise UnsupportedModelError(
            f"{path}: is a float TFLite model; mixed precision sets bits per Keras layer, so it starts from the "
            "Keras model this file was converted from",
            fix,
        )
    if kind == "savedmodel" and not (path / "keras_metadata.pb").is_file():
        raise UnsupportedModelError(
            f"{path}: this SavedModel holds a TensorFlow graph but not its Keras layers, which mixed precision "
            "sets bits for",
            fix,
        )
    return kind, path


def knobs_of(carried: Any) -> list[Knob]:
    """Each convolution, depthwise convolution and dense layer's two knobs, and the output knob of each ReLU after
    an Add (TFLite fuses it into the ADD: the residual branches of a ResNet). Weights take 8, 4 or 2 bits. An output
    takes 4 or 2 bits only where a ReLU or ReLU6 follows the layer (it becomes a ReLU6 on 2^b levels) and the
    converted file keeps the layer's own quantization: not a model output, and not an input of a concatenation
    (which quantizes its inputs on its own range)."""
    knobs = []
    for layer in carried.layers:
        if layer.weighted:
            knobs.append(Knob(layer.name, WEIGHTS, (8, 4, 2)))
            relu = layer.activation in ("relu", "relu6")
        elif _relu_after_add(carried, layer):
            relu = True
        else:
            continue
        if layer.name in carried.outputs:
            why = "8 bits: a model output"
        elif not relu:
            why = "8 bits: no ReLU or ReLU6 follows (sub-byte activations are ReLU6 outputs)"
        elif any(c.kind == "Concatenate" for c in carried.consumers(layer.name)):
            why = "8 bits: read by a concatenation, which quantizes it on its own range"
        else:
            why = ""
        knobs.append(Knob(layer.name, ACTIVATIONS, (8,) if why else (8, 4, 2), why))
    return knobs


def _relu_after_add(carried: Any, layer: Any) -> bool:
    """A ReLU or ReLU6 (a ReLU layer or an Activation) that is the only reader of an Add."""
    cap = layer.config.get("max_value")
    plain = layer.kind == "ReLU" and cap in (None, 6.0) and not layer.config.get("negative_slope")
    plain = plain and not layer.config.get("threshold")
    plain = plain or (layer.kind == "Activation" and layer.activation in ("relu", "relu6"))
    if not plain or len(layer.inputs) != 1:
        return False
    source = next((x for x in carried.layers if x.name == layer.inputs[0]), None)
    return (
        source is not None and source.kind == "Add" and [c.name for c in carried.consumers(source.name)] == [layer.name]
    )


def measure_sensitivity(prepared: Prepared, *, progress: bool = False) -> Sensitivity:
    """Stage 3: each sub-byte choice's sensitivity on the calibration data (and its labels, when it has some)."""
    from tinyml.quant import sensitivity
    from tinyml.quant.progress import meter

    with meter(sensitivity.runs(prepared.knobs), "sensitivity", progress) as done:
        ranges = prepared.ranges
        return sensitivity.measure(prepared.carried, prepared.knobs, ranges.inputs, ranges.labels, progress=done)


def choose(prepared: Prepared, rule: str, sensitivity: Sensitivity | None = None) -> Choice:
    """Stage 4: the assignment `rule` chooses."""
    from tinyml.quant import search

    return search.choose(prepared.memory, rule, sensitivity, prepared.path.name)


def convert_choice(
    prepared: Prepared,
    assignment: Assignment,
    quant: QuantOptions,
    *,
    train: Dataset | None = None,
    qat: QatOptions | None = None,
    progress: bool = False,
) -> tuple[bytes, dict[str, Any] | None]:
    """Stage 5: the model at `assignment`'s bits as TFLite: calibrated only, or fine-tuned on labelled `train` data
    with `qat`'s options first; and what the training did (None without training)."""
    from tinyml.quant import fakequant
    from tinyml.quant.convert import convert_trained
    from tinyml.quant.qat import fit, require_classifier, seed_all

    seed_all(quant.seed)
    qmodel = fakequant.calibrated(prepared.carried, assignment, prepared.ranges.inputs)
    training = None
    if train is not None and qat is not None:
        from_logits = require_classifier(prepared.keras_model, prepared.carried, prepared.path, train)
        started = time.monotonic()
        training = fit(qmodel, train, qat, from_logits, progress)
        training["seconds"] = round(time.monotonic() - started, 1)
    raw, _ = convert_trained(qmodel, prepared.path, quant.float_io)
    check_int8(raw, prepared.path)
    return raw, training


def finish(
    prepared: Prepared,
    mixed: MixedOptions,
    quant: QuantOptions,
    choice: Choice,
    sensitivity: Sensitivity | None,
    raw: bytes,
    training: dict[str, Any] | None,
    qat: QatOptions | None,
    seconds: float,
) -> Int8Model:
    """Stage 6: check the converted file holds the chosen bits and fits, and attach the metadata entry."""
    from tinyml.quant.qat import recorded_bits

    tensor_bits, found = recorded_bits(raw, choice.assignment)
    if found != choice.assignment:
        differ = sorted(n for n in choice.assignment if found.get(n) != choice.assignment[n])
        raise AssertionError(f"the converted model holds other bits than chosen for layer(s) {', '.join(differ)}")
    memory = prepared.memory
    written = written_footprint(raw, prepared)
    if not written.fits:
        raise AssertionError(
            f"the converted model needs {written.sram_bytes:,} bytes of SRAM and {written.flash_bytes:,} of flash, "
            f"where its bits were chosen to need {choice.footprint.sram_bytes:,} and {choice.footprint.flash_bytes:,}"
        )
    saved = savings(memory, choice)
    fp, int8 = written, choice.int8
    ops = _operators(raw, choice.assignment)
    entry_layers = {}
    weighted = {k.layer for k in prepared.knobs if k.kind == WEIGHTS}
    for name, (w, a) in choice.assignment.items():
        entry_layers[name] = {
            "op": ops.get(name),
            "weights": w if name in weighted else None,
            "activations": a,
            "why": {kind: why for (layer, kind), why in choice.reasons.items() if layer == name},
            "saved": saved[name],
        }
    mixed_entry: dict[str, Any] = {
        "rule": mixed.rule,
        "options": mixed.as_dict(),
        "board": memory.board.name,
        "kernels": memory.backend.name,
        "budgets": {
            "sram": _budget(fp, "sram"),
            "flash": _budget(fp, "flash"),
        },
        "int8": _figures(int8),
        "chosen": _figures(fp),
        "layers": entry_layers,
        "cost": choice.cost,
        "sensitivity": sensitivity.as_dict() if sensitivity is not None else None,
        "evaluations": memory.evaluations,
        "seconds": round(seconds, 1),
    }
    extra: dict[str, Any] = {"mixed": mixed_entry}
    if training is not None:
        assert qat is not None
        extra["qat"] = {"options": qat.as_dict(), "training": training}
    entry = metadata.describe(
        raw,
        source={
            "file": prepared.path.name,
            "kind": prepared.kind,
            "sha256": fingerprint(prepared.path),
            "loader": prepared.loader,
        },
        calibration=prepared.ranges.summary(prepared.inputs),
        options=quant.as_dict(),
        converter=prepared.converter,
        method="mixed-qat" if training is not None else "mixed",
        bits=tensor_bits,
        extra=extra,
    )
    return Int8Model(metadata.attach(raw, entry), prepared.path, prepared.kind, entry)


def graph_of(raw: bytes, source: Path) -> Graph:
    """A converted model as tinyml's front end and graph optimiser load it (named after its float `source`)."""
    from tinyml import pipeline

    with tempfile.TemporaryDirectory(prefix="tinyml-mixed-") as tmp:
        path = Path(tmp) / f"{source.stem or 'model'}.tflite"
        path.write_bytes(raw)
        return pipeline.load(path)


def written_footprint(raw: bytes, prepared: Prepared) -> Footprint:
    """What the converted model needs, by tinyml's front end, planner and report: the check that the file holds
    what the memory model promised."""
    return prepared.memory.measure(graph_of(raw, prepared.path))


def savings(memory: MemoryModel, choice: Choice) -> dict[str, dict[str, int]]:
    """Per layer, the SRAM and flash its cuts save: the footprint with that layer back at 8 bits (the rest as
    chosen) minus the chosen footprint."""
    out = {}
    for name, (w, a) in choice.assignment.items():
        figures = {"sram_bytes": 0, "flash_bytes": 0}
        if (w, a) != (8, 8):
            back = memory.footprint({**choice.assignment, name: (8, 8)})
            figures = {
                "sram_bytes": back.sram_bytes - choice.footprint.sram_bytes,
                "flash_bytes": back.flash_bytes - choice.footprint.flash_bytes,
            }
        out[name] = figures
    return out


def _figures(fp: Footprint) -> dict[str, int]:
    return {"sram_bytes": fp.sram_bytes, "flash_bytes": fp.flash_bytes, "weights_bytes": fp.weights_bytes}


def _budget(fp: Footprint, which: str) -> dict[str, Any] | None:
    entry = fp.report["budget"][which]
    return None if entry is None else {"limit_bytes": entry["limit_bytes"], "source": entry["source"]}


def _operators(raw: bytes, assignment: Assignment) -> dict[str, int]:
    """The position of each layer's operator in the TFLite file, by its weights' tensor name (an ADD's ReLU, by the
    ADD's output)."""
    from tinyml.quant.flatbuf import read_model
    from tinyml.quant.qat import layer_of

    model = read_model(raw)
    sub = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    found = {}
    for i, op in enumerate(sub.operators):
        code = codes[op.opcodeIndex]
        if code not in _WEIGHTED_OPS and code != _ADD:
            continue
        name = sub.tensors[op.inputs[1] if code in _WEIGHTED_OPS else op.outputs[0]].name
        layer = layer_of(name.decode() if isinstance(name, bytes) else name or "", assignment)
        if layer is not None:
            found[layer] = i
    return found
