"""Models shaped like the ones people deploy on microcontrollers, each leaning on operators that tinyml used to
refuse: a face-landmark network with PReLU, a detector with a nearest-neighbour upsampling head, a LeNet ending in
LOG_SOFTMAX, a ShuffleNet/MobileNetV3-style classifier (channel shuffle by TRANSPOSE, hard-swish,
squeeze-and-excite); the detector also as camera boards feed it, uint8 in and out (QUANTIZE uint8 <-> int8).
Small, seeded Keras models converted to int8 TFLite; each runs bit-exact with TFLite Micro on the host and on the
emulated Cortex-M7, in no more SRAM than TFLite Micro's arena."""

from __future__ import annotations

from pathlib import Path

import pytest
from int16_models import convert_uint8_io
from keras_models import convert
from support import assert_bit_exact, assert_runs_bit_exact, suite_cache

from tinyml.errors import ToolchainError
from tinyml.frontend.tflite import load_model
from tinyml.reference.tflm import tflm_arena_bytes
from tinyml.target.packs import find_cmsis


def _landmarks():
    """BlazeFace/face-mesh style: strided convs with per-channel PReLU, a residual block, 2x6 landmark coordinates."""
    import tensorflow as tf

    layers = tf.keras.layers
    x = inp = tf.keras.Input((32, 32, 3))
    for filters in (8, 16):
        x = layers.Conv2D(filters, 3, strides=2, padding="same")(x)
        x = layers.PReLU(shared_axes=[1, 2])(x)
    y = layers.DepthwiseConv2D(3, padding="same")(x)
    y = layers.Conv2D(16, 1)(y)
    x = layers.PReLU(shared_axes=[1, 2])(layers.Add()([x, y]))
    x = layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inp, layers.Dense(12)(x))


def _detector():
    """A YOLO-style two-scale head: a backbone, the deep map upsampled (RESIZE_NEAREST_NEIGHBOR) and concatenated
    with the shallow one, a 1x1 conv predicting boxes and classes per cell."""
    import tensorflow as tf

    layers = tf.keras.layers
    inp = tf.keras.Input((32, 32, 3))
    shallow = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    shallow = layers.Conv2D(12, 3, strides=2, padding="same", activation="relu")(shallow)
    deep = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(shallow)
    up = layers.Lambda(lambda t: tf.image.resize(t, (8, 8), method="nearest"))(deep)  # Keras 3's UpSampling2D tiles
    x = layers.Concatenate()([shallow, up])
    return tf.keras.Model(inp, layers.Conv2D(3 * 7, 1)(x))


def _lenet():
    """LeNet-5 on 28x28 digits, ending in LOG_SOFTMAX as PyTorch-born models do."""
    import keras
    import tensorflow as tf

    layers = tf.keras.layers
    x = inp = tf.keras.Input((28, 28, 1))
    x = layers.Conv2D(6, 5, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 5, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(32, activation="relu")(x)
    return tf.keras.Model(inp, keras.ops.log_softmax(layers.Dense(10)(x)))


def _shufflenet():
    """ShuffleNet's channel shuffle (reshape, TRANSPOSE, reshape) between grouped convs, MobileNetV3's hard-swish
    and a squeeze-and-excite gate."""
    import keras
    import tensorflow as tf

    layers = tf.keras.layers
    inp = tf.keras.Input((16, 16, 8))
    x = layers.Conv2D(16, 1, groups=2)(inp)
    x = layers.Activation("hard_swish")(x)
    x = layers.Reshape((16, 16, 2, 8))(x)
    x = keras.ops.transpose(x, (0, 1, 2, 4, 3))
    x = layers.Reshape((16, 16, 16))(x)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    gate = layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = layers.Conv2D(16, 1, activation="hard_sigmoid")(gate)
    x = layers.Multiply()([x, gate])
    x = layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inp, layers.Dense(10)(x))


ZOO = {
    # name: (builder, input shape without the batch, the ops that make the model a test of the new operators)
    "landmarks": (_landmarks, (32, 32, 3), {"PRELU"}),
    "detector": (_detector, (32, 32, 3), {"RESIZE_NEAREST_NEIGHBOR", "CONCATENATION"}),
    "lenet": (_lenet, (28, 28, 1), {"LOG_SOFTMAX"}),
    "shufflenet": (_shufflenet, (16, 16, 8), {"TRANSPOSE", "HARD_SWISH"}),
}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("zoo")
    models = {name: convert(build, [shape], root / f"{name}.tflite") for name, (build, shape, _) in ZOO.items()}
    models["detector_uint8"] = convert_uint8_io(_detector, (32, 32, 3), root / "detector_uint8.tflite")
    return models


@pytest.mark.parametrize("name", [*ZOO, "detector_uint8"])
def test_on_the_host_in_less_sram_than_tflite_micro(name, zoo, tmp_path):
    model = zoo[name]
    wanted = {"QUANTIZE", *ZOO["detector"][2]} if name == "detector_uint8" else ZOO[name][2]
    assert wanted <= {op.type for op in load_model(model).ops}, "the converter no longer emits the ops"
    planned = assert_bit_exact(model, tmp_path)
    assert planned.plan.peak <= tflm_arena_bytes(model), (planned.plan.peak, tflm_arena_bytes(model))


def test_on_the_emulated_cortex_m7(zoo, tmp_path, tmp_path_factory, monkeypatch):
    """All of them on mps2-an500 with the CMSIS-NN backend (which falls back to the portable kernels where it has
    none), two at a time."""
    try:
        cmsis, where = find_cmsis()
    except ToolchainError as e:
        cmsis, where = None, e.message
    if cmsis is None:
        pytest.skip(f"CMSIS-NN not found (looked for {where})")
    cache = suite_cache(tmp_path_factory)
    monkeypatch.setenv("TINYML_CACHE", str(cache))  # the CMSIS-NN library is built there once, then shared
    assert_runs_bit_exact("mps2-an500", zoo, tmp_path, cache, cmsis)
