"""CMSIS-NN's 16x8 (_s16) kernels against TFLite Micro: on the host (CMSIS-NN's plain C) per attribute corner,
and on the emulated Cortex-M7 (DSP) and M55 (MVE); their scratch against CMSIS-NN's own get_buffer_size; and the
variants they refuse, which run on the portable tm_*_s16 kernels.

Everything that needs CMSIS-NN is skipped, naming where tinyml looked, when it is not found (set CMSIS_NN_ROOT
and CMSIS_ROOT, or `tinyml packs install`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from int16_models import convert16
from support import assert_bit_exact, assert_runs_bit_exact

from tinyml.errors import ToolchainError
from tinyml.ir.types import INT16
from tinyml.kernels import REGISTRY
from tinyml.kernels import cmsis_nn as cn
from tinyml.kernels import cmsis_nn_s16 as s16
from tinyml.kernels.backends import Backend, CoreFeatures, select_backend
from tinyml.plan import Planned, PlanOptions
from tinyml.target.boards import load_board
from tinyml.target.packs import CmsisPaths, find_cmsis

CORES: dict[cn.Core, CoreFeatures] = {
    "plain": CoreFeatures(),
    "dsp": CoreFeatures(dsp=True),
    "mve": CoreFeatures(dsp=True, mve=True),
}


def _find() -> tuple[CmsisPaths | None, str]:
    try:
        return find_cmsis()
    except ToolchainError as e:
        return None, e.message


CMSIS, WHERE = _find()
needs_cmsis = pytest.mark.skipif(CMSIS is None, reason=f"CMSIS-NN not found (looked for {WHERE})")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One TINYML_CACHE for the module, in this process too: the CMSIS-NN library is built once per core."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TINYML_CACHE", str(path))
        yield path


def _host_backend() -> Backend:
    """The host's CMSIS-NN backend with the CMSIS-NN kernels priced to win wherever they accept an op (no fit
    prices the s16 ones yet), so every variant they accept runs on them."""
    assert CMSIS is not None
    backend = select_backend(load_board("host"), "cmsis-nn", str(CMSIS.nn), str(CMSIS.core))

    def first(kernel):
        base = type(kernel)
        return type(base.__name__, (base,), {"cost": lambda self, op, core, in_place=False: 0})(kernel.core)

    return Backend(backend.name, {t: tuple(map(first, ks)) for t, ks in backend.overrides.items()}, backend.cmsis)


def _s16_ops(planned: Planned) -> list[str]:
    """The op types the plan runs on a CMSIS-NN s16 kernel."""
    ops = zip(planned.graph.ops, planned.plan.kernels, strict=True)
    return [op.type for op, k in ops if isinstance(k, s16.KERNELS_S16)]


def _portable_int16(planned: Planned) -> list[str]:
    """The 16x8 op types (of those CMSIS-NN has s16 kernels for) the plan runs on the portable kernel."""
    covered = {t for cls in s16.KERNELS_S16 for t in cls.op_types}
    ops = zip(planned.graph.ops, planned.plan.kernels, strict=True)
    return [op.type for op, k in ops if op.type in covered and k is REGISTRY[op.type] and op.input(0).type == INT16]


def _host_exact(model: Path, work: Path) -> Planned:
    planned = assert_bit_exact(model, work, backend=_host_backend(), options=PlanOptions(patches="off"))
    assert "arm_nnfunctions.h" in (work / "project" / "model.c").read_text()
    return planned


# --- the models: several branches each, so one build checks many variants ---


def _conv_branches():
    """CONV_2D corners: 1x1, 3x3 SAME stride 2 with ReLU, (3, 2) VALID with ReLU6, no bias, an odd number of
    output pixels (the plain and DSP kernels' leftover column), a reduction of 531 (> MAX_COL_COUNT, not a
    multiple of 4) with 3 output channels, and a grouped one (refused: the portable kernel runs it); and
    FULLY_CONNECTED with per-channel weights (on arm_convolve_wrapper_s16)."""
    import tensorflow as tf

    L = tf.keras.layers
    x = tf.keras.Input((9, 8, 5))
    deep = tf.keras.Input((5, 5, 59))
    return tf.keras.Model(
        [x, deep],
        [
            L.Conv2D(6, 1)(x),
            L.Conv2D(7, 3, strides=2, padding="same", activation="relu")(x),
            L.Conv2D(5, (3, 2), activation="relu6")(x),
            L.Conv2D(4, 2, use_bias=False)(x),
            L.Conv2D(3, 3, strides=(2, 3), padding="valid")(x),
            L.Conv2D(3, 3)(deep),
            L.Conv2D(4, 3, groups=2, padding="same")(L.Conv2D(6, 1)(x)),
            L.Dense(9, activation="relu")(L.Flatten()(x)),
        ],
    )


CONV_SHAPES = [(9, 8, 5), (5, 5, 59)]


def _depthwise_branches():
    """DEPTHWISE_CONV_2D corners: 3x3 SAME (the fast kernel), 5x5 strided VALID with ReLU6, multipliers 2 and 3
    (the generic kernel), no bias, one input channel."""
    import tensorflow as tf

    L = tf.keras.layers
    x = tf.keras.Input((9, 7, 5))
    mono = tf.keras.Input((6, 6, 1))
    return tf.keras.Model(
        [x, mono],
        [
            L.DepthwiseConv2D(3, padding="same")(x),
            L.DepthwiseConv2D(5, strides=2, activation="relu6")(x),
            L.DepthwiseConv2D((3, 2), depth_multiplier=2, padding="same", activation="relu")(x),
            L.DepthwiseConv2D(2, use_bias=False)(x),
            L.DepthwiseConv2D(3, depth_multiplier=3, strides=2, padding="same")(mono),
        ],
    )


DEPTHWISE_SHAPES = [(9, 7, 5), (6, 6, 1)]


def _other_branches():
    """Per-tensor weights: CONV_2D, FULLY_CONNECTED (with and without ReLU, and 600 inputs: past MAX_COL_COUNT);
    ADD and MUL of equal shapes
    (odd sizes: the plain and DSP kernels' leftover element; fused ReLU), a broadcasting ADD and MUL (refused),
    average and max pooling (VALID, SAME stride 1, odd windows and strides)."""
    import tensorflow as tf

    L = tf.keras.layers
    a, b = tf.keras.Input((5, 3, 3)), tf.keras.Input((5, 3, 3))
    row = tf.keras.Input((1, 1, 3))
    v, w = tf.keras.Input((37,)), tf.keras.Input((600,))
    scaled = L.Rescaling(3.0)(b)
    return tf.keras.Model(
        [a, b, row, v, w],
        [
            L.Dense(11)(v),
            L.Dense(6, activation="relu")(v),
            L.Dense(5)(w),
            L.Conv2D(4, 3, padding="same", activation="relu")(a),
            L.Add()([a, scaled]),
            L.ReLU()(L.Add()([a, b])),
            L.Multiply()([a, scaled]),
            L.ReLU()(L.Multiply()([a, b])),
            L.Add()([a, row]),
            L.Multiply()([a, row]),
            L.AveragePooling2D(2)(a),
            L.AveragePooling2D(3, strides=1, padding="same")(a),
            L.AveragePooling2D((3, 2), strides=(2, 3), padding="same")(a),
            L.MaxPooling2D(2)(a),
            L.MaxPooling2D(3, strides=1, padding="same")(a),
            L.MaxPooling2D((3, 2), strides=(2, 3), padding="same")(a),
        ],
    )


OTHER_SHAPES = [(5, 3, 3), (5, 3, 3), (1, 1, 3), (37,), (600,)]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {
        "conv16": convert16(_conv_branches, CONV_SHAPES, folder / "conv16.tflite"),
        "depthwise16": convert16(_depthwise_branches, DEPTHWISE_SHAPES, folder / "depthwise16.tflite"),
        "other16": convert16(_other_branches, OTHER_SHAPES, folder / "other16.tflite", per_tensor=True),
    }


# --- bit-exact on the host ---


@needs_cmsis
def test_conv_s16_on_host(models, tmp_path, cache):
    planned = _host_exact(models["conv16"], tmp_path)
    ran = _s16_ops(planned)
    assert ran.count("CONV_2D") == 7 and ran.count("FULLY_CONNECTED") == 1, ran  # all but the grouped conv
    assert _portable_int16(planned) == ["CONV_2D"]
    fc = next(op for op in planned.graph.ops if op.type == "FULLY_CONNECTED")
    assert fc.input(1).quant.per_channel  # type: ignore[union-attr]


@needs_cmsis
def test_depthwise_s16_on_host(models, tmp_path, cache):
    planned = _host_exact(models["depthwise16"], tmp_path)
    assert _s16_ops(planned) == ["DEPTHWISE_CONV_2D"] * 5 and _portable_int16(planned) == []


@needs_cmsis
def test_fully_connected_elementwise_pools_s16_on_host(models, tmp_path, cache):
    planned = _host_exact(models["other16"], tmp_path)
    ran = _s16_ops(planned)
    assert ran.count("FULLY_CONNECTED") == 3 and ran.count("CONV_2D") == 1, ran
    assert ran.count("ADD") == 2 and ran.count("MUL") == 2, ran
    assert ran.count("AVERAGE_POOL_2D") == 3 and ran.count("MAX_POOL_2D") == 3, ran
    assert sorted(_portable_int16(planned)) == ["ADD", "MUL", "MUL"]  # the broadcasting ones, and Rescaling's


# --- bit-exact on emulated cores ---


@needs_cmsis
@pytest.mark.parametrize("board", ["mps2-an500", "mps3-an547"])
def test_s16_kernels_on_emulated_cores(board, models, tmp_path, cache):
    """The DSP (Cortex-M7) and MVE (Cortex-M55) code of every s16 kernel, through the CLI."""
    assert CMSIS is not None
    assert_runs_bit_exact(board, models, tmp_path, cache, CMSIS, "--patches", "off", "--prefer", "speed")
