"""Keras models carried into tf-keras, the Keras that tensorflow-model-optimization (tfmot) trains, in the shape
TensorFlow's converter gives them in TFLite.

tfmot wraps tf-keras layers only, so a Keras 3 model (a `.keras` archive, or an `.h5` file Keras 3 wrote) is rebuilt
in tf-keras from each layer's config and weights; a Keras 2 `.h5` file is rebuilt the same way. On the way the
graph takes the form the int8 model will have, so that fake quantization sees what the int8 model computes:

  * a BatchNormalization after a convolution or dense layer is folded into its kernel and bias (its statistics
    stay frozen while fine-tuning, as they are frozen on the device);
  * a ReLU or ReLU6 after such a layer (a ReLU layer or an Activation) becomes that layer's activation, fused as
    TFLite fuses it, so that its weights are fake-quantized and its output is quantized once, after the clamp;
  * a softmax, sigmoid or tanh inside such a layer moves into an Activation layer after it, as TFLite computes it.

Only layers in CARRIED are rebuilt; any other is refused by name, as are options tf-keras lacks, layers used twice
and models nested in models. Initializers and constraints are not carried (the weights are; constraints only bound
further training), L1/L2 regularizers are.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import UnsupportedModelError

#: the layers quantization-aware training rebuilds in tf-keras (the ones tfmot and TFLite's int8 builtins share)
CARRIED = (
    "InputLayer",
    "Conv2D",
    "DepthwiseConv2D",
    "Dense",
    "BatchNormalization",
    "ReLU",
    "Activation",
    "Softmax",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Flatten",
    "Reshape",
    "Dropout",
    "Add",
    "Concatenate",
    "ZeroPadding2D",
)
#: layers with weights that quantization-aware training quantizes, and the attribute holding the weights
WEIGHTED = {"Conv2D": "kernel", "DepthwiseConv2D": "depthwise_kernel", "Dense": "kernel"}
#: activations a weighted layer keeps (TFLite fuses them), and those moved into a layer of their own
FUSED = ("linear", "relu", "relu6")
SPLIT = ("softmax", "sigmoid", "tanh")
#: layers taking a list of inputs
_MERGE = ("Add", "Concatenate")
_FIX = "rebuild the model from the layers tinyml trains ({}), or quantize it without --qat"


@dataclass
class Layer:
    """One layer of the carried graph: what tf-keras needs to rebuild it."""

    name: str
    #: its tf-keras class name
    kind: str
    #: its tf-keras config (without initializers)
    config: dict[str, Any]
    weights: list[np.ndarray]
    #: the layers (or model inputs) it reads, by name
    inputs: list[str]
    #: BatchNormalization and activation layers folded into it, by name
    absorbed: list[str] = field(default_factory=list)

    @property
    def weighted(self) -> bool:
        return self.kind in WEIGHTED

    @property
    def activation(self) -> str:
        return str(self.config.get("activation", "linear"))


@dataclass
class Carried:
    """A float Keras model as tf-keras layers, BatchNormalization folded and activations fused."""

    path: Path
    #: model inputs: name and shape without the batch dimension
    inputs: list[tuple[str, tuple[int, ...]]]
    #: in graph order
    layers: list[Layer]
    outputs: list[str]

    def layer(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.name == name)

    def weighted(self) -> list[Layer]:
        """The convolution, depthwise convolution and dense layers, in graph order."""
        return [layer for layer in self.layers if layer.weighted]

    def consumers(self, name: str) -> list[Layer]:
        return [layer for layer in self.layers if name in layer.inputs]

    def build(self, wrap: Callable[[Any, Layer], Any] | None = None, activations: dict[str, str] | None = None) -> Any:
        """The tf-keras functional model; `wrap(tf_layer, layer)` may wrap each layer (tfmot's annotation), and
        `activations` overrides the activations of weighted layers, ReLU layers and Activation layers by name."""
        import tf_keras

        tensors: dict[str, Any] = {}
        inputs = []
        for name, shape in self.inputs:
            tensors[name] = tf_keras.Input(shape=shape, name=name)
            inputs.append(tensors[name])
        built = []
        for layer in self.layers:
            config = dict(layer.config)
            if activations and layer.name in activations:
                if layer.kind == "ReLU":  # a ReLU layer clamps by its max_value
                    config["max_value"] = 6.0 if activations[layer.name] == "relu6" else None
                else:
                    config["activation"] = activations[layer.name]
            tf_layer = getattr(tf_keras.layers, layer.kind).from_config(config)
            outer = wrap(tf_layer, layer) if wrap else tf_layer
            args = [tensors[n] for n in layer.inputs]
            tensors[layer.name] = outer(args if layer.kind in _MERGE else args[0])
            built.append((tf_layer, layer))
        for tf_layer, layer in built:
            if layer.weights:
                tf_layer.set_weights(layer.weights)
        return tf_keras.Model(inputs, [tensors[n] for n in self.outputs])


def carry(model: Any, path: Path, inputs: list[tuple[str, tuple[int, ...]]]) -> Carried:
    """The Keras 3 or tf-keras `model` (loaded from `path`, with these inputs) as a Carried graph."""
    order, outputs, input_names = _walk(model, path)
    renamed = dict(zip(input_names, [name for name, _ in inputs], strict=True))
    layers = []
    for obj, sources in order:
        kind = type(obj).__name__
        if kind == "InputLayer":
            continue
        layers.append(
            Layer(obj.name, kind, _config(obj, kind, path), obj.get_weights(), [renamed.get(s, s) for s in sources])
        )
    carried = Carried(path, inputs, layers, [renamed.get(o, o) for o in outputs])
    _fold_batch_norms(carried)
    _fuse_activations(carried)
    _split_activations(carried)
    return carried


# --- reading the graph -------------------------------------------------------------------------------------------


def _walk(model: Any, path: Path) -> tuple[list[tuple[Any, list[str]]], list[str], list[str]]:
    """The model's layers in graph order, each with the names of the layers it reads; its outputs and inputs."""
    order: list[tuple[Any, list[str]]] = []
    node_of: dict[int, int] = {}

    def source(tensor: Any) -> Any:
        layer, node_index, tensor_index = tuple(tensor._keras_history)[:3]
        if tensor_index != 0:
            raise _refuse(path, layer, "has several outputs")
        if node_of.setdefault(id(layer), node_index) != node_index:
            raise _refuse(path, layer, "is used more than once in the model (a shared layer)")
        return layer, node_index

    def visit(tensor: Any) -> str:
        layer, node_index = source(tensor)
        if any(id(layer) == id(seen) for seen, _ in order):
            return str(layer.name)
        _require_layer(layer, path)
        node = layer._inbound_nodes[node_index]
        feeds = node.input_tensors
        feeds = list(feeds) if isinstance(feeds, list | tuple) else [] if feeds is None else [feeds]
        if type(layer).__name__ == "InputLayer":  # tf-keras: an input's node reads the input itself
            feeds = []
        names = [visit(t) for t in feeds]
        if not any(id(layer) == id(seen) for seen, _ in order):
            order.append((layer, names))
        return str(layer.name)

    outputs = [visit(t) for t in model.outputs]
    inputs = [str(source(t)[0].name) for t in model.inputs]
    return order, outputs, inputs


def _require_layer(layer: Any, path: Path) -> None:
    kind = type(layer).__name__
    if hasattr(layer, "layers") and kind not in CARRIED:
        raise UnsupportedModelError(
            f"{path}: layer {layer.name!r} is a whole model ({kind}) inside the model; quantization-aware "
            "training takes a flat model",
            "rebuild the model with the inner model's layers in line (or pass the inner model's layers to "
            "keras.Model(inputs, outputs) directly)",
        )
    if kind not in CARRIED:
        raise UnsupportedModelError(
            f"{path}: layer {layer.name!r} ({kind}) cannot be carried into quantization-aware training",
            _FIX.format(", ".join(k for k in CARRIED if k != "InputLayer")),
        )


def _refuse(path: Path, layer: Any, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"{path}: layer {layer.name!r} ({type(layer).__name__}) {why}; quantization-aware training cannot carry it",
        "give each use of a layer its own layer, with one output each",
    )


def _config(layer: Any, kind: str, path: Path) -> dict[str, Any]:
    """The layer's config as tf-keras' class of the same name takes it: options it lacks are refused unless unset."""
    import tf_keras

    cls = getattr(tf_keras.layers, kind)
    accepted = {"name", "trainable"}
    for base in cls.__mro__:  # subclasses pass some options on to their base (BatchNormalization's renorm_*)
        if "__init__" in vars(base):
            accepted |= {p for p in inspect.signature(base.__init__).parameters if p not in ("self", "args", "kwargs")}
    out: dict[str, Any] = {}
    for key, value in layer.get_config().items():
        if key == "dtype":
            _require_float32(layer, value, path)
        elif key.endswith(("_initializer", "_constraint")):
            continue  # the weights are copied; constraints only bound further training
        elif key.endswith("_regularizer"):
            if value is not None:
                out[key] = _regularizer(layer, key, value, path)
        elif key == "activation" and not isinstance(value, str):
            raise UnsupportedModelError(
                f"{path}: layer {layer.name!r} ({kind}) has a custom activation; quantization-aware training "
                "cannot carry it",
                "use a built-in activation (relu, relu6, softmax, sigmoid, tanh)",
            )
        elif key in accepted:
            out[key] = value
        elif value not in (None, False, 0, (), [], {}):
            raise UnsupportedModelError(
                f"{path}: layer {layer.name!r} ({kind}) sets {key}={value!r}, which tf-keras (the Keras "
                "quantization-aware training runs on) does not have",
                f"leave {key} unset in that layer",
            )
    return out


def _require_float32(layer: Any, dtype: Any, path: Path) -> None:
    """The layer computes in float32 (a Keras 3 DTypePolicy, a tf-keras policy or a plain name)."""
    name = dtype
    if isinstance(dtype, dict):
        name = dtype.get("config", {}).get("name", "float32")
    if name not in (None, "float32"):
        raise UnsupportedModelError(
            f"{path}: layer {layer.name!r} computes in {name}; quantization-aware training starts from float32",
            "save the model with float32 layers (keras.config.set_dtype_policy('float32'))",
        )


def _regularizer(layer: Any, key: str, value: Any, path: Path) -> Any:
    """An L1, L2 or L1L2 regularizer in tf-keras; others are refused."""
    import tf_keras

    kind = value.get("class_name") if isinstance(value, dict) else None
    params = value.get("config", {}) if isinstance(value, dict) else {}
    if kind in ("L1", "L2", "L1L2"):
        return tf_keras.regularizers.L1L2(l1=float(params.get("l1", 0.0)), l2=float(params.get("l2", 0.0)))
    raise UnsupportedModelError(
        f"{path}: layer {layer.name!r} has a {kind or 'custom'} {key.replace('_', ' ')}, which quantization-aware "
        "training cannot carry",
        f"use an L1 or L2 regularizer, or none, for {key}",
    )


# --- the TFLite shape --------------------------------------------------------------------------------------------


def _only_consumer(carried: Carried, producer: Layer, layer: Layer) -> bool:
    """Whether `layer` is the only reader of `producer`, which is no model output."""
    return producer.name not in carried.outputs and [c.name for c in carried.consumers(producer.name)] == [layer.name]


def _remove(carried: Carried, layer: Layer, into: Layer) -> None:
    """Drop `layer`, which `into` absorbed: its readers (and the model's outputs) read `into` instead."""
    carried.layers.remove(layer)
    for other in carried.layers:
        other.inputs = [into.name if n == layer.name else n for n in other.inputs]
    carried.outputs = [into.name if n == layer.name else n for n in carried.outputs]
    into.absorbed.append(layer.name)


def _producer(carried: Carried, layer: Layer) -> Layer | None:
    """The weighted layer `layer` alone reads, with a linear activation and no other reader, or None."""
    if len(layer.inputs) != 1:
        return None
    producer = next((p for p in carried.layers if p.name == layer.inputs[0]), None)
    if producer is None or not producer.weighted or producer.activation != "linear":
        return None
    return producer if _only_consumer(carried, producer, layer) else None


def _fold_batch_norms(carried: Carried) -> None:
    for bn in [layer for layer in carried.layers if layer.kind == "BatchNormalization"]:
        producer = _producer(carried, bn)
        axis = bn.config.get("axis", -1)
        axis = axis[0] if isinstance(axis, list | tuple) and len(axis) == 1 else axis
        channels_last = axis in (-1, 1 if producer is not None and producer.kind == "Dense" else 3)
        if producer is None or not channels_last:
            raise UnsupportedModelError(
                f"{carried.path}: layer {bn.name!r} (BatchNormalization) does not follow a convolution or dense "
                "layer (with no activation, read by nothing else, normalizing its channels), so it cannot be "
                "folded into it as TFLite does",
                "put each BatchNormalization right after a Conv2D, DepthwiseConv2D or Dense layer",
            )
        _fold(producer, bn)
        _remove(carried, bn, producer)


def _fold(producer: Layer, bn: Layer) -> None:
    """Fold bn into producer's kernel and bias: w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β."""
    w = list(bn.weights)
    gamma = w.pop(0) if bn.config.get("scale", True) else None
    beta = w.pop(0) if bn.config.get("center", True) else None
    mean, var = w
    factor = 1.0 / np.sqrt(var.astype(np.float64) + float(bn.config.get("epsilon", 1e-3)))
    if gamma is not None:
        factor = factor * gamma
    kernel = producer.weights[0].astype(np.float64)
    bias = producer.weights[1].astype(np.float64) if producer.config.get("use_bias", True) else np.zeros_like(mean)
    if producer.kind == "DepthwiseConv2D":
        kernel = kernel * factor.reshape(kernel.shape[2], kernel.shape[3])
    else:
        kernel = kernel * factor
    bias = (bias - mean) * factor + (beta if beta is not None else 0.0)
    producer.weights = [kernel.astype(np.float32), bias.astype(np.float32)]
    producer.config["use_bias"] = True


def _relu_kind(layer: Layer) -> str | None:
    """ "relu" or "relu6" when `layer` is a plain ReLU or ReLU6 (ReLU layer or Activation), else None."""
    if layer.kind == "Activation" and layer.activation in ("relu", "relu6"):
        return layer.activation
    if layer.kind != "ReLU" or layer.config.get("negative_slope") or layer.config.get("threshold"):
        return None
    cap = layer.config.get("max_value")
    return "relu" if cap is None else "relu6" if float(cap) == 6.0 else None


def _fuse_activations(carried: Carried) -> None:
    for layer in list(carried.layers):
        kind = _relu_kind(layer)
        producer = _producer(carried, layer) if kind else None
        if producer is not None and kind is not None:
            producer.config["activation"] = kind
            _remove(carried, layer, producer)


def _split_activations(carried: Carried) -> None:
    for layer in carried.weighted():
        act = layer.activation
        if act in FUSED:
            continue
        if act not in SPLIT:
            raise UnsupportedModelError(
                f"{carried.path}: layer {layer.name!r} ({layer.kind}) uses the activation {act!r}, which "
                "quantization-aware training cannot quantize",
                f"use one of {', '.join(FUSED + SPLIT)}",
            )
        taken = {other.name for other in carried.layers}
        name, i = f"{layer.name}_{act}", 1
        while name in taken:
            i += 1
            name = f"{layer.name}_{act}_{i}"
        split = Layer(name, "Activation", {"name": name, "activation": act}, [], [layer.name])
        layer.config["activation"] = "linear"
        for other in carried.layers:
            other.inputs = [name if n == layer.name else n for n in other.inputs]
        carried.outputs = [name if n == layer.name else n for n in carried.outputs]
        carried.layers.insert(carried.layers.index(layer) + 1, split)
