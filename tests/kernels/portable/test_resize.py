"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR against TFLite Micro: each of TensorFlow's coordinate modes (half-pixel
centres, aligned corners, neither), up and down, odd sizes."""

from __future__ import annotations

import pytest
from keras_models import convert
from support import assert_bit_exact

from tinyml.frontend.tflite import load_model


def _resize(kind, size, mode):
    """A Lambda body: TF2's resize (half-pixel centres), or TF1's with aligned corners or with neither."""
    import tensorflow as tf

    v1 = tf.compat.v1.image
    if mode == "half_pixel":
        return lambda x: tf.image.resize(x, size, method=kind)
    fn = v1.resize_nearest_neighbor if kind == "nearest" else v1.resize_bilinear
    return lambda x: fn(x, size, align_corners=mode == "align_corners", half_pixel_centers=False)


SIZES = {
    # name: (input shape, output size)
    "up": ((3, 4, 2), (7, 9)),
    "down": ((9, 7, 3), (4, 3)),
    "double": ((4, 5, 2), (8, 10)),
    "mixed": ((5, 2, 1), (3, 7)),
}
MODES = ("half_pixel", "align_corners", "neither")


def _check(tmp_path, kind, size_case, mode):
    import tensorflow as tf

    shape, size = SIZES[size_case]
    fn = _resize(kind, size, mode)

    def build():
        x = tf.keras.Input(shape)
        return tf.keras.Model(x, tf.keras.layers.Lambda(fn)(x))

    path = convert(build, [shape], tmp_path / "m.tflite")
    (op,) = load_model(path).ops
    assert op.type == ("RESIZE_NEAREST_NEIGHBOR" if kind == "nearest" else "RESIZE_BILINEAR")
    assert (op.attrs.half_pixel_centers, op.attrs.align_corners) == (mode == "half_pixel", mode == "align_corners")
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size_case", sorted(SIZES))
def test_resize_nearest(size_case, mode, tmp_path):
    _check(tmp_path, "nearest", size_case, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size_case", sorted(SIZES))
def test_resize_bilinear(size_case, mode, tmp_path):
    _check(tmp_path, "bilinear", size_case, mode)


def test_upsampling2d_bilinear(tmp_path):
    """Keras's bilinear UpSampling2D after a ReLU conv (zero point -128): the resize keeps the bytes' quantization.
    (Keras 3 makes the nearest one from repeats, TILE and RESHAPE, not a resize.)"""
    import tensorflow as tf

    def build():
        return tf.keras.Sequential(
            [
                tf.keras.Input((5, 3, 2)),
                tf.keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
                tf.keras.layers.UpSampling2D((2, 3), interpolation="bilinear"),
            ]
        )

    path = convert(build, [(5, 3, 2)], tmp_path / "m.tflite")
    assert load_model(path).ops[-1].type.startswith("RESIZE_")
    assert_bit_exact(path, tmp_path)


@pytest.mark.parametrize("kind", ["RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"])
def test_patch_copies_share_their_tables(kind):
    """A patch stage's copies of a resize emit their tiles' parts of the tables, each row band's rows and each
    column band's columns once (codegen shares equal arrays): never more flash than the whole op's tables, and here
    less (shifted to their patches' origins, bands repeat: 8 bytes, not 32, for nearest; 56, not 96, bilinear)."""
    import numpy as np

    from tinyml import pipeline
    from tinyml.ir.builder import GraphBuilder
    from tinyml.ir.types import INT32
    from tinyml.plan import PatchConfig, PlanOptions

    b = GraphBuilder()
    x = b.input((1, 5, 5, 2))
    y = b.conv2d(x, b.weights(np.ones((2, 3, 3, 2))), padding="SAME")
    up = b.op(kind, [y, b.const([8, 8], INT32)])  # 5 -> 8: the bands' tables differ
    graph = b.graph([b.conv2d(up, b.weights(np.ones((2, 3, 3, 2))), padding="SAME")])
    board = pipeline.target("host")
    backend = pipeline.backend_for(board, pipeline.CompileOptions(kernels="portable"))
    flash = {}
    for patches in ("off", PatchConfig(2, 4, 4)):
        code = pipeline.render(pipeline.plan(graph, board, backend, PlanOptions(patches=patches)), board, backend)
        layers = [layer for layer in code.layers if layer.op.type == kind]
        assert len(layers) == (1 if patches == "off" else 16)
        flash[patches == "off"] = sum(layer.const_bytes for layer in layers)
    assert 0 < flash[False] < flash[True], flash
