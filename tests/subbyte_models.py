"""Tiny standard TFLite models whose activations lie on 16 or 4 levels and whose weights take 4 values.

A b-bit activation is a ReLU6 output fake-quantized with 8 bits over [0, 255 * 6 / (2^b - 1)]: the converter
then gives an int8 tensor of scale 6 / (2^b - 1) and zero point -128, and the fused RELU6 clamp confines it to
-128 .. -128 + 2^b - 1. A 2-bit weight is fake-quantized with 8 bits over [-128 s, 127 s] (s per output channel,
or per tensor for dense layers), so the converter stores int8 weights -2 .. 1 of scale s. These are the forms
quantization-aware training gives (tinyml/quant/fakequant.py); TFLite Micro runs them as ordinary int8 models, so
it is the bit-exact oracle of the packed code. Every tensor is fake-quantized, so the converter needs no
representative data and the file follows from the seed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: the real range of an 8-bit activation that is not after a ReLU6 (asymmetric, so zero points are non-zero)
WIDE = (-5.0, 7.0)


@dataclass(frozen=True)
class Conv:
    """CONV_2D, per-channel weights; `groups` > 1 makes a grouped convolution."""

    filters: int
    groups: int = 1
    kernel: tuple[int, int] = (3, 3)
    strides: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    dilation: tuple[int, int] = (1, 1)
    weight_bits: int = 8
    #: 8, 4 or 2; below 8 the output is a ReLU6 on 2^bits levels
    act_bits: int = 8
    #: with act_bits 8: "relu6" (range [0, 6]) or "none" (range WIDE)
    activation: str = "relu6"


@dataclass(frozen=True)
class Depthwise:
    """DEPTHWISE_CONV_2D, per-channel weights."""

    kernel: tuple[int, int] = (3, 3)
    strides: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    multiplier: int = 1
    dilation: tuple[int, int] = (1, 1)
    weight_bits: int = 8
    act_bits: int = 8
    activation: str = "relu6"


@dataclass(frozen=True)
class Dense:
    """FULLY_CONNECTED on the flattened input (a RESHAPE first), per-tensor weights."""

    units: int
    weight_bits: int = 8
    act_bits: int = 8
    activation: str = "none"


@dataclass(frozen=True)
class Pool:
    """MAX_POOL_2D or AVERAGE_POOL_2D ("max" or "avg"), its output quantized as its input."""

    kind: str = "max"
    size: tuple[int, int] = (2, 2)
    strides: tuple[int, int] = (2, 2)
    padding: str = "VALID"


@dataclass(frozen=True)
class Add:
    """ADD of the current tensor and the output of layer `skip` (an index into the layers; -1: the input)."""

    skip: int
    act_bits: int = 8
    activation: str = "relu6"


Layer = Conv | Depthwise | Dense | Pool | Add


def act_range(bits: int, activation: str) -> tuple[float, float]:
    """The fake-quantization range of an activation: b levels of a ReLU6 below 8 bits (see the module docstring)."""
    if bits < 8:
        return 0.0, 255 * 6.0 / (2**bits - 1)
    return (0.0, 6.0) if activation == "relu6" else WIDE


def subbyte_model(path: Path, input_shape: tuple[int, ...], layers: Sequence[Layer], seed: int = 0) -> Path:
    """Stack `layers` on an int8 input of `input_shape` (batch included), convert to TFLite, write `path`."""
    import tensorflow as tf

    fake_quant = tf.quantization.fake_quant_with_min_max_vars
    per_channel = tf.quantization.fake_quant_with_min_max_vars_per_channel
    rng = np.random.default_rng(seed)

    def weights(shape: tuple[int, ...], bits: int, channels_last: bool) -> tf.Tensor:
        """Float weights on the grid of `bits` (2: s * {-2, -1, 0, 1}) and their fake quantization."""
        fan_in = int(np.prod(shape[:-1])) if channels_last else int(shape[0])
        channels = shape[-1]
        if bits == 2:
            step = rng.uniform(0.5, 1.5, channels).astype(np.float32) / np.sqrt(fan_in)
            w = (rng.integers(-2, 2, shape) * step).astype(np.float32)
            lo, hi = -128.0 * step, 127.0 * step
        else:
            w = (rng.uniform(-1, 1, shape) / np.sqrt(fan_in)).astype(np.float32)
            bound = np.abs(w).reshape(-1, channels).max(axis=0)
            lo, hi = -bound * 128 / 127, bound
        if channels_last:
            return per_channel(tf.constant(w), lo, hi, num_bits=8)
        return fake_quant(tf.constant(w), float(lo.min()), float(hi.max()), num_bits=8)

    def activate(y: tf.Tensor, bits: int, activation: str) -> tf.Tensor:
        if bits < 8 or activation == "relu6":
            y = tf.nn.relu6(y)
        return fake_quant(y, *act_range(bits, activation))

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec(input_shape, tf.float32)])
        def __call__(self, x):  # type: ignore[no-untyped-def]
            y = fake_quant(x, *WIDE)
            outputs = [y]
            for layer in layers:
                if isinstance(layer, Conv):
                    cin = int(y.shape[-1])
                    w = weights((*layer.kernel, cin // layer.groups, layer.filters), layer.weight_bits, True)
                    bias = tf.constant(rng.uniform(-0.5, 0.5, layer.filters).astype(np.float32))
                    y = tf.nn.conv2d(y, w, (1, *layer.strides, 1), layer.padding, dilations=layer.dilation) + bias
                    y = activate(y, layer.act_bits, layer.activation)
                elif isinstance(layer, Depthwise):
                    cin = int(y.shape[-1])
                    flat = weights((*layer.kernel, cin * layer.multiplier), layer.weight_bits, True)
                    w = tf.reshape(flat, (*layer.kernel, cin, layer.multiplier))
                    bias = tf.constant(rng.uniform(-0.5, 0.5, cin * layer.multiplier).astype(np.float32))
                    y = (
                        tf.nn.depthwise_conv2d(y, w, (1, *layer.strides, 1), layer.padding, dilations=layer.dilation)
                        + bias
                    )
                    y = activate(y, layer.act_bits, layer.activation)
                elif isinstance(layer, Dense):
                    flat = tf.reshape(y, (int(y.shape[0]), -1))
                    w = weights((int(flat.shape[-1]), layer.units), layer.weight_bits, False)
                    bias = tf.constant(rng.uniform(-0.5, 0.5, layer.units).astype(np.float32))
                    y = activate(tf.matmul(flat, w) + bias, layer.act_bits, layer.activation)
                elif isinstance(layer, Pool):
                    pool = tf.nn.max_pool2d if layer.kind == "max" else tf.nn.avg_pool2d
                    y = pool(y, layer.size, layer.strides, layer.padding)
                else:
                    y = activate(y + outputs[layer.skip + 1], layer.act_bits, layer.activation)
                outputs.append(y)
            return y

    model = Model()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([model.__call__.get_concrete_function()], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path
