"""CMSIS-NN's arm_maximum_s8 / arm_minimum_s8 against TFLite Micro on every broadcast case, and one model with
MAXIMUM, MINIMUM, SUB, SQUARED_DIFFERENCE, PRELU, LEAKY_RELU and HARD_SWISH together on the emulated Cortex-M7.

Skipped, naming where tinyml looked, when CMSIS-NN is not found (set CMSIS_NN_ROOT and CMSIS_ROOT, or
`tinyml packs install`).
"""

from __future__ import annotations

import numpy as np
import pytest
from keras_models import convert
from support import CMSIS, assert_bit_exact, assert_runs_bit_exact, needs_cmsis, suite_cache

from tinyml import pipeline
from tinyml.kernels import cmsis_nn as cn
from tinyml.kernels.backends import select_backend
from tinyml.plan import PlanOptions
from tinyml.target.boards import load_board

#: (input 1 shape, input 2 shape), batch excluded: every broadcast pattern CMSIS-NN's pointer walk must get right
SHAPES = [
    ((8, 8, 16), (8, 8, 16)),
    ((7, 5, 3), (7, 5, 3)),
    ((8, 8, 16), (1, 1, 16)),
    ((8, 8, 16), (8, 1, 1)),
    ((1, 1, 5), (6, 4, 5)),
    ((6, 1, 16), (1, 7, 1)),
    ((5, 6, 3), (5, 6, 1)),
    ((5, 1, 3), (5, 6, 3)),
    ((1, 6, 3), (5, 1, 1)),
    ((9, 12), (1, 12)),
    ((2, 3, 4, 5), (1, 3, 1, 5)),
    ((4, 3, 2), (1, 1, 1)),
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One TINYML_CACHE for the module, in this process too: the CMSIS-NN library is built once per core."""
    path = suite_cache(tmp_path_factory)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TINYML_CACHE", str(path))
        yield path


def _layer(fn):
    import tensorflow as tf

    return tf.keras.layers.Lambda(lambda t: fn(*t))


@needs_cmsis
@pytest.mark.parametrize("op", ["MAXIMUM", "MINIMUM"])
def test_maximum_minimum_broadcasts_on_host(op, tmp_path, cache):
    """Every case of SHAPES, one output each, on CMSIS-NN's plain C kernels (the DSP and MVE builds walk the
    operands the same way; only their innermost loops differ)."""
    import tensorflow as tf

    fn = tf.maximum if op == "MAXIMUM" else tf.minimum
    shapes = [s for pair in SHAPES for s in pair]

    def build():
        inputs = [tf.keras.Input(s) for s in shapes]
        return tf.keras.Model(inputs, [_layer(fn)([a, b]) for a, b in zip(inputs[::2], inputs[1::2], strict=True)])

    path = convert(build, shapes, tmp_path / "m.tflite")
    assert CMSIS is not None
    backend = select_backend(load_board("host"), "cmsis-nn", str(CMSIS.nn), str(CMSIS.core))
    planned = assert_bit_exact(path, tmp_path, backend=backend, options=PlanOptions(patches="off"))
    kernels = [type(k) for op_, k in zip(planned.graph.ops, planned.plan.kernels, strict=True) if op_.type == op]
    assert kernels == [cn.CmsisMaximum if op == "MAXIMUM" else cn.CmsisMinimum] * len(SHAPES)
    assert "arm_nnfunctions.h" in (tmp_path / "project" / "model.c").read_text()


def _all_ops():
    """conv -> PRELU -> LEAKY_RELU -> HARD_SWISH, SUB with a fused RELU, MAXIMUM and MINIMUM (one broadcasting a
    constant), SQUARED_DIFFERENCE."""
    import tensorflow as tf

    L = tf.keras.layers
    bound = tf.constant(np.linspace(-0.5, 1.0, 6).astype(np.float32))
    x = tf.keras.Input((8, 8, 4))
    c = L.Conv2D(6, 3, padding="same")(x)
    p = L.PReLU(alpha_initializer=tf.keras.initializers.RandomUniform(-0.5, 1.5, seed=2), shared_axes=[1, 2])(c)
    h = L.Activation("hard_swish")(L.LeakyReLU(0.2)(p))
    s = L.ReLU()(h - c)
    m = _layer(tf.minimum)([_layer(tf.maximum)([s, c]), _layer(lambda t: t)([bound])])
    q = _layer(tf.math.squared_difference)([m, h])
    return tf.keras.Model(x, [q, _layer(tf.maximum)([h, L.Conv2D(1, 1)(x)])])


@needs_cmsis
def test_all_ops_on_the_emulated_cortex_m7(tmp_path, cache):
    """The seven ops in one model, run by `tinyml run` on mps2-an500 with CMSIS-NN's MAXIMUM and MINIMUM."""
    model = convert(_all_ops, [(8, 8, 4)], tmp_path / "all_ops.tflite")
    assert CMSIS is not None
    board = load_board("mps2-an500")
    backend = select_backend(board, "cmsis-nn", str(CMSIS.nn), str(CMSIS.core))
    planned = pipeline.plan(pipeline.load(model), board, backend, PlanOptions(patches="off"))
    ran = {(op.type, type(k).__name__) for op, k in zip(planned.graph.ops, planned.plan.kernels, strict=True)}
    types = {t for t, _ in ran}
    assert types >= {"SUB", "SQUARED_DIFFERENCE", "PRELU", "LEAKY_RELU", "HARD_SWISH", "MAXIMUM", "MINIMUM"}
    assert {("MAXIMUM", "CmsisMaximum"), ("MINIMUM", "CmsisMinimum")} <= ran
    assert_runs_bit_exact("mps2-an500", {"all_ops": model}, tmp_path, cache, CMSIS, "--patches", "off")
