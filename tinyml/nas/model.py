"""A candidate as a float Keras model, the form the search trains, the converter quantizes and users keep.

The layers are the ones TFLite's converter folds into single int8 ops (convolution + batch norm + ReLU becomes
one CONV_2D with a fused activation), so the converted model has the same ops, shapes and tensors as the graph
`tinyml.nas.graph` builds straight from the candidate, and the planner's figures for one hold for the other.
"""

from __future__ import annotations

from typing import Any

from tinyml.nas.space import Arch, Stage


def _conv_bn(L: Any, x: Any, channels: int, kernel: int, stride: int, relu: bool, name: str) -> Any:
    x = L.Conv2D(channels, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = L.BatchNormalization(name=f"{name}_bn")(x)
    return L.ReLU(name=f"{name}_relu")(x) if relu else x


def _block(L: Any, x: Any, st: Stage, stride: int, name: str) -> Any:
    """One block of a stage; the first block of a stage has its stride, the others stride 1."""
    c_in = int(x.shape[-1])
    if st.block == "conv":
        return _conv_bn(L, x, st.channels, st.kernel, stride, True, name)
    if st.block == "res":
        y = _conv_bn(L, x, st.channels, st.kernel, stride, True, f"{name}_a")
        y = _conv_bn(L, y, st.channels, st.kernel, 1, False, f"{name}_b")
        short = x if stride == 1 and c_in == st.channels else _conv_bn(L, x, st.channels, 1, stride, False, f"{name}_s")
        return L.ReLU(name=f"{name}_relu")(L.Add(name=f"{name}_add")([y, short]))
    # "mb": 1x1 expand (none at ratio 1), k x k depthwise, linear 1x1 project, residual when the shape keeps
    y = x
    if st.expand > 1:
        y = _conv_bn(L, y, c_in * st.expand, 1, 1, True, f"{name}_expand")
    y = L.DepthwiseConv2D(st.kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(y)
    y = L.ReLU(name=f"{name}_dw_relu")(L.BatchNormalization(name=f"{name}_dw_bn")(y))
    y = _conv_bn(L, y, st.channels, 1, 1, False, f"{name}_project")
    if stride == 1 and c_in == st.channels:
        y = L.Add(name=f"{name}_add")([y, x])
    return y


def build_keras(arch: Arch, channels: int, classes: int, seed: int | None = None) -> Any:
    """The float Keras model of `arch` for inputs of `channels` channels (at the candidate's resolution) and
    `classes` classes: softmax probabilities out. `seed` fixes the initial weights."""
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    L = keras.layers
    inputs = keras.Input((arch.resolution, arch.resolution, channels), name="image")
    x = _conv_bn(L, inputs, arch.stem, 3, arch.stem_stride, True, "stem")
    for i, st in enumerate(arch.stages):
        for j in range(st.depth):
            x = _block(L, x, st, st.stride if j == 0 else 1, f"s{i}b{j}")
    x = L.GlobalAveragePooling2D(name="pool")(x)
    outputs = L.Dense(classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=f"tinynas_{arch.key}")
