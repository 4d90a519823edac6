"""Patch-based inference: stage expansion, automatic choice, and bit-exact outputs on the host and on QEMU."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from keras_models import convert
from support import assert_bit_exact, mlperf_dir

from tinyml.frontend.tflite import load_model
from tinyml.ops import definition
from tinyml.passes import optimize
from tinyml.plan import PlanOptions, check_plan, plan_model
from tinyml.plan.patches import PatchConfig, expand, mac_overhead, stage_candidates
from tinyml.reference.inputs import random_inputs
from tinyml.reference.tflm import tflm_outputs


def _graph(name: str):
    return optimize(load_model(mlperf_dir() / f"{name}.tflite"))


def test_patches_tile_the_stage_output_exactly():
    graph = _graph("vww_96_int8")
    config = PatchConfig(4, 3, 5)
    expanded = expand(graph, config)
    out = graph.ops[3].outputs[0]
    scatters = [op for op in expanded.ops if op.type == "TINYML_COPY_REGION" and op.outputs[0] is out]
    assert len(scatters) == 15
    covered = set()
    for op in scatters:
        (y, x), (h, w) = op.attrs.dst, op.attrs.size
        cells = {(r, c) for r in range(y, y + h) for c in range(x, x + w)}
        assert not cells & covered
        covered |= cells
    assert covered == {(r, c) for r in range(out.shape[1]) for c in range(out.shape[2])}
    assert expanded.ops[len(expanded.ops) - len(graph.ops) + 4 :] == graph.ops[4:]


def test_recomputing_halos_costs_macs():
    graph = _graph("pretrainedResnet_quant")
    one = mac_overhead(graph, expand(graph, PatchConfig(4, 1, 1)))
    many = mac_overhead(graph, expand(graph, PatchConfig(4, 4, 4)))
    assert one == pytest.approx(1.0) and many > 1.05
    expanded = expand(graph, PatchConfig(4, 4, 4))
    macs = sum(definition(op).macs(op) for op in expanded.ops)
    assert macs == pytest.approx(many * sum(definition(op).macs(op) for op in graph.ops))


def test_stage_candidates_stop_at_non_spatial_ops():
    graph = _graph("kws_ref_model")
    splits = stage_candidates(graph)
    assert splits and max(splits) <= 9  # AVERAGE_POOL_2D makes a 1x1 map; FC and SOFTMAX are not spatial
    assert stage_candidates(_graph("ad01_int8")) == []


SMALLEST = PlanOptions(prefer="memory")


def test_auto_lowers_the_peak_within_the_mac_cap():
    """--prefer memory: the patch stage with the lowest peak whose halos cost at most --max-mac-overhead."""
    graph = _graph("vww_96_int8")
    chosen = plan_model(graph, options=SMALLEST)
    flat = plan_model(graph, options=PlanOptions(prefer="memory", patches="off"))
    assert chosen.patches is not None and chosen.plan.peak < flat.plan.peak
    assert 1.0 < chosen.mac_overhead <= 1.2 and check_plan(chosen.plan) == []
    capped = plan_model(graph, options=PlanOptions(prefer="memory", max_mac_overhead=1.0))
    assert capped.patches is None and capped.plan.peak == flat.plan.peak


def test_auto_patches_only_where_needed():
    """By default (--prefer speed) patches cost cycles, so a model runs layer by layer unless that does not fit."""
    graph = _graph("vww_96_int8")
    fast = plan_model(graph)
    assert fast.patches is None and fast.plan.peak == plan_model(graph, options=PlanOptions(patches="off")).plan.peak
    tight = plan_model(graph, options=PlanOptions(sram_budget=fast.plan.peak - 1024))
    assert tight.patches is not None and tight.plan.peak <= fast.plan.peak - 1024
    assert fast.cycles < tight.cycles and tight.unpatched is not None and tight.unpatched.patches is None


@pytest.mark.parametrize(
    "name,config",
    [("vww_96_int8", None), ("pretrainedResnet_quant", None), ("pretrainedResnet_quant", PatchConfig(4, 2, 3))],
    ids=["vww-auto", "ic-auto", "ic-2x3"],
)
def test_patched_mlperf_models_are_bit_exact(name, config, tmp_path):
    """The config under test (None: as --prefer memory chooses it)."""
    options = PlanOptions(patches=config) if config is not None else SMALLEST
    assert_bit_exact(mlperf_dir() / f"{name}.tflite", tmp_path, seeds=range(4), options=options)


def test_patches_through_pools_and_residuals(tmp_path):
    """Max and average pools, a strided conv and a residual ADD inside the stage, border patches of odd sizes."""
    import tensorflow as tf

    def build():
        x = tf.keras.Input((23, 19, 3))
        a = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        b = tf.keras.layers.MaxPooling2D(2, padding="same")(a)
        c = tf.keras.layers.Conv2D(8, 3, padding="same")(b)
        d = tf.keras.layers.Add()([b, c])
        e = tf.keras.layers.AveragePooling2D(3, strides=2, padding="same")(d)
        f = tf.keras.layers.Conv2D(4, 3, strides=2, padding="valid")(e)
        return tf.keras.Model(x, tf.keras.layers.Flatten()(f))

    model = convert(build, [(23, 19, 3)], tmp_path / "m.tflite")
    graph = optimize(load_model(model))
    split = max(stage_candidates(graph))
    options = PlanOptions(patches=PatchConfig(split, 3, 2))
    assert_bit_exact(model, tmp_path, seeds=range(4), options=options)


def test_patched_vww_on_the_emulated_cortex_m7(tmp_path):
    model = mlperf_dir() / "vww_96_int8.tflite"
    x = random_inputs(model, 3)[0]
    (tmp_path / "in.bin").write_bytes(x.tobytes())
    env = {**os.environ, "TINYML_CACHE": str(tmp_path / "cache")}
    cmd = [
        sys.executable,
        "-m",
        "tinyml",
        "run",
        str(model),
        "--board",
        "mps2-an500",
        "--kernels",
        "portable",
        "--patches",
        "4x4@4",
        "--input",
        str(tmp_path / "in.bin"),
        "--output",
        str(tmp_path / "out.bin"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.bin").read_bytes() == tflm_outputs(model, [x])[0].tobytes()


def test_bad_patch_requests_are_one_line_errors(tmp_path):
    model = str(mlperf_dir() / "kws_ref_model.tflite")
    for value in ("4x4@99", "four", "0x2@3"):
        proc = subprocess.run(
            [sys.executable, "-m", "tinyml", "report", model, "--board", "host", "--patches", value],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_side_branches_keep_their_ops_out_of_the_stage():
    """An early op whose output leaves the network (a second model output) has no patch region: no stage
    may contain it (regression: such a stage used to crash the expansion)."""
    from tinyml.ir.graph import Graph, Operator, Tensor
    from tinyml.ops.conv import ConvAttrs
    from tinyml.ops.pooling import PoolAttrs
    from tinyml.ops.shape import ReshapeAttrs

    def act(name, shape):
        return Tensor(name, shape, "int8")

    def conv(name, inp, out):
        w = Tensor(f"{name}/w", (out.shape[3], 3, 3, inp.shape[3]), "int8", data=np.zeros(1))
        return Operator("CONV_2D", [inp, w], [out], ConvAttrs(padding="SAME"))

    x, a, side, b, flat = (
        act("x", (1, 8, 8, 3)),
        act("a", (1, 8, 8, 4)),
        act("side", (1, 4, 4, 4)),
        act("b", (1, 8, 8, 4)),
        act("flat", (1, 256)),
    )
    pool = Operator("MAX_POOL_2D", [a], [side], PoolAttrs(stride=(2, 2), padding="VALID", filter=(2, 2)))
    ops = [conv("c1", x, a), pool, conv("c2", a, b), Operator("RESHAPE", [b], [flat], ReshapeAttrs())]
    graph = Graph("side", [x], [flat, side], ops)
    assert stage_candidates(graph) == [1]  # only the first conv: the pool's output leaves the model


def _resize(kind: str, size: tuple[int, int], mode: str):
    """A Lambda body: TF2's resize (half-pixel centres), or TF1's with aligned corners or with neither."""
    import tensorflow as tf

    if mode == "half_pixel":
        return lambda x: tf.image.resize(x, size, method=kind)
    v1 = tf.compat.v1.image
    fn = v1.resize_nearest_neighbor if kind == "nearest" else v1.resize_bilinear
    return lambda x: fn(x, size, align_corners=mode == "align_corners", half_pixel_centers=False)


@pytest.mark.parametrize("mode", ["half_pixel", "align_corners", "neither"])
@pytest.mark.parametrize("kind", ["nearest", "bilinear"])
def test_patches_through_resizes(kind, mode, tmp_path):
    """Three resizes inside one stage, between convolutions: 5 -> 8 (a non-integer scale), 8 -> 16 (twice) and
    16x16 -> 6x5 (down), on a 3x2 grid whose tiles are uneven; bit-exact with TFLite Micro."""
    import tensorflow as tf

    layers = tf.keras.layers

    def build():
        x = tf.keras.Input((5, 5, 3))
        a = layers.Conv2D(6, 3, padding="same", activation="relu")(x)
        b = layers.Lambda(_resize(kind, (8, 8), mode))(a)
        c = layers.Conv2D(6, 3, padding="same")(b)
        d = layers.Lambda(_resize(kind, (16, 16), mode))(c)
        e = layers.Conv2D(6, 3, padding="same", activation="relu")(d)
        f = layers.Lambda(_resize(kind, (6, 5), mode))(e)
        g = layers.Conv2D(4, 3, strides=2, padding="same")(f)
        return tf.keras.Model(x, layers.Flatten()(g))

    model = convert(build, [(5, 5, 3)], tmp_path / "m.tflite")
    graph = optimize(load_model(model))
    split = max(stage_candidates(graph))
    resize = "RESIZE_NEAREST_NEIGHBOR" if kind == "nearest" else "RESIZE_BILINEAR"
    assert [op.type for op in graph.ops[:split]].count(resize) == 3
    config = PatchConfig(split, 3, 2)
    planned = assert_bit_exact(model, tmp_path, seeds=range(3), options=PlanOptions(patches=config))
    assert planned.patches == config


def _detection_head(path):
    """A detection-head-like network at 64x64: a conv, the map upsampled twice (nearest, as TF2 resizes), convs
    that bring it down again, and a dense layer."""
    import tensorflow as tf

    layers = tf.keras.layers

    def build():
        x = tf.keras.Input((32, 32, 3))
        a = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
        b = layers.Lambda(lambda t: tf.image.resize(t, (64, 64), method="nearest"))(a)
        c = layers.Conv2D(16, 3, padding="same", activation="relu")(b)
        d = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(c)
        e = layers.Conv2D(8, 3, strides=2, padding="same")(d)
        # the dense layer's 16 KiB of weights also give TFLM's Python interpreter (10x the model's size) its arena
        return tf.keras.Model(x, layers.Dense(8)(layers.Flatten()(e)))

    return convert(build, [(32, 32, 3)], path)


def test_patches_through_an_upsample_lower_the_peak(tmp_path):
    """--prefer memory puts the upsample inside the stage (the 64x64 maps are never whole) and the peak drops."""
    model = _detection_head(tmp_path / "head.tflite")
    graph = optimize(load_model(model))
    upsample = next(i for i, op in enumerate(graph.ops) if op.type == "RESIZE_NEAREST_NEIGHBOR")
    chosen = plan_model(graph, options=SMALLEST)
    flat = plan_model(graph, options=PlanOptions(prefer="memory", patches="off"))
    assert chosen.patches is not None and chosen.patches.split > upsample + 1
    assert chosen.plan.peak < flat.plan.peak // 2 and check_plan(chosen.plan) == []  # 25.2 KiB, not 80 KiB
    assert_bit_exact(model, tmp_path, seeds=range(2), options=SMALLEST)


def test_patched_upsample_on_the_emulated_cortex_m7(tmp_path):
    model = _detection_head(tmp_path / "head.tflite")
    graph = optimize(load_model(model))
    split = max(stage_candidates(graph))
    assert any(op.type == "RESIZE_NEAREST_NEIGHBOR" for op in graph.ops[:split])
    x = random_inputs(model, 5)[0]
    (tmp_path / "in.bin").write_bytes(x.tobytes())
    env = {**os.environ, "TINYML_CACHE": str(tmp_path / "cache")}
    run = [sys.executable, "-m", "tinyml", "run", str(model), "--board", "mps2-an500", "--kernels", "portable"]
    files = ["--input", str(tmp_path / "in.bin"), "--output", str(tmp_path / "out.bin")]
    proc = subprocess.run([*run, "--patches", f"3x3@{split}", *files], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.bin").read_bytes() == tflm_outputs(model, [x])[0].tobytes()
