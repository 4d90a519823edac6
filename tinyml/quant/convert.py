"""The converters that turn a float model and its calibration data into an int8 TFLite model.

Keras models and SavedModels go through TensorFlow's converter (full-integer post-training quantization:
Optimize.DEFAULT, a representative dataset, TFLITE_BUILTINS_INT8). TensorFlow has no route from a float .tflite
back into its converter, so those go through ai-edge-quantizer's static int8 recipe (int8 weights per channel,
int8 activations calibrated by min/max), which rewrites the flatbuffer itself. Models trained with fake
quantization (qat.py) go through TensorFlow's converter too, their ranges taken from the training. All are run
inside `quiet.tensorflow_quiet()`; their failures become one line naming the operations at fault.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import UnsupportedModelError
from tinyml.quant.data import Dataset
from tinyml.quant.options import QuantOptions
from tinyml.quant.progress import bar
from tinyml.quant.source import FloatModel


def convert(model: FloatModel, data: Dataset, options: QuantOptions, progress: bool = False) -> tuple[bytes, str]:
    """The int8 model, and the converter that made it ("tensorflow 2.21.0")."""
    if model.kind == "tflite":
        return _ai_edge(model, data, options, progress)
    return _tensorflow(model, data, options, progress)


class _Samples:
    """The calibration samples as the converters take them: one dict of batch-of-1 arrays per sample, keyed by
    input name. Iterable more than once (ai-edge-quantizer counts the samples before it runs them)."""

    def __init__(self, model: FloatModel, data: Dataset, progress: bool) -> None:
        self.names = [s.name for s in model.inputs]
        self.data = data
        self.progress = progress

    def __len__(self) -> int:
        return self.data.n

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for i in bar(range(self.data.n), desc="calibrating", enabled=self.progress):
            yield dict(zip(self.names, self.data.sample(i), strict=True))


def _tensorflow(model: FloatModel, data: Dataset, options: QuantOptions, progress: bool) -> tuple[bytes, str]:
    import tensorflow as tf

    if model.kind == "savedmodel":
        converter = tf.lite.TFLiteConverter.from_saved_model(str(model.path), signature_keys=[model.signature])
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model.handle)
    samples = _Samples(model, data, progress)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: iter(samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not options.float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        return bytes(converter.convert()), f"tensorflow {tf.__version__}"
    except Exception as e:  # ConverterError, and the ValueErrors of the conversion's earlier phases
        raise _converter_error(model.path, e) from None


def convert_trained(model: Any, source: Path, float_io: bool) -> tuple[bytes, str]:
    """A tf-keras model trained with fake quantization (qat.py) as an int8 model, and the converter that made it.
    Every range comes from its fake-quantization ops, so the converter needs no representative data."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if not float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        return bytes(converter.convert()), f"tensorflow {tf.__version__}"
    except Exception as e:  # ConverterError, and the ValueErrors of the conversion's earlier phases
        raise _converter_error(source, e) from None


def _converter_error(path: Path, e: Exception) -> UnsupportedModelError:
    """TensorFlow's converter error in one line: the operations it could not convert, and their layers."""
    ops: dict[str, set[str]] = {}
    for err in getattr(e, "errors", None) or []:
        name = err.operator.name.removeprefix("tf.") if err.HasField("operator") else ""
        if not name:
            continue
        layers = ops.setdefault(name, set())
        for call in err.location.call:
            parts = call.name.split("@")[0].split("/")
            if len(parts) >= 2:
                layers.add(parts[-2])
                break
    if not ops:  # older phases: the ops are listed in the text ("TF Select ops: A, B")
        listed = re.search(r"(?:TF Select|Custom) ops: ([\w, .]+)", str(e))
        for name in listed.group(1).split(", ") if listed else []:
            ops.setdefault(name.strip().removeprefix("tf."), set())
    fix = (
        "replace those layers with ones TFLite has int8 builtin kernels for (Conv2D, DepthwiseConv2D, Dense, "
        "pooling, Add, Concatenate, Reshape, ReLU, Softmax, ...), or compute them outside the model"
    )
    if ops:
        named = ", ".join(f"{op} (layer {', '.join(sorted(ls))})" if ls else op for op, ls in sorted(ops.items()))
        return UnsupportedModelError(
            f"{path}: TensorFlow's converter cannot turn {len(ops)} operation(s) into TFLite builtins: {named}",
            fix,
        )
    lines = [line.strip() for line in str(e).splitlines() if "error" in line.lower()] or [type(e).__name__]
    detail = re.sub(r"loc\(.*?\):\s*", "", lines[0])[:240]
    return UnsupportedModelError(f"{path}: TensorFlow's converter failed: {detail}", fix)


def _ai_edge(model: FloatModel, data: Dataset, options: QuantOptions, progress: bool) -> tuple[bytes, str]:
    from importlib.metadata import version

    from ai_edge_quantizer import quantizer, recipe

    from tinyml.quant.flatbuf import add_float_edges

    assert model.tflite is not None
    q = quantizer.Quantizer(bytearray(model.tflite), recipe.static_wi8_ai8())
    samples = _Samples(model, data, progress)
    try:
        calibration = q.calibrate({model.signature: samples}, num_threads=1)
        raw = bytes(q.quantize(calibration, enable_progress_report=False).quantized_model)
    except Exception as e:  # ValueError, RuntimeError, KeyError: the quantizer's own checks
        first = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise UnsupportedModelError(
            f"{model.path}: ai-edge-quantizer cannot quantize this float model ({first[:200]})",
            "quantize the Keras model or SavedModel it came from: tinyml quantize MODEL -o model.tflite --calib DATA",
        ) from None
    if options.float_io:
        raw = add_float_edges(raw)
    return raw, f"ai-edge-quantizer {version('ai-edge-quantizer')}"
