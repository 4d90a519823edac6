"""TRANSPOSE, SPLIT, SPLIT_V, SLICE, STRIDED_SLICE, GATHER, DEPTH_TO_SPACE and SPACE_TO_DEPTH against TFLite Micro,
on the host per op and attribute corner, and with the resizes in one model on the emulated Cortex-M7."""

from __future__ import annotations

import numpy as np
import pytest
from keras_models import convert
from support import assert_bit_exact, assert_runs_bit_exact, compile_host, host_outputs, tinyml

from tinyml.errors import RunError, ToolchainError
from tinyml.frontend.tflite import load_model
from tinyml.reference.tflm import tflm_outputs
from tinyml.target.build import run_host
from tinyml.target.packs import find_cmsis


def _lambda_model(shape, fn, after=None):
    """A build function: one input through `fn` (a Lambda of raw tf ops), then `after` (Keras layers) if given."""
    import tensorflow as tf

    def build():
        x = tf.keras.Input(shape)
        y = tf.keras.layers.Lambda(fn)(x)
        return tf.keras.Model(x, after(y) if after else y)

    return build


def _check(tmp_path, shape, fn, op_type, after=None):
    path = convert(_lambda_model(shape, fn, after), [shape], tmp_path / "m.tflite")
    ops = load_model(path).ops
    assert op_type in [op.type for op in ops], [op.type for op in ops]
    assert_bit_exact(path, tmp_path)
    return ops


# --- TRANSPOSE ---

TRANSPOSE_CASES = {
    # name: (input shape without batch, permutation with batch)
    "swap_hw": ((4, 5, 3), [0, 2, 1, 3]),
    "channels_first": ((4, 5, 3), [0, 3, 1, 2]),
    "reverse": ((4, 5, 3), [0, 3, 2, 1]),
    "rank3": ((7, 5), [0, 2, 1]),
    "rank5": ((2, 3, 4, 5), [0, 3, 1, 4, 2]),
}


@pytest.mark.parametrize("case", sorted(TRANSPOSE_CASES))
def test_transpose(case, tmp_path):
    import tensorflow as tf

    shape, perm = TRANSPOSE_CASES[case]
    _check(tmp_path, shape, lambda x: tf.transpose(x, perm), "TRANSPOSE")


# --- SPLIT / SPLIT_V ---


@pytest.mark.parametrize("axis", [1, 2, -1])
def test_split_outputs(axis, tmp_path):
    """Equal parts, each a model output (an op with several outputs)."""
    import tensorflow as tf

    ops = _check(tmp_path, (6, 4, 3 * 2), lambda x: tf.split(x, 2 if axis == 2 else 3, axis=axis), "SPLIT")
    assert len(ops[-1].outputs) == (2 if axis == 2 else 3)


def test_split_feeds_layers(tmp_path):
    """The parts of one split go different ways and meet again: the planner keeps every output alive until read."""
    import tensorflow as tf

    def after(parts):
        a, b, c = parts
        conv = tf.keras.layers.Conv2D(2, 3, padding="same")(b)
        return tf.keras.layers.Add()([tf.keras.layers.Add()([a, conv]), c])

    _check(tmp_path, (5, 6, 6), lambda x: tf.split(x, 3, axis=3), "SPLIT", after)


@pytest.mark.parametrize(("sizes", "axis"), [([1, 3, 2], 2), ([2, -1], 3), ([3, 1, 1, 1], 1)])
def test_split_v(sizes, axis, tmp_path):
    import tensorflow as tf

    _check(tmp_path, (6, 6, 5), lambda x: tf.split(x, sizes, axis=axis), "SPLIT_V")


# --- SLICE / STRIDED_SLICE ---


@pytest.mark.parametrize(
    ("begin", "size"),
    [([0, 1, 2, 0], [1, 2, 3, 2]), ([0, 0, 1, 1], [1, -1, -1, 2]), ([0, 2, 0, 0], [1, 3, 6, 3])],
    ids=["inner", "to_end", "rows"],
)
def test_slice(begin, size, tmp_path):
    import tensorflow as tf

    _check(tmp_path, (5, 6, 3), lambda x: tf.slice(x, begin, size), "SLICE")


STRIDED_CASES = {
    "steps": lambda x: x[:, ::2, 1:5, :],
    "channel_step": lambda x: x[:, 1:4, :, ::3],
    "reversed": lambda x: x[:, ::-1, 5:0:-2, :],
    "shrink_row": lambda x: x[:, 2, :, 1:],
    "shrink_channel": lambda x: x[:, :, 1:7:3, 2],
    "negative_begin": lambda x: x[:, -3:, -5:-1, :],
}


@pytest.mark.parametrize("case", sorted(STRIDED_CASES))
def test_strided_slice(case, tmp_path):
    _check(tmp_path, (6, 8, 5), STRIDED_CASES[case], "STRIDED_SLICE")


# --- GATHER ---


@pytest.mark.parametrize(
    ("positions", "axis"),
    [([3, 0, 3, 1], 3), ([4, 0], 1), ([[1, 2], [0, 5]], 2), ([2], -1)],
    ids=["channels", "rows", "2d_positions", "one"],
)
def test_gather(positions, axis, tmp_path):
    import tensorflow as tf

    _check(tmp_path, (5, 6, 4), lambda x: tf.gather(x, positions, axis=axis), "GATHER")


def test_gather_batch_dims(tmp_path):
    import tensorflow as tf

    ops = _check(tmp_path, (5, 6), lambda x: tf.gather(x, [[4, 0, 2]], axis=2, batch_dims=1), "GATHER")
    assert ops[-1].attrs.batch_dims == 1


# --- DEPTH_TO_SPACE / SPACE_TO_DEPTH ---


@pytest.mark.parametrize(("shape", "block"), [((3, 4, 8), 2), ((2, 3, 18), 3), ((3, 2, 4), 2)])
def test_depth_to_space(shape, block, tmp_path):
    import tensorflow as tf

    _check(tmp_path, shape, lambda x: tf.nn.depth_to_space(x, block), "DEPTH_TO_SPACE")


@pytest.mark.parametrize(("shape", "block"), [((4, 6, 3), 2), ((6, 3, 2), 3), ((2, 2, 1), 2)])
def test_space_to_depth(shape, block, tmp_path):
    import tensorflow as tf

    _check(tmp_path, shape, lambda x: tf.nn.space_to_depth(x, block), "SPACE_TO_DEPTH")


# --- all of them together, on the emulated Cortex-M7 ---


def _every_layout_op():
    """conv -> SPACE_TO_DEPTH -> SPLIT -> (SPLIT_V, TRANSPOSE -> DEPTH_TO_SPACE); resizes of the parts, a SLICE, a
    reversing STRIDED_SLICE and a GATHER of channels, joined by a conv; one SPLIT_V part is a second model output."""
    import tensorflow as tf

    L = tf.keras.layers

    def build():
        x = tf.keras.Input((8, 8, 3))
        y = L.Conv2D(8, 3, padding="same", activation="relu")(x)
        y = L.Lambda(lambda t: tf.nn.space_to_depth(t, 2))(y)  # 4x4x32
        p1, p2 = L.Lambda(lambda t: tf.split(t, 2, axis=3))(y)  # 4x4x16 each
        q1, q2, q3 = L.Lambda(lambda t: tf.split(t, [4, 8, 4], axis=3))(p1)
        t = L.Lambda(lambda t: tf.transpose(t, [0, 2, 1, 3]))(p2)
        d = L.Lambda(lambda t: tf.nn.depth_to_space(t, 2))(t)  # 8x8x4
        r = L.Lambda(lambda t: tf.image.resize(t, (8, 8), method="bilinear"))(q2)  # 8x8x8
        nearest = tf.compat.v1.image.resize_nearest_neighbor
        n = L.Lambda(lambda t: nearest(t, (8, 8), align_corners=True, half_pixel_centers=False))(q1)
        s = L.Lambda(lambda t: tf.slice(t, [0, 0, 0, 2], [1, 8, 8, 4]))(r)
        st = L.Lambda(lambda t: t[:, ::-1, :, :])(d)
        g = L.Lambda(lambda t: tf.gather(t, [3, 1, 0, 2], axis=3))(n)
        out = L.Conv2D(6, 1)(L.Concatenate()([s, st, g]))
        return tf.keras.Model(x, [out, q3])

    return build


def _cmsis():
    try:
        return find_cmsis()
    except ToolchainError:
        return None, "a CMSIS tree that is not one"


def test_every_layout_op_on_the_emulated_m7(tmp_path):
    """One model using all ten ops, run by the firmware on QEMU's Cortex-M7 (mps2-an500), compared with TFLM."""
    cmsis, where = _cmsis()
    if cmsis is None:
        pytest.skip(f"CMSIS-NN not found (looked for {where})")
    path = convert(_every_layout_op(), [(8, 8, 3)], tmp_path / "layout.tflite")
    types = {op.type for op in load_model(path).ops}
    ours = {"TRANSPOSE", "SPLIT", "SPLIT_V", "SLICE", "STRIDED_SLICE", "GATHER", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH"}
    assert ours | {"RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"} <= types, types
    assert_bit_exact(path, tmp_path / "host")
    (tmp_path / "m7").mkdir()
    assert_runs_bit_exact("mps2-an500", {"layout": path}, tmp_path / "m7", tmp_path / "cache", cmsis)


def _with_positions(path, fn, output_shape):
    """A model of an int8 (1, 4, 5, 6) input and int32 (1, 3) positions in [0, 6), joined by `fn(x, positions)`."""
    import tensorflow as tf

    x = tf.keras.Input((4, 5, 6), batch_size=1)
    positions = tf.keras.Input((3,), batch_size=1, dtype="int32")
    model = tf.keras.Model([x, positions], tf.keras.layers.Lambda(fn, output_shape=output_shape)([x, positions]))
    names = [t.name for t in model.inputs]  # the converter may reorder inputs: feed them by name
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(16):
            values = rng.uniform(-1, 1, (1, 4, 5, 6)).astype(np.float32)
            yield dict(zip(names, [values, rng.integers(0, 6, (1, 3)).astype(np.int32)], strict=True))

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


def test_gather_positions_computed_at_run_time(tmp_path):
    """Positions as a second (int32) model input (batch_dims 1): read from the arena, checked one by one; a position
    outside the axis fails the inference in TFLite Micro and in tinyml's firmware alike."""
    import tensorflow as tf

    path = _with_positions(tmp_path / "m.tflite", lambda t: tf.gather(t[0], t[1], axis=3, batch_dims=1), (4, 5, 3))
    graph = load_model(path)
    (gather,) = [op for op in graph.ops if op.type == "GATHER"]
    assert not gather.input(1).is_const
    int8_first = [t.type.np_dtype == np.int8 for t in graph.inputs]
    app, _ = compile_host(path, tmp_path / "project")
    for seed in range(3):
        values = np.random.default_rng(seed).integers(-128, 128, (1, 4, 5, 6)).astype(np.int8)
        positions = np.random.default_rng(seed).integers(0, 6, (1, 3)).astype(np.int32)
        inputs = [values, positions] if int8_first[0] else [positions, values]
        ref = tflm_outputs(path, inputs)
        assert np.array_equal(host_outputs(app, inputs, ref)[0], ref[0])
    bad = [values, np.array([[0, 6, 1]], np.int32)]
    with pytest.raises(RunError):
        run_host(app, b"".join(x.tobytes() for x in (bad if int8_first[0] else bad[::-1])))
    with pytest.raises(RuntimeError):
        tflm_outputs(path, bad if int8_first[0] else bad[::-1])


def test_int32_slice_is_refused_by_name(tmp_path):
    """Slicing the int32 positions themselves (a STRIDED_SLICE on an int32 activation) is refused: the op, the
    tensor and the type named, exit status 12, no traceback."""
    import tensorflow as tf

    path = _with_positions(tmp_path / "m.tflite", lambda t: tf.gather(t[0], t[1][0], axis=3), (1, 4, 5, 3))
    proc = tinyml("report", str(path), "--board", "host")
    assert proc.returncode == 12 and "Traceback" not in proc.stderr, proc.stderr
    assert "STRIDED_SLICE" in proc.stderr and "is int32; int8 expected" in proc.stderr
