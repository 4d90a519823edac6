"""Fake quantization at per-layer bit widths, on tensorflow-model-optimization (tfmot) and tf-keras.

tfmot gives the machinery (annotation, wrappers, its 8-bit scheme's quantizers and layout transforms); this module
adds what it lacks for tinyml's bit widths:

  * LayerConfig: one QuantizeConfig for convolution, depthwise and dense layers at any weight and activation bits.
    8- and 4-bit weights use tfmot's LastValueQuantizer (symmetric, narrow range [-(2^(b-1)-1), 2^(b-1)-1]; the
    converter stores 4-bit ones as TFLite INT4 tensors), per output channel for convolutions and per tensor for
    dense layers (TFLite Micro takes only per-tensor int4 fully connected weights). tfmot's own 8-bit scheme
    leaves the weights of a
    convolution followed by a ReLU layer unquantized and refuses relu6 activations; the carried graph
    (carry.py) fuses those into the layer, and this config quantizes its output once, after the activation.
  * DepthwiseWeights: per-channel ranges for depthwise kernels (kh, kw, in, multiplier): one per output channel,
    as TFLite lays them out; tfmot's per-axis quantizer takes the last axis, the multiplier, only.
  * TwoBitWeights: 2-bit weights, the four levels −2s, −s, 0, s of a step s per channel. Written as an 8-bit fake
    quantization over [−128·s, 127·s], so that the converter stores int8 weights −2 … 1 with scale s and zero
    point 0, which TFLite Micro's kernels take. (With num_bits=2 the converter stores them on another grid.)
  * SubByteActivation: b-bit activations after a ReLU6 as 2^b levels on [0, 6]. Written as an 8-bit fake
    quantization over [0, 255·6/(2^b − 1)] of the ReLU6 output (the same grid, 6/(2^b − 1) apart), so TensorFlow's
    converter emits a standard int8 tensor with scale 6/(2^b − 1) and zero point −128, whose fused RELU6 clamp
    confines it to −128 … −128 + 2^b − 1. (With num_bits=b the converter emits sub-byte activation types TFLite
    cannot run.)

  * OutputConfig: a sub-byte output for the ReLU after an Add (made a ReLU6, which TFLite fuses into the ADD), so
    that mixed precision can shrink a residual branch's output too.

The layout keeps tfmot's 8-bit transforms that still apply to a carried graph: a quantizer after each input,
one range for a concatenation and its inputs, and an Add's ReLU fused into it.

Importing this module imports TensorFlow and tfmot; qat.py imports it only when it trains.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
import tf_keras

from tinyml.quant.carry import WEIGHTED, Carried, Layer
from tinyml.quant.options import sub_byte_scale

# tfmot wraps tf-keras (Keras 2) layers. On import it sets TF_USE_LEGACY_KERAS and reads tf.keras: resolved first
# here, tf.keras stays Keras 3 for the rest of the process (the user's code, other tests) and tfmot, seeing Keras 3,
# takes tf_keras itself.
_ = tf.keras.__name__
import tensorflow_model_optimization as tfmot  # noqa: E402

_Q = tfmot.quantization.keras
_T = _Q.default_8bit.default_8bit_transforms
_Pattern = _Q.graph_transformations.transforms.LayerPattern


def weight_quantizer(kind: str, bits: int) -> Any:
    """The quantizer of `kind`'s weights at `bits` (per channel but for dense layers)."""
    if bits == 2:
        return TwoBitWeights(per_axis=kind != "Dense", depthwise=kind == "DepthwiseConv2D")
    args = {"num_bits": bits, "symmetric": True, "narrow_range": True}
    if kind == "DepthwiseConv2D":
        return DepthwiseWeights(per_axis=True, **args)
    return _Q.quantizers.LastValueQuantizer(per_axis=kind != "Dense", **args)


def _channels_last(kernel: Any, depthwise: bool) -> Any:
    """A depthwise kernel (kh, kw, in, multiplier) as TFLite lays it out, (1, kh, kw, in × multiplier): its last
    axis is then the output channel, as for the other kernels."""
    if not depthwise:
        return kernel
    kh, kw, cin, mult = kernel.shape
    return tf.reshape(kernel, (1, kh, kw, cin * mult))


class DepthwiseWeights(_Q.quantizers.LastValueQuantizer):
    """LastValueQuantizer with one range per output channel of a depthwise kernel (in × multiplier of them)."""

    def build(self, tensor_shape: Any, name: str, layer: Any) -> dict[str, Any]:
        channels = int(tensor_shape[-2]) * int(tensor_shape[-1])
        return {
            key: layer.add_weight(
                f"{name}_{key[:3]}",
                shape=(channels,),
                initializer=tf_keras.initializers.Constant(bound),
                trainable=False,
            )
            for key, bound in (("min_var", -6.0), ("max_var", 6.0))
        }

    def __call__(self, inputs: Any, training: Any, weights: dict[str, Any], **kwargs: Any) -> Any:
        flat = _channels_last(inputs, depthwise=True)  # tfmot's per-channel ranges take 2-D and 4-D tensors only
        return tf.reshape(super().__call__(flat, training, weights, **kwargs), inputs.shape)


class TwoBitWeights(_Q.quantizers.Quantizer):
    """2-bit weights −2s, −s, 0, s (see the module docstring). The step s is the last value's, as for tfmot's
    LastValueQuantizer: the smallest that keeps every weight within [−2s, s]."""

    def __init__(self, per_axis: bool, depthwise: bool) -> None:
        self.per_axis = per_axis
        self.depthwise = depthwise

    def build(self, tensor_shape: Any, name: str, layer: Any) -> dict[str, Any]:
        return {}

    def __call__(self, inputs: Any, training: Any, weights: dict[str, Any], **kwargs: Any) -> Any:
        w = _channels_last(inputs, self.depthwise)
        axes = list(range(len(w.shape) - 1)) if self.per_axis else None
        high, low = tf.reduce_max(w, axis=axes), tf.reduce_min(w, axis=axes)
        step = tf.maximum(tf.maximum(high, -low / 2.0), 1e-8)
        if self.per_axis:
            q = tf.quantization.fake_quant_with_min_max_vars_per_channel(w, -128.0 * step, 127.0 * step, num_bits=8)
        else:
            q = tf.quantization.fake_quant_with_min_max_vars(w, -128.0 * step, 127.0 * step, num_bits=8)
        return tf.reshape(q, inputs.shape)

    def get_config(self) -> dict[str, Any]:
        return {"per_axis": self.per_axis, "depthwise": self.depthwise}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TwoBitWeights) and other.get_config() == self.get_config()

    def __hash__(self) -> int:
        return hash(("TwoBitWeights", self.per_axis, self.depthwise))


class SubByteActivation(_Q.quantizers.Quantizer):
    """b-bit activations of a ReLU6 output: 2^b levels on [0, 6] (see the module docstring)."""

    def __init__(self, bits: int) -> None:
        self.bits = bits

    def build(self, tensor_shape: Any, name: str, layer: Any) -> dict[str, Any]:
        return {}

    def __call__(self, inputs: Any, training: Any, weights: dict[str, Any], **kwargs: Any) -> Any:
        top = 255 * sub_byte_scale(self.bits)
        return tf.quantization.fake_quant_with_min_max_args(inputs, min=0.0, max=top, num_bits=8, narrow_range=False)

    def get_config(self) -> dict[str, Any]:
        return {"bits": self.bits}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SubByteActivation) and other.bits == self.bits

    def __hash__(self) -> int:
        return hash(("SubByteActivation", self.bits))


class LayerConfig(_Q.QuantizeConfig):
    """A convolution, depthwise or dense layer at `weight_bits` and `activation_bits`: its weights fake-quantized,
    its output (after its fused ReLU/ReLU6) quantized once."""

    def __init__(self, kind: str, weight_bits: int, activation_bits: int, quantize_output: bool = True) -> None:
        self.kind = kind
        self.weight_bits = weight_bits
        self.activation_bits = activation_bits
        #: tfmot's concatenation transform turns this off for a concatenation's inputs
        self.quantize_output = quantize_output
        self.weight_quantizer = weight_quantizer(kind, weight_bits)
        self.output_quantizer = (
            SubByteActivation(activation_bits)
            if activation_bits < 8
            else _Q.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)
        )

    def get_weights_and_quantizers(self, layer: Any) -> list[tuple[Any, Any]]:
        return [(getattr(layer, WEIGHTED[self.kind]), self.weight_quantizer)]

    def get_activations_and_quantizers(self, layer: Any) -> list[tuple[Any, Any]]:
        return []

    def set_quantize_weights(self, layer: Any, quantize_weights: list[Any]) -> None:
        setattr(layer, WEIGHTED[self.kind], quantize_weights[0])

    def set_quantize_activations(self, layer: Any, quantize_activations: list[Any]) -> None:
        pass

    def get_output_quantizers(self, layer: Any) -> list[Any]:
        return [self.output_quantizer] if self.quantize_output else []

    def get_config(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "weight_bits": self.weight_bits,
            "activation_bits": self.activation_bits,
            "quantize_output": self.quantize_output,
        }


class OutputConfig(_Q.QuantizeConfig):
    """A layer without weights whose output alone is quantized, at `activation_bits` below 8: the ReLU (made a
    ReLU6) after an Add, which TFLite fuses into the ADD."""

    def __init__(self, activation_bits: int) -> None:
        self.activation_bits = activation_bits

    def get_weights_and_quantizers(self, layer: Any) -> list[tuple[Any, Any]]:
        return []

    def get_activations_and_quantizers(self, layer: Any) -> list[tuple[Any, Any]]:
        return []

    def set_quantize_weights(self, layer: Any, quantize_weights: list[Any]) -> None:
        pass

    def set_quantize_activations(self, layer: Any, quantize_activations: list[Any]) -> None:
        pass

    def get_output_quantizers(self, layer: Any) -> list[Any]:
        return [SubByteActivation(self.activation_bits)]

    def get_config(self) -> dict[str, Any]:
        return {"activation_bits": self.activation_bits}


class _AddReLU(_T.LayerReLUQuantize):
    """tfmot's ReLU fusion, for Add only: weighted layers carry their ReLU already (and keep their config)."""

    def pattern(self) -> Any:
        return _Pattern("ReLU", inputs=[_Pattern("Add")])


class _AddReLUActivation(_T.LayerReLUQuantize):
    def pattern(self) -> Any:
        return _Pattern("Activation", config={"activation": "relu"}, inputs=[_Pattern("Add")])


class _AddReLU6Activation(_T.LayerReLUQuantize):
    """An Activation("relu") after an Add made a ReLU6 for sub-byte outputs: fused as the ReLU it was."""

    def pattern(self) -> Any:
        return _Pattern("Activation", config={"activation": "relu6"}, inputs=[_Pattern("Add")])


class _Layout(_Q.QuantizeLayoutTransform):
    def apply(self, model: Any, layer_quantize_map: dict[str, Any]) -> Any:
        transforms = [
            _T.InputLayerQuantize(),
            _T.ConcatTransform6Inputs(),
            _T.ConcatTransform5Inputs(),
            _T.ConcatTransform4Inputs(),
            _T.ConcatTransform3Inputs(),
            _T.ConcatTransform(),
            _AddReLU(),
            _AddReLUActivation(),
            _AddReLU6Activation(),
        ]
        return _Q.graph_transformations.model_transformer.ModelTransformer(
            model, transforms, set(layer_quantize_map.keys()), layer_quantize_map
        ).transform()


class _Scheme(_Q.default_8bit.Default8BitQuantizeScheme):
    """tfmot's 8-bit scheme for the layers without a LayerConfig, with the layout above."""

    def get_layout_transformer(self) -> Any:
        return _Layout()


def custom_objects() -> dict[str, Any]:
    return {
        "LayerConfig": LayerConfig,
        "DepthwiseWeights": DepthwiseWeights,
        "TwoBitWeights": TwoBitWeights,
        "SubByteActivation": SubByteActivation,
        "_AddReLU": _AddReLU,
        "_AddReLUActivation": _AddReLUActivation,
        "_AddReLU6Activation": _AddReLU6Activation,
        "OutputConfig": OutputConfig,
    }


def fake_quantized(carried: Carried, bits: dict[str, tuple[int, int]]) -> tuple[Any, Any]:
    """The float tf-keras model and its fake-quantized twin (weights shared at the start) for per-layer `bits`
    (weight, activation) of every weighted layer, and of ReLU layers after an Add that get sub-byte outputs (their
    weight bits unused). Layers at sub-byte activation bits compute a ReLU6."""
    relu6 = {name: "relu6" for name, (_, a) in bits.items() if a < 8}
    float_model = carried.build(activations=relu6)

    def annotate(tf_layer: Any, layer: Layer) -> Any:
        config = None
        if layer.weighted:
            config = LayerConfig(layer.kind, *bits[layer.name])
        elif layer.name in bits and bits[layer.name][1] < 8:
            config = OutputConfig(bits[layer.name][1])
        return _Q.quantize_annotate_layer(tf_layer, quantize_config=config)

    with _Q.quantize_scope(custom_objects()):
        annotated = carried.build(wrap=annotate, activations=relu6)
        return float_model, _Q.quantize_apply(annotated, scheme=_Scheme())


def init_ranges(qmodel: Any, float_model: Any, inputs: list[np.ndarray], batch: int = 64) -> None:
    """Start every activation range at what the float model computes on `inputs` (calibration, as post-training
    quantization does), instead of tfmot's [-6, 6], which its moving averages leave only slowly."""
    observed: dict[str, Any] = {}  # layer name -> (min_var, max_var) of its output quantizer
    for layer in qmodel.layers:
        if isinstance(layer, _Q.QuantizeWrapper) and getattr(layer, "_output_quantizer_vars", None):
            observed[layer.layer.name] = layer._output_quantizer_vars
    names = [n for n in observed if _has_layer(float_model, n)]
    if names:
        probe = tf_keras.Model(float_model.inputs, [float_model.get_layer(n).output for n in names])
        values = probe.predict(inputs if len(inputs) > 1 else inputs[0], batch_size=batch, verbose=0)
        values = values if isinstance(values, list) else [values]
        for name, v in zip(names, values, strict=True):
            _set_range(observed[name], v)
    for layer in qmodel.layers:  # the quantizers tfmot puts after each input
        qvars = getattr(layer, "quantizer_vars", None)
        if qvars and "min_var" in qvars:
            source = layer._inbound_nodes[0].inbound_layers
            position = [t.name for t in qmodel.inputs].index(source.output.name)
            _set_range(qvars, inputs[position])


def calibrated(carried: Carried, bits: dict[str, tuple[int, int]], inputs: list[np.ndarray]) -> Any:
    """The fake-quantized model at per-layer `bits`, ready to convert without training: its weight ranges taken from
    the weights (one forward pass in training mode, where tfmot's weight quantizers record them), then every
    activation range set from what the float model computes on the calibration `inputs`, as post-training
    quantization sets them."""
    float_model, qmodel = fake_quantized(carried, bits)
    first = [x[:1] for x in inputs]
    qmodel(first if len(first) > 1 else first[0], training=True)
    init_ranges(qmodel, float_model, inputs)
    return qmodel


def _has_layer(model: Any, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def _set_range(qvars: dict[str, Any], values: np.ndarray) -> None:
    qvars["min_var"].assign(min(float(np.min(values)), 0.0))
    qvars["max_var"].assign(max(float(np.max(values)), 0.0))
