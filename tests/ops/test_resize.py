"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR definitions: the references against TFLite Micro for every
coordinate mode (no C involved), validation, and their patch copies (receptive fields, whole-image bytes)."""

from __future__ import annotations

import numpy as np
import pytest
from keras_models import convert

from tinyml.frontend.tflite import load_model
from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT16, INT32
from tinyml.ops import Unsupported, definition
from tinyml.ops.resize import bilinear_axis, nearest_indices
from tinyml.ops.window import Region
from tinyml.passes import check_op
from tinyml.plan.patches import PatchConfig, expand, stage_candidates
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


def _conv_resize_conv(kind: str, mode: str, size: tuple[int, int], out: tuple[int, int], batch: int = 1):
    """conv -> resize -> conv on a (batch, *size, 2) input, with small integer weights."""
    rng = np.random.default_rng(0)
    b = GraphBuilder()
    x = b.input((batch, *size, 2))
    y = b.conv2d(x, b.weights(rng.integers(-3, 4, (2, 3, 3, 2))), padding="SAME")
    attrs = {"align_corners": mode == "align_corners", "half_pixel_centers": mode == "half_pixel"}
    up = b.op(kind, [y, b.const(list(out), INT32)], attrs)
    z = b.conv2d(up, b.weights(rng.integers(-3, 4, (2, 3, 3, 2))), padding="SAME")
    return b.graph([z])


KINDS = ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR")
MODES = ("half_pixel", "align_corners", "neither")
#: (input size, output size): twice, a non-integer upscale, a downscale, uneven and one-row ones
SCALES = (((8, 8), (16, 16)), ((5, 5), (8, 8)), ((9, 7), (4, 3)), ((5, 6), (8, 13)), ((1, 4), (3, 8)))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_patch_copies_compute_the_whole_images_bytes(kind, mode):
    """A patch stage runs the resize on tiles (it is inside every stage that reaches it), and the expanded
    graph's reference gives the whole graph's bytes on every grid, border tiles and uneven ones included."""
    for size, out in SCALES:
        graph = _conv_resize_conv(kind, mode, size, out)
        resize = graph.ops[1]
        assert definition(resize).patchable(resize) and 2 in stage_candidates(graph)
        x = np.random.default_rng(1).integers(-128, 128, (1, *size, 2), dtype=np.int8)
        want = run(graph, [x])[0]
        for rows, cols in ((2, 2), (3, 2), (4, 4)):
            expanded = expand(graph, PatchConfig(2, rows, cols))
            copies = [op for op in expanded.ops if op.type == kind]
            assert len(copies) == min(rows, out[0]) * min(cols, out[1])
            for op in expanded.ops:
                check_op(op)
            assert np.array_equal(run(expanded, [x])[0], want), (size, out, rows, cols)


def test_patch_copies_of_two_resizes_of_one_map():
    """One map downscaled twice (nearest reads every other row or so, bilinear with half-pixel centres pairs of
    rows) and added: each copy gathers exactly the rows and columns its own tables read from the patch buffer of
    their union."""
    rng = np.random.default_rng(2)
    b = GraphBuilder()
    x = b.input((1, 14, 12, 2))
    a = b.conv2d(x, b.weights(rng.integers(-3, 4, (2, 3, 3, 2))), padding="SAME")
    u = b.op("RESIZE_NEAREST_NEIGHBOR", [a, b.const([6, 5], INT32)])
    v = b.op("RESIZE_BILINEAR", [a, b.const([6, 5], INT32)], {"half_pixel_centers": True})
    z = b.conv2d(b.add(u, v), b.weights(rng.integers(-3, 4, (2, 3, 3, 2))), padding="SAME")
    graph = b.graph([z])
    assert 4 in stage_candidates(graph)
    x = rng.integers(-128, 128, (1, 14, 12, 2), dtype=np.int8)
    for rows, cols in ((2, 2), (3, 4)):
        expanded = expand(graph, PatchConfig(4, rows, cols))
        gathered = {id(op.outputs[0]) for op in expanded.ops if op.type == "TINYML_COPY_REGION"}
        assert any(op.type.startswith("RESIZE_") and id(op.inputs[0]) in gathered for op in expanded.ops)
        for op in expanded.ops:
            check_op(op)
        assert np.array_equal(run(expanded, [x])[0], run(graph, [x])[0])


def test_receptive_fields_are_the_rows_and_columns_the_tables_read():
    """Worked by hand from TFLite's coordinate formulas, for output rows 4-7 (and all 16 columns)."""

    def field(kind, mode, size, out):
        op = _conv_resize_conv(kind, mode, size, out).ops[1]
        r = definition(op).receptive_field(op, Region(4, 8, 0, out[1]), 0)
        return (r.y0, r.y1, r.x0, r.x1)

    nearest, bilinear = KINDS
    # 2x: nearest reads floor(y / 2) = rows 2-3, with half-pixel centres floor((y + .5) / 2) too
    assert field(nearest, "neither", (8, 8), (16, 16)) == (2, 4, 0, 8)
    assert field(nearest, "half_pixel", (8, 8), (16, 16)) == (2, 4, 0, 8)
    # aligned corners: round(y * 7/15) for y = 4..7 = 2, 2, 3, 3
    assert field(nearest, "align_corners", (8, 8), (16, 16)) == (2, 4, 0, 8)
    # bilinear 2x with half-pixel centres: y * 512 - 256 = 1792..3328, rows 1-2 .. 3-4
    assert field(bilinear, "half_pixel", (8, 8), (16, 16)) == (1, 5, 0, 8)
    # bilinear 5 -> 8 (scale 640): y * 640 = 2560..4480, rows 2-3 .. 4 (upper clamped to 4)
    assert field(bilinear, "neither", (5, 5), (8, 8)) == (2, 5, 0, 5)
    # 9 -> 16: nearest floor(y * 9/16) for y = 4..7 = 2, 2, 3, 3
    assert field(nearest, "neither", (9, 9), (16, 16)) == (2, 4, 0, 9)
    # downscale 16 -> 8: nearest reads rows 8, 10, 12, 14; bilinear with half-pixel centres y * 2048 + 512,
    # rows 8-9 .. 14-15 (and columns 0-1 .. 14-15)
    assert field(nearest, "neither", (16, 16), (8, 8)) == (8, 15, 0, 15)
    assert field(bilinear, "half_pixel", (16, 16), (8, 8)) == (8, 16, 0, 16)


def test_patch_stages_stop_before_a_resize_they_cannot_tile():
    """A resize over more than one image has no patch copy (patches are tiles of one image): it is not patchable,
    so a stage ends before it; nor is a patch's copy itself (it is already a tile)."""
    graph = _conv_resize_conv("RESIZE_BILINEAR", "neither", (8, 8), (16, 16), batch=2)
    resize = graph.ops[1]
    assert not definition(resize).patchable(resize)
    single = _conv_resize_conv("RESIZE_BILINEAR", "neither", (8, 8), (16, 16))
    (copy, *_) = (op for op in expand(single, PatchConfig(2, 2, 2)).ops if op.type == "RESIZE_BILINEAR")
    assert copy.attrs.tile is not None and not definition(copy).patchable(copy)
