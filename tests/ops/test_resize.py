"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR definitions: the references against TFLite Micro for every
coordinate mode (no C involved), validation, and patch planning stopping before them."""

from __future__ import annotations

import numpy as np
import pytest
from keras_models import convert

from tinyml.errors import UsageError
from tinyml.frontend.tflite import load_model
from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT16, INT32
from tinyml.ops import Unsupported, definition
from tinyml.ops.resize import bilinear_axis, nearest_indices
from tinyml.passes import check_op
from tinyml.plan import PlanOptions, plan_model
from tinyml.plan.patches import PatchConfig, stage_candidates
from tinyml.reference import run
from tinyml.reference.inputs import random_inputs
from tinyml.reference.tflm import tflm_outputs


def _refusal(op) -> str:
    with pytest.raises(Unsupported) as e:
        check_op(op)
    return str(e.value)


def _all_modes():
    """One input resized every way TensorFlow can: both kinds, three coordinate modes, up and down (12 outputs)."""
    import tensorflow as tf

    v1 = tf.compat.v1.image

    def build():
        x = tf.keras.Input((5, 7, 2))
        outs = []
        for size in ((9, 4), (3, 11)):
            for kind, old in (("nearest", v1.resize_nearest_neighbor), ("bilinear", v1.resize_bilinear)):
                outs.append(tf.keras.layers.Lambda(lambda x, k=kind, s=size: tf.image.resize(x, s, method=k))(x))
                for align in (True, False):
                    outs.append(
                        tf.keras.layers.Lambda(
                            lambda x, f=old, s=size, a=align: f(x, s, align_corners=a, half_pixel_centers=False)
                        )(x)
                    )
        return tf.keras.Model(x, outs)

    return build


def test_references_match_tflite_micro_in_every_mode(tmp_path):
    path = convert(_all_modes(), [(5, 7, 2)], tmp_path / "m.tflite")
    graph = load_model(path)
    modes = {(op.type, op.attrs.align_corners, op.attrs.half_pixel_centers) for op in graph.ops}
    assert len(modes) == 6 and len(graph.ops) == 12
    for op in graph.ops:
        check_op(op)
    for seed in range(3):
        inputs = random_inputs(path, seed)
        for got, want in zip(run(graph, inputs), tflm_outputs(path, inputs), strict=True):
            assert np.array_equal(got, want)


def test_coordinate_tables():
    # TFLite's GetNearestNeighbor: 3 -> 7 with half-pixel centres reads floor((y + 0.5) * 3/7)
    assert nearest_indices(3, 7, False, True).tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert nearest_indices(4, 7, True, False).tolist() == [0, 1, 1, 2, 2, 3, 3]  # round(y * 0.5), halves up
    assert nearest_indices(8, 3, False, False).tolist() == [0, 2, 5]
    # bilinear 2 -> 4 with half-pixel centres: scale 512, first row at -256 (weight -256 on row 0's neighbour)
    rows = bilinear_axis(2, 4, False, True)
    assert rows.lower.tolist() == [0, 0, 0, 1] and rows.upper.tolist() == [0, 1, 1, 1]
    assert rows.weight.tolist() == [-256, 256, 768, 256]


def test_validation():
    b = GraphBuilder()
    x = b.input((1, 3, 4, 2))
    b.op("RESIZE_BILINEAR", [x, b.const([5, 5], INT32)], {"align_corners": True, "half_pixel_centers": True})
    assert _refusal(b.ops[0]) == "align_corners together with half_pixel_centers (TFLite Micro refuses it)"
    b = GraphBuilder()
    size = b.input((2,), type=INT32, scale=None)
    b.op("RESIZE_NEAREST_NEIGHBOR", [b.input((1, 3, 4, 2)), size], shape=(1, 6, 8, 2))
    assert _refusal(b.ops[0]) == "output size computed at run time"
    b = GraphBuilder()
    b.op("RESIZE_NEAREST_NEIGHBOR", [b.input((1, 3, 4, 2), type=INT16), b.const([6, 8], INT32)])
    assert _refusal(b.ops[0]) == "tensor 't1' is int16; int8 expected"


def test_patch_stages_stop_before_a_resize():
    """A resize maps output pixels to input pixels through the whole image's scale, so a patch stage cannot run
    one on tiles: candidates end before it, and asking for a stage through it is refused by name."""
    b = GraphBuilder()
    x = b.input((1, 8, 8, 2))
    y = b.conv2d(x, b.weights(np.ones((2, 3, 3, 2))), padding="SAME")
    up = b.op("RESIZE_BILINEAR", [y, b.const([16, 16], INT32)])
    z = b.conv2d(up, b.weights(np.ones((2, 3, 3, 2))), padding="SAME")
    graph = b.graph([z])
    resize = graph.ops[1]
    assert not definition(resize).patchable(resize)
    assert stage_candidates(graph) == [1]
    with pytest.raises(UsageError) as e:
        plan_model(graph, options=PlanOptions(patches=PatchConfig(2, 2, 2)))
    assert "cannot run the first 2 ops patch by patch" in e.value.message
