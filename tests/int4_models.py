"""Tiny TFLite models with INT4 weights, for the int4 kernel tests.

TensorFlow's converter stores a constant weight as INT4 (two signed nibbles per
byte, low nibble first, values in [-7, 7]) when it reaches the op through a
4-bit narrow-range fake quant. Every activation is fake-quantized too, so the
converter needs no representative data set and the file is reproducible from
the seed. Layers are described by small dataclasses and stacked in order; the
quantization ranges of the activations are asymmetric so that input and output
offsets are non-zero, as in real models.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@dataclass(frozen=True)
class Conv:
    """CONV_2D with per-output-channel int4 weights (or per-tensor with `per_channel=False`)."""

    filters: int
    kernel: tuple[int, int] = (3, 3)
    strides: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    dilation: tuple[int, int] = (1, 1)
    per_channel: bool = True
    relu: bool = True
    #: grouped convolution: each group of filters / groups outputs reads channels / groups inputs
    groups: int = 1


@dataclass(frozen=True)
class Depthwise:
    """DEPTHWISE_CONV_2D with per-output-channel int4 weights (or per-tensor)."""

    kernel: tuple[int, int] = (3, 3)
    strides: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    multiplier: int = 1
    dilation: tuple[int, int] = (1, 1)
    per_channel: bool = True
    relu: bool = False


@dataclass(frozen=True)
class Dense:
    """FULLY_CONNECTED on the flattened input, per-tensor int4 weights (all TFLite Micro accepts for int4)."""

    units: int
    per_channel: bool = False
    relu: bool = False


Layer = Conv | Depthwise | Dense


Chain = tuple[tuple[int, ...], Sequence[Layer]]


def int4_model(path: Path, input_shape: tuple[int, ...], layers: Sequence[Layer], seed: int = 0, bits: int = 4) -> Path:
    """Stack `layers` on an int8 input of `input_shape` (batch included), convert to TFLite, write `path`.

    `bits=8` gives the same model with int8 weights (the same float weights), for comparisons of size and speed.
    """
    return int4_branches(path, [(input_shape, layers)], seed, bits)


def int4_branches(path: Path, chains: Sequence[Chain], seed: int = 0, bits: int = 4) -> Path:
    """One model of several independent chains, each from its own input to its own output: many layer variants
    in one file, so one build and one emulator run check them all."""
    import tensorflow as tf

    fake_quant = tf.quantization.fake_quant_with_min_max_vars
    per_channel = tf.quantization.fake_quant_with_min_max_vars_per_channel

    def quantized(w: np.ndarray, channel_per_last_axis: bool) -> tf.Tensor:
        """The weight through a narrow-range fake quant: per channel along its last axis, or per tensor."""
        if channel_per_last_axis:
            bound = np.maximum(np.abs(w).reshape(-1, w.shape[-1]).max(axis=0), 1e-3).astype(np.float32)
            return per_channel(tf.constant(w), -bound, bound, num_bits=bits, narrow_range=True)
        bound = float(np.abs(w).max())
        return fake_quant(tf.constant(w), -bound, bound, num_bits=bits, narrow_range=True)

    def chain(y: tf.Tensor, layers: Sequence[Layer], rng: np.random.Generator) -> tf.Tensor:
        y = fake_quant(y, -1.5, 2.5)
        for layer in layers:
            channels = y.shape[-1]
            if isinstance(layer, Conv):
                depth = channels // layer.groups
                w = _draw(rng, (*layer.kernel, depth, layer.filters), np.prod(layer.kernel) * depth)
                q = quantized(w, layer.per_channel)
                y = tf.nn.conv2d(y, q, layer.strides, layer.padding, dilations=layer.dilation)
            elif isinstance(layer, Depthwise):
                # per channel of the output: quantize as (kh, kw, channels * multiplier), then split
                w = _draw(rng, (*layer.kernel, channels * layer.multiplier), np.prod(layer.kernel))
                q = tf.reshape(quantized(w, layer.per_channel), (*layer.kernel, channels, layer.multiplier))
                y = tf.nn.depthwise_conv2d(y, q, [1, *layer.strides, 1], layer.padding, dilations=layer.dilation)
            else:
                y = tf.reshape(y, (y.shape[0], -1))
                w = _draw(rng, (y.shape[1], layer.units), y.shape[1])
                y = tf.matmul(y, quantized(w, layer.per_channel))
            y = y + rng.uniform(-0.5, 0.5, y.shape[-1]).astype(np.float32)
            # without RELU an asymmetric range, so that the next layer has a non-zero input offset
            y = fake_quant(tf.nn.relu(y), 0.0, 6.0) if layer.relu else fake_quant(y, -6.0, 7.5)
        return y

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32) for shape, _ in chains])
        def __call__(self, *xs):  # type: ignore[no-untyped-def]
            rng = np.random.default_rng(seed)  # here, so that any retrace draws the same weights
            outs = [chain(x, layers, rng) for x, (_, layers) in zip(xs, chains, strict=True)]
            return outs[0] if len(outs) == 1 else outs

    model = Model()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([model.__call__.get_concrete_function()], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


def _draw(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    """Weights scaled by the fan-in, so that outputs spread over their range instead of saturating."""
    return (rng.uniform(-1, 1, shape) * 2.5 / np.sqrt(fan_in)).astype(np.float32)
