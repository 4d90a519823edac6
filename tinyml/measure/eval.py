"""Accuracy where the model runs: top-1 of the compiled model on labelled data, and of its float original.

The int8 model is measured by running the generated code (on the host, an emulated core or a board), never by
simulating it, so the figure is the one the device achieves. Inputs are quantized as TFLite quantizes them
(round half away from zero, then clamp) with the model's input scale and zero point; float inputs are passed
as they are. The float model, when given, runs in TensorFlow on the host on the same float samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import InputDataError, UsageError
from tinyml.ir.graph import Graph, Tensor
from tinyml.quant.data import InputSpec, open_data, read_data
from tinyml.quant.options import QuantOptions

SCHEMA = "tinyml.eval/1"

#: runs raw inputs through the compiled model; the callback hears of every n inferences done
Runner = Callable[[list[bytes], Callable[[int], None]], list[bytes]]


@dataclass(frozen=True)
class Accuracy:
    correct: int
    total: int

    @property
    def rate(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"correct": self.correct, "total": self.total, "top1": self.rate}


@dataclass
class EvalResult:
    """What `tinyml eval` prints."""

    #: the model as given (a float model quantized on the way, or an int8 .tflite), and the int8 file that ran
    model: Path
    int8_file: Path
    graph_name: str
    sha256: str
    where: str
    data: dict[str, Any]
    labels: np.ndarray
    predictions: np.ndarray
    float_model: Path | None = None
    float_predictions: np.ndarray | None = None

    @property
    def accuracy(self) -> Accuracy:
        return Accuracy(int((self.predictions == self.labels).sum()), len(self.labels))

    @property
    def float_accuracy(self) -> Accuracy | None:
        if self.float_predictions is None:
            return None
        return Accuracy(int((self.float_predictions == self.labels).sum()), len(self.labels))

    @property
    def agreement(self) -> Accuracy | None:
        if self.float_predictions is None:
            return None
        return Accuracy(int((self.float_predictions == self.predictions).sum()), len(self.labels))

    def as_json(self) -> dict[str, Any]:
        """Schema tinyml.eval/1."""
        fa, agree = self.float_accuracy, self.agreement
        return {
            "schema": SCHEMA,
            "model": {
                "name": self.graph_name,
                "file": str(self.model),
                "int8_file": str(self.int8_file),
                "sha256": self.sha256,
            },
            "runs_on": self.where,
            "data": self.data,
            "samples": len(self.labels),
            "int8": self.accuracy.as_dict(),
            "float": None if fa is None else {"file": str(self.float_model), **fa.as_dict()},
            "agreement": None if agree is None else {"equal": agree.correct, "total": agree.total, "rate": agree.rate},
            "labels": self.labels.tolist(),
            "predictions": {
                "int8": self.predictions.tolist(),
                "float": None if self.float_predictions is None else self.float_predictions.tolist(),
            },
        }


def input_specs(graph: Graph) -> list[InputSpec]:
    """The compiled model's inputs as data fills them: one sample's shape, matched by tensor name (or the
    name without TensorFlow's `serving_default_` prefix and `:0` suffix)."""
    specs = []
    for t in graph.inputs:
        shape = t.shape[1:] if t.shape and t.shape[0] == 1 else t.shape
        short = t.name.removeprefix("serving_default_").split(":")[0]
        specs.append(InputSpec(t.name, tuple(shape), (short,) if short != t.name else ()))
    return specs


def encode(tensor: Tensor, x: np.ndarray) -> bytes:
    """One float sample as the input tensor's bytes: quantized with its scale and zero point when it is integer."""
    etype = tensor.type
    if etype.is_float or tensor.quant is None:
        return etype.pack(np.asarray(x, dtype=etype.np_dtype)).tobytes()
    scaled = np.asarray(x, np.float32) / np.float32(tensor.quant.scale)
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))  # TFLite rounds half away from zero
    lo, hi = etype.range
    return etype.pack(np.clip(rounded + tensor.quant.zero_point, lo, hi).astype(etype.np_dtype)).tobytes()


def evaluate(
    graph: Graph,
    data: str | Path,
    run: Runner,
    *,
    where: str,
    model: Path,
    int8_file: Path,
    float_model: str | Path | None = None,
    limit: int | None = None,
    quant: QuantOptions | None = None,
    progress: bool = True,
) -> EvalResult:
    """Top-1 of the compiled `graph` (run by `run`) on the labelled data at `data`; see the module's docstring."""
    from tinyml.quant.progress import meter

    quant = quant or QuantOptions()
    if len(graph.outputs) != 1:
        raise UsageError(
            f"{model}: has {len(graph.outputs)} outputs; eval measures the top-1 of a classifier with one output",
            "evaluate a classification model",
        )
    source = open_data(data)
    source.require_labels()  # before anything runs
    specs = input_specs(graph)
    dataset = read_data(
        data,
        specs,
        input_range=quant.input_range,
        limit=limit,
        seed=quant.seed,
        labelled=True,
        progress=progress,
        source=source,
    )
    assert dataset.labels is not None
    classes = int(np.prod(graph.outputs[0].shape))
    if len(dataset.labels) and dataset.labels.max() >= classes:
        raise InputDataError(
            f"{dataset.path}: holds label {int(dataset.labels.max())}, but the model tells {classes} classes apart",
            "use the labels (class sub-folders) the model was trained with",
        )
    inputs = [
        b"".join(encode(t, x[i]) for t, x in zip(graph.inputs, dataset.inputs, strict=True)) for i in range(dataset.n)
    ]
    with meter(dataset.n, f"running on {where}", progress) as done:
        outputs = run(inputs, done)
    out = graph.outputs[0]
    predictions = np.array([int(out.type.unpack(o, out.num_elements).argmax()) for o in outputs], dtype=np.int64)
    summary = dataset.summary(specs)
    summary["class_names"] = dataset.classes
    result = EvalResult(model, int8_file, graph.name, graph.source_hash, where, summary, dataset.labels, predictions)
    if float_model is not None:
        result.float_model = Path(float_model)
        result.float_predictions = _float_top1(Path(float_model), specs, dataset.inputs, progress)
    return result


def _float_top1(path: Path, specs: list[InputSpec], inputs: list[np.ndarray], progress: bool) -> np.ndarray:
    """The float model's top-1 for every sample, run by TensorFlow (or LiteRT) on the host."""
    from tinyml.quant.ptq import float_source
    from tinyml.quant.quiet import tensorflow_quiet
    from tinyml.quant.source import open_float_model

    found = float_source(path)
    if found is None:
        raise UsageError(
            f"--float {path}: is not a float model", "pass the Keras model, SavedModel or float .tflite it came from"
        )
    with tensorflow_quiet():
        model = open_float_model(found[1], found[0])
        theirs = [s.shape for s in model.inputs]
        if theirs != [s.shape for s in specs] or model.outputs != 1:
            raise UsageError(
                f"--float {path}: takes inputs {theirs} and gives {model.outputs} output(s); the compiled model takes "
                f"{[s.shape for s in specs]} and gives 1",
                "pass the float model this int8 model was quantized from",
            )
        scores = model.predict(inputs, progress=progress)
    return scores.reshape(len(scores), -1).argmax(axis=1).astype(np.int64)


def format_eval(result: EvalResult) -> str:
    """The table `tinyml eval` prints."""
    d = result.data
    chosen = f"a seeded choice of {d['samples']:,} of {d['available']:,}" if d["samples"] < d["available"] else "all"
    classes = f", {d['classes']} classes" if d.get("classes") else ""
    scaled = f", pixels scaled to {d['input_range']}" if d.get("input_range") else ""
    lines = [
        f"eval of {result.graph_name} on {result.where}: {d['samples']:,} labelled samples from {d['file']} "
        f"({d['kind']}{classes}; {chosen}{scaled})",
        f"  {'model':<36} {'top-1':>8}   correct",
    ]

    def row(name: str, acc: Accuracy, what: str = "") -> str:
        return f"  {name:<36} {100 * acc.rate:>7.2f}%   {acc.correct:,} of {acc.total:,}{what}"

    lines.append(row(f"int8 on {result.where}", result.accuracy))
    fa, agree = result.float_accuracy, result.agreement
    if fa is not None and agree is not None:
        lines.append(row(f"float ({result.float_model}, host)", fa))
        lines.append(row("agreement (equal top-1)", agree, " samples"))
    return "\n".join(lines)
