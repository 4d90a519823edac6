"""Quantization-aware training: a float Keras model fine-tuned with fake quantization at chosen bit widths, then
converted into the same kind of int8 TFLite file post-training quantization writes (ptq.py).

The stages: the model is carried into tf-keras in the shape TFLite gives it (carry.py: BatchNormalization
folded, ReLU and ReLU6 fused); tensorflow-model-optimization wraps it with fake quantization at per-layer bits
(fakequant.py); every range starts where calibration puts it; the model trains on labelled data; and
TensorFlow's converter turns it into TFLite, taking its ranges from the training. The "tinyml" metadata entry
then records how many bits each tensor holds (4-bit weights as TFLite INT4 tensors; 2-bit weights and sub-byte
activations as int8 tensors whose values fit in fewer bits), the training options and figures, and the bits of
every layer.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinyml.errors import InputDataError, ModelFileError, UnsupportedModelError, UsageError
from tinyml.quant import metadata
from tinyml.quant.data import Dataset, InputSpec, choose, fingerprint, open_data, read_data
from tinyml.quant.options import QatOptions, QuantOptions, sub_byte_scale
from tinyml.quant.ptq import Int8Model, check_int8, require_float

#: TFLite's BuiltinOperator numbers of the layers with weights, and of the ops that pass values through unchanged
_WEIGHTED_OPS = {3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 9: "FULLY_CONNECTED"}
_PASS_THROUGH_OPS = {17: "MAX_POOL_2D", 22: "RESHAPE", 43: "SQUEEZE", 70: "EXPAND_DIMS"}
#: TFLite's BuiltinOperator number of ADD, into which the converter fuses the ReLU after an Add
_ADD = 0
#: TFLite's ActivationFunctionType for RELU6, the clamp that confines a sub-byte activation
_RELU6 = 3
#: the activations a classifier's output may end in, and whether its scores are then logits
_OUTPUT_ACTIVATIONS = {"softmax": False, "linear": True}


def train_quantized(
    model: str | Path,
    train: str | Path,
    options: QatOptions | None = None,
    quant: QuantOptions | None = None,
    *,
    calib: str | Path | None = None,
    progress: bool = False,
) -> Int8Model:
    """The float Keras model at `model`, fine-tuned with fake quantization on the labelled data at `train` and
    converted to TFLite. Ranges start from `calib` (at most quant.samples of it), or from as many training
    samples; `quant` also decides input scaling, the seed and int8 or float32 edges."""
    options = options or QatOptions()
    quant = quant or QuantOptions()
    kind, path = require_trainable(Path(model))
    train_source = open_data(train)  # the data's format and labels are checked before TensorFlow loads anything
    train_source.require_labels()
    calib_source = open_data(calib) if calib is not None else None
    from tinyml.quant.carry import carry
    from tinyml.quant.convert import convert_trained
    from tinyml.quant.quiet import tensorflow_quiet

    started = time.monotonic()
    with tensorflow_quiet():
        keras_model, inputs, loader = load_keras(path, kind)
        data = read_data(
            train, inputs, input_range=quant.input_range, labelled=True, progress=progress, source=train_source
        )
        carried = carry(keras_model, path, [(spec.name, spec.shape) for spec in inputs])
        from_logits = require_classifier(keras_model, carried, path, data)
        bits = layer_bits(carried, options)
        ranges = range_samples(calib, calib_source, inputs, quant, data, progress)
        from tinyml.quant import fakequant

        seed_all(quant.seed)
        float_model, trained = fakequant.fake_quantized(carried, bits)
        fakequant.init_ranges(trained, float_model, ranges.inputs)
        training = fit(trained, data, options, from_logits, progress)
        raw, converter = convert_trained(trained, path, quant.float_io)
    check_int8(raw, path)
    tensor_bits, layers = recorded_bits(raw, bits)
    training["seconds"] = round(time.monotonic() - started, 1)
    entry = metadata.describe(
        raw,
        source={"file": path.name, "kind": kind, "sha256": fingerprint(path), "loader": loader},
        calibration=ranges.summary(inputs),
        options=quant.as_dict(),
        converter=converter,
        method="qat",
        bits=tensor_bits,
        extra={
            "qat": {
                "options": options.as_dict(),
                "layers": {name: f"w{w}a{a}" for name, (w, a) in layers.items()},
                "training": training,
            }
        },
    )
    return Int8Model(metadata.attach(raw, entry), path, kind, entry)


def require_trainable(model: Path) -> tuple[str, Path]:
    """The kind and path of a float model quantization-aware training can train: one whose Keras layers are
    known (a .keras or .h5 file, or a SavedModel Keras 2 wrote with its layers' metadata)."""
    kind, path = require_float(model)
    if kind == "tflite":
        raise UnsupportedModelError(
            f"{path}: is a float TFLite model, whose layers cannot be trained again; quantization-aware training "
            "starts from the Keras model it was converted from",
            f"pass that .keras or .h5 file with --qat, or quantize this file without --qat: tinyml quantize {path} "
            "-o OUT.tflite --calib DATA",
        )
    if kind == "savedmodel" and not (path / "keras_metadata.pb").is_file():
        raise UnsupportedModelError(
            f"{path}: this SavedModel holds a TensorFlow graph but not its Keras layers, which quantization-aware "
            "training needs",
            "pass the Keras model it was exported from (model.save('model.keras')), or quantize the SavedModel "
            "without --qat: tinyml quantize MODEL -o OUT.tflite --calib DATA",
        )
    return kind, path


def layer_bits(carried: Any, options: QatOptions) -> dict[str, tuple[int, int]]:
    """(weight bits, activation bits) of every convolution, depthwise convolution and dense layer: options.bits, or
    the layer's own from options.layers. Sub-byte activations are ReLU6 outputs, so a layer without a fused ReLU or
    ReLU6 keeps 8-bit activations unless it names other bits itself, which is then refused."""
    weighted = carried.weighted()
    names = [layer.name for layer in weighted]
    given = {name: (w, a) for name, w, a in options.layers}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise UsageError(
            f"the model has no convolution or dense layer named {unknown[0]!r} (those it has: {', '.join(names)})",
            "give bits to layers from that list",
        )
    bits = {}
    for layer in weighted:
        clamped = layer.activation in ("relu", "relu6")
        if layer.name in given:
            w, a = given[layer.name]
            if a < 8 and not clamped:
                raise UsageError(
                    f"layer {layer.name!r} would get {a}-bit activations, but no ReLU or ReLU6 follows it; "
                    "sub-byte activations are ReLU6 outputs",
                    f"give it 8-bit activations (w{w}a8)",
                )
        else:
            w, a = options.bits
            a = a if clamped else 8
        bits[layer.name] = (w, a)
    return bits


def recorded_bits(raw: bytes, bits: dict[str, tuple[int, int]]) -> tuple[dict[int, int], dict[str, tuple[int, int]]]:
    """What the converted model holds: the bits of its weight tensors and of its confined activation tensors, by
    tensor index, and the (weight, activation) bits of each layer as found in the file.

    A layer's weights are known by name (the converter names tensors after the wrapped layers: ".../quant_NAME/");
    its output counts as b-bit only when the file confines it to 2^b levels (scale 6/(2^b − 1), zero point −128,
    a fused RELU6), and then so does the output of a max pool or reshape of it. A ReLU layer after an Add named in
    `bits` (mixed precision gives those sub-byte outputs too) is the ADD the converter fused it into, known by its
    output's name. Anything else is recorded at its storage's bits.
    """
    from tinyml.quant.flatbuf import read_model

    model = read_model(raw)
    sub = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    tensor_bits: dict[int, int] = {}
    layers: dict[str, tuple[int, int]] = {}

    def quantization(index: int) -> tuple[float, int] | None:
        q = sub.tensors[index].quantization
        if q is None or q.scale is None or len(q.scale) != 1:
            return None
        return float(q.scale[0]), int(q.zeroPoint[0])

    for op in sub.operators:
        code = codes[op.opcodeIndex]
        if code in _WEIGHTED_OPS:
            name = layer_of(_text(sub.tensors[op.inputs[1]].name), bits)
            if name is None:
                continue
            w, a = bits[name]
            tensor_bits[int(op.inputs[1])] = w
            out = int(op.outputs[0])
            fused = getattr(op.builtinOptions, "fusedActivationFunction", None)
            confined = a < 8 and fused == _RELU6 and _is_sub_byte(quantization(out), a)
            if confined:
                tensor_bits[out] = a
            layers[name] = (w, a if confined else 8)
        elif code == _ADD:  # an Add whose ReLU (a ReLU6 for sub-byte outputs) TFLite fused into it
            out = int(op.outputs[0])
            name = layer_of(_text(sub.tensors[out].name), bits)
            if name is None:
                continue
            fused = getattr(op.builtinOptions, "fusedActivationFunction", None)
            a = bits[name][1]
            confined = a < 8 and fused == _RELU6 and _is_sub_byte(quantization(out), a)
            if confined:
                tensor_bits[out] = a
            layers[name] = (bits[name][0], a if confined else 8)
        elif code in _PASS_THROUGH_OPS:
            source, out = int(op.inputs[0]), int(op.outputs[0])
            if source in tensor_bits and quantization(source) == quantization(out):
                tensor_bits[out] = tensor_bits[source]
    return tensor_bits, layers


# --- stages (mixed.py shares them) ---------------------------------------------------------------------------


def load_keras(path: Path, kind: str) -> tuple[Any, list[InputSpec], str]:
    """The Keras model (Keras 3 or tf-keras), its inputs, and what loaded it."""
    if kind != "savedmodel":
        from tinyml.quant.source import open_float_model

        loaded = open_float_model(path, kind)
        return loaded.handle, loaded.inputs, loaded.loader
    import tf_keras

    from tinyml.quant.source import input_spec

    try:
        model = tf_keras.models.load_model(str(path), compile=False)
    except Exception as e:  # tf-keras raises ValueError, KeyError, OSError... with its reason in the text
        first = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise ModelFileError(
            f"{path}: tf-keras cannot load this SavedModel's Keras layers ({first[:200]})",
            "save the model again (model.save('model.keras')) and pass that file",
        ) from None
    inputs = [input_spec(path, t.name.split(":")[0], tuple(t.shape)) for t in model.inputs]
    return model, inputs, f"tf-keras {tf_keras.__version__}"


def require_classifier(keras_model: Any, carried: Any, path: Path, data: Dataset) -> bool:
    """The model scores classes (one output of shape (batch, classes), ending in softmax or in logits) and the
    labels number those classes; returns whether its scores are logits."""
    fix = "train it with your own loss (tensorflow-model-optimization), or quantize it without --qat"
    if len(keras_model.outputs) != 1:
        raise UnsupportedModelError(
            f"{path}: has {len(keras_model.outputs)} outputs; quantization-aware training trains classifiers, "
            "with one output scoring the classes",
            fix,
        )
    shape = tuple(keras_model.outputs[0].shape)
    last = carried.layer(carried.outputs[0])
    activation = "softmax" if last.kind == "Softmax" else last.activation if last.kind == "Activation" else "linear"
    if len(shape) != 2 or shape[1] is None or shape[1] < 2 or activation not in _OUTPUT_ACTIVATIONS:
        ends = f", ending in {activation}" if activation not in _OUTPUT_ACTIVATIONS else ""
        raise UnsupportedModelError(
            f"{path}: its output has shape {shape}{ends}; quantization-aware training trains classifiers, whose "
            "output scores the classes (logits or softmax)",
            fix,
        )
    classes = int(shape[1])
    assert data.labels is not None
    top = int(data.labels.max()) if len(data.labels) else 0
    if top >= classes:
        raise InputDataError(
            f"{data.path}: holds labels up to {top}, but the model scores {classes} classes",
            f"label the samples 0 … {classes - 1} (as many class sub-folders as the model has outputs)",
        )
    return _OUTPUT_ACTIVATIONS[activation]


def subset(data: Dataset, limit: int, seed: int) -> Dataset:
    """A seeded choice of at most `limit` of the samples (the training data standing in for calibration data)."""
    chosen = choose(data.n, limit, seed)
    labels = data.labels[chosen] if data.labels is not None else None
    return dataclasses.replace(data, inputs=[x[chosen] for x in data.inputs], labels=labels)


def range_samples(
    calib: str | Path | None,
    calib_source: Any,
    inputs: list[InputSpec],
    quant: QuantOptions,
    training: Dataset | None,
    progress: bool,
) -> Dataset:
    """The samples that set the quantization ranges: at most quant.samples of the calibration data, else as many
    of the training data (a seeded choice)."""
    if calib is not None:
        return read_data(
            calib,
            inputs,
            input_range=quant.input_range,
            limit=quant.samples,
            seed=quant.seed,
            progress=progress,
            source=calib_source,
        )
    assert training is not None
    return subset(training, quant.samples, quant.seed)


def seed_all(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, so that the same data and options train the same model here."""
    import tf_keras

    tf_keras.utils.set_random_seed(seed)


def fit(model: Any, data: Dataset, options: QatOptions, from_logits: bool, progress: bool) -> dict[str, Any]:
    """Train the fake-quantized model; returns what the metadata says about the training."""
    import tf_keras

    from tinyml.quant.progress import meter

    model.compile(
        optimizer=tf_keras.optimizers.Adam(options.learning_rate),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        metrics=["accuracy"],
    )
    x = data.inputs[0] if len(data.inputs) == 1 else data.inputs
    with meter(options.epochs * data.n, "training", progress) as done:
        history = model.fit(
            x,
            data.labels,
            epochs=options.epochs,
            batch_size=options.batch_size,
            shuffle=True,
            verbose=0,
            callbacks=[_progress_callback(done, data.n, options.batch_size)],
        )
    loss, accuracy = history.history["loss"][-1], history.history["accuracy"][-1]
    if not math.isfinite(loss):
        raise InputDataError(
            f"{data.path}: training diverged (the loss became {loss})",
            "lower --learning-rate, or check that the inputs are scaled as the model was trained (--input-range)",
        )
    return {
        "file": data.path.name,
        "kind": data.kind,
        "sha256": data.sha256,
        "samples": data.n,
        "classes": len(data.classes) if data.classes else int(data.labels.max()) + 1,
        "epochs": options.epochs,
        "loss": round(float(loss), 6),
        "accuracy": round(float(accuracy), 6),
    }


def _progress_callback(done: Callable[[int], None], n: int, batch_size: int) -> Any:
    """A tf-keras callback that advances the progress bar by each batch's samples."""
    import tf_keras

    class Progress(tf_keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            done(min(batch_size, n - batch * batch_size))

    return Progress()


# --- helpers --------------------------------------------------------------------------------------------------------


def layer_of(tensor_name: str, bits: dict[str, Any]) -> str | None:
    """The layer a converted tensor belongs to, by the name tfmot's wrapper gives it (".../quant_NAME/...")."""
    first = "/" + tensor_name.split(";")[0]
    return next((name for name in bits if f"/quant_{name}/" in first), None)


def _is_sub_byte(quantization: tuple[float, int] | None, bits: int) -> bool:
    if quantization is None:
        return False
    scale, zero_point = quantization
    return zero_point == -128 and math.isclose(scale, sub_byte_scale(bits), rel_tol=1e-6)


def _text(value: str | bytes | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")
