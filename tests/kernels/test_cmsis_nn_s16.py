"""CMSIS-NN's 16x8 (_s16) kernels against TFLite Micro: on the host (CMSIS-NN's plain C) per attribute corner,
and on the emulated Cortex-M7 (DSP) and M55 (MVE); their scratch against CMSIS-NN's own get_buffer_size; and the
variants they refuse, which run on the portable tm_*_s16 kernels.

Everything that needs CMSIS-NN is skipped, naming where tinyml looked, when it is not found (set CMSIS_NN_ROOT
and CMSIS_ROOT, or `tinyml packs install`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from int16_models import convert16
from support import CMSIS, assert_bit_exact, assert_runs_bit_exact, needs_cmsis, suite_cache

from tinyml import pipeline
from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT16, INT64
from tinyml.kernels import REGISTRY
from tinyml.kernels import cmsis_nn as cn
from tinyml.kernels import cmsis_nn_s16 as s16
from tinyml.kernels.backends import Backend, CoreFeatures, select_backend
from tinyml.kernels.base import Unsupported
from tinyml.passes import optimize
from tinyml.plan import Planned, PlanOptions
from tinyml.target.boards import load_board
from tinyml.target.build import build_cmsis_library

CORES: dict[cn.Core, CoreFeatures] = {
    "plain": CoreFeatures(),
    "dsp": CoreFeatures(dsp=True),
    "mve": CoreFeatures(dsp=True, mve=True),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One TINYML_CACHE for the module, in this process too: the CMSIS-NN library is built once per core."""
    path = suite_cache(tmp_path_factory)
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


def _undilated_branches():
    """SAME stride-1 convolutions, which keep their shapes when `_dilate` dilates them: CONV_2D 3x3 and (2, 3),
    DEPTHWISE_CONV_2D 3x3 with multipliers 1 and 2."""
    import tensorflow as tf

    L = tf.keras.layers
    x = tf.keras.Input((9, 8, 4))
    return tf.keras.Model(
        x,
        [
            L.Conv2D(5, 3, padding="same")(x),
            L.Conv2D(3, (2, 3), padding="same", activation="relu")(x),
            L.DepthwiseConv2D(3, padding="same")(x),
            L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x),
        ],
    )


def _dilate(path: Path, factors: tuple[int, int] = (2, 3)) -> Path:
    """Set every convolution's (h, w) dilation in the flatbuffer: TensorFlow's converter turns Keras's dilated
    convolutions into SPACE_TO_BATCH_ND around undilated ones (which TFLite Micro does not run in int16)."""
    from tinyml.quant.flatbuf import read_model, write_model

    model = read_model(path.read_bytes())
    for op in model.subgraphs[0].operators:
        options = op.builtinOptions
        if hasattr(options, "dilationHFactor"):
            options.dilationHFactor, options.dilationWFactor = factors
    path.write_bytes(write_model(model))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {
        "conv16": convert16(_conv_branches, CONV_SHAPES, folder / "conv16.tflite"),
        "depthwise16": convert16(_depthwise_branches, DEPTHWISE_SHAPES, folder / "depthwise16.tflite"),
        "other16": convert16(_other_branches, OTHER_SHAPES, folder / "other16.tflite", per_tensor=True),
        "dilated16": _dilate(convert16(_undilated_branches, [(9, 8, 4)], folder / "dilated16.tflite")),
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


@needs_cmsis
def test_dilated_s16_on_host(models, tmp_path, cache):
    """Dilation (2 rows, 3 columns): the conv's im2col and the generic depthwise kernel."""
    planned = _host_exact(models["dilated16"], tmp_path)
    assert sorted(_s16_ops(planned)) == ["CONV_2D"] * 2 + ["DEPTHWISE_CONV_2D"] * 2
    assert {op.attrs.dilation for op in planned.graph.ops} == {(2, 3)}


# --- bit-exact on emulated cores ---


@needs_cmsis
@pytest.mark.parametrize("board", ["mps2-an500", "mps3-an547"])
def test_s16_kernels_on_emulated_cores(board, models, tmp_path, cache):
    """The DSP (Cortex-M7) and MVE (Cortex-M55) code of every s16 kernel, through the CLI. The plans the CLI makes
    run every variant the host test runs on the s16 kernels, except the deep conv the DSP build gets wrong."""
    assert CMSIS is not None
    backend = select_backend(load_board(board), "cmsis-nn", str(CMSIS.nn), str(CMSIS.core))
    options = PlanOptions(patches="off", prefer="speed")
    ran = {
        name: len(_s16_ops(pipeline.plan(pipeline.load(path, progress=False), load_board(board), backend, options)))
        for name, path in models.items()
    }
    deep_conv = 1 if board == "mps2-an500" else 0
    assert ran == {"conv16": 8 - deep_conv, "depthwise16": 5, "other16": 14, "dilated16": 4}
    assert_runs_bit_exact(board, models, tmp_path, cache, CMSIS, "--patches", "off", "--prefer", "speed")


# --- scratch: the Python twins against CMSIS-NN's C ---

# (stride, padding, dilation) as (w, h) tiles, then input, filter and output dims (n, h, w, c), depth multiplier
S16_CONV = [
    cn.ConvGeometry((1, 1), (0, 0), (1, 1), (1, 6, 6, 8), (6, 1, 1, 8), (1, 6, 6, 6)),
    cn.ConvGeometry((2, 2), (1, 1), (1, 1), (1, 9, 9, 3), (5, 3, 3, 3), (1, 5, 5, 5)),  # 27 columns: not whole vectors
    cn.ConvGeometry((1, 1), (2, 2), (2, 2), (2, 10, 10, 4), (4, 3, 3, 4), (2, 10, 10, 4)),
    cn.ConvGeometry((1, 1), (0, 0), (1, 1), (1, 5, 5, 59), (3, 3, 3, 59), (1, 3, 3, 3)),
]
S16_DW = [
    cn.ConvGeometry((1, 1), (1, 1), (1, 1), (1, 6, 6, 5), (1, 3, 3, 5), (1, 6, 6, 5)),  # fast
    cn.ConvGeometry((1, 1), (0, 0), (1, 1), (1, 9, 9, 5), (1, 3, 3, 10), (1, 7, 7, 10), 2),  # multiplier 2
    cn.ConvGeometry((1, 1), (2, 2), (2, 2), (1, 10, 10, 4), (1, 3, 3, 4), (1, 10, 10, 4)),  # dilated
    cn.ConvGeometry((1, 1), (11, 11), (1, 1), (1, 23, 23, 2), (1, 23, 23, 2), (1, 23, 23, 2)),  # 529 taps
    cn.ConvGeometry((1, 1), (1, 1), (1, 1), (2, 7, 7, 16), (1, 3, 3, 16), (2, 7, 7, 16)),  # batches
]
#: (output width, channels) of average pools
S16_AVGPOOL = [(4, 3), (7, 16)]


def _c_dims(d: tuple[int, ...]) -> str:
    return "{" + ", ".join(map(str, d)) + "}"


def _c_sizes(function: str, g: cn.ConvGeometry, depthwise: bool) -> str:
    tiles = f"{_c_dims(g.stride)}, {_c_dims(g.padding)}, {_c_dims(g.dilation)}, {{-32768, 32767}}"
    params = f"{{0, 0, {g.ch_mult}, {tiles}}}" if depthwise else f"{{0, 0, {tiles}}}"
    kind = "cmsis_nn_dw_conv_params" if depthwise else "cmsis_nn_conv_params"
    return (
        f"{{ const {kind} p = {params}; const cmsis_nn_dims i = {_c_dims(g.input)}, f = {_c_dims(g.filter)}, "
        f"o = {_c_dims(g.output)}; SIZES({function}, &p, &i, &f, &o); }}"
    )


@needs_cmsis
def test_s16_scratch_equals_cmsis_nn_get_buffer_size(tmp_path, cache):
    """The Python twins equal CMSIS-NN's s16 get_buffer_size, plain (the host build), _dsp and _mve."""
    assert CMSIS is not None
    conv, depthwise = "arm_convolve_wrapper_s16_get_buffer_size", "arm_depthwise_conv_wrapper_s16_get_buffer_size"
    cases = [(g, s16.conv_s16_buffer_size, _c_sizes(conv, g, False)) for g in S16_CONV]
    cases += [(g, s16.depthwise_s16_buffer_size, _c_sizes(depthwise, g, True)) for g in S16_DW]
    cases += [
        (
            (w, c),
            lambda core, wc: cn.avgpool_buffer_size(core, *wc),
            f"SIZES(arm_avgpool_s16_get_buffer_size, {w}, {c});",
        )
        for w, c in S16_AVGPOOL
    ]
    body = "\n".join(f"  {call}" for _, _, call in cases)
    (tmp_path / "sizes.c").write_text(
        '#include <stdio.h>\n#include "arm_nnfunctions.h"\n'
        '#define SIZES(f, ...) printf("%d %d %d\\n", (int)f(__VA_ARGS__), (int)f##_dsp(__VA_ARGS__), '
        "(int)f##_mve(__VA_ARGS__))\n"
        f"int main(void) {{\n{body}\n  return 0;\n}}\n"
    )
    lib = build_cmsis_library(CMSIS, load_board("host"))
    includes = [f"-I{d}" for d in CMSIS.include_dirs]
    exe = tmp_path / "sizes"
    subprocess.run(
        ["gcc", "-std=c99", "-O1", *includes, "-o", str(exe), str(tmp_path / "sizes.c"), str(lib)], check=True
    )
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    mismatches, nonzero = [], set()
    for (g, twin, _), line in zip(cases, lines, strict=True):
        c_sizes = dict(zip(CORES, map(int, line.split()), strict=True))
        py_sizes = {core: twin(core, g) for core in CORES}
        nonzero |= {core for core, size in py_sizes.items() if size}
        if py_sizes != c_sizes:
            mismatches.append(f"{g}: python {py_sizes}, CMSIS-NN {c_sizes}")
    assert not mismatches, "\n".join(mismatches)
    assert nonzero == set(CORES)


# --- what the s16 kernels refuse (no CMSIS-NN needed) ---


def _conv16(in_ch: int, out_ch: int, kernel: int, weight: int = 1, bias: int = 0, scale: float = 2e-3):
    """A 16x8 CONV_2D on a 5x5 input, every weight `weight`, every bias `bias`."""
    b = GraphBuilder()
    x = b.input((1, 5, 5, in_ch), type=INT16, scale=1e-3)
    w = b.weights(np.full((out_ch, kernel, kernel, in_ch), weight), scales=0.01)
    b.conv2d(x, w, b.const(np.full(out_ch, bias), type=INT64), padding="VALID", scale=scale)
    return optimize(b.graph()).ops[0]


def _refusal(kernel, op) -> str | None:
    try:
        kernel.check(op)
    except Unsupported as e:
        return str(e)
    return None


def test_conv_s16_refuses_the_dsp_odd_channel_fault():
    """A 3x3 conv over 59 channels (531 columns: past MAX_COL_COUNT, not a multiple of 4) into 3 channels runs
    on CMSIS-NN in plain C and on MVE; the DSP build misreads its last channel; 4 channels or 60 inputs do not."""
    op = _conv16(59, 3, 3)
    assert _refusal(s16.CmsisConv2DS16("plain"), op) is None and _refusal(s16.CmsisConv2DS16("mve"), op) is None
    assert "odd number of output channels" in _refusal(s16.CmsisConv2DS16("dsp"), op)
    assert _refusal(s16.CmsisConv2DS16("dsp"), _conv16(59, 4, 3)) is None
    assert _refusal(s16.CmsisConv2DS16("dsp"), _conv16(60, 3, 3)) is None


def test_weighted_s16_refuse_possible_int32_overflow():
    """Weights whose int32 partial sums could overflow (531 weights of 127 times -32768), or a bias that pushes
    the value before the final rounding past int32, are refused on every core; the same layer with smaller
    weights or bias is taken."""
    for core in CORES:
        kernel = s16.CmsisConv2DS16(core)
        assert _refusal(kernel, _conv16(60, 4, 3, weight=8)) is None
        assert "overflow" in _refusal(kernel, _conv16(60, 4, 3, weight=127))
        assert "overflow" in _refusal(kernel, _conv16(4, 4, 1, bias=1 << 40, scale=1e-6))
        assert _refusal(kernel, _conv16(4, 4, 1, bias=1 << 20, scale=1e-6)) is None


def test_s16_and_s8_kernels_refuse_each_others_ops():
    """The s16 classes take only 16x8 ops, the s8 ones only int8: each op type has exactly one CMSIS-NN kernel."""
    b = GraphBuilder()
    x = b.input((1, 5, 5, 4), type=INT16, scale=1e-3)
    y = b.input((1, 5, 5, 4), type=INT16, scale=2e-3)
    w = b.weights(np.ones((4, 3, 3, 4)), scales=0.01)
    c = b.conv2d(x, w, b.const(np.zeros(4), type=INT64), scale=2e-3)
    b.add(c, y, scale=3e-3)
    b.mul(c, y, scale=3e-3)
    b.max_pool2d(c, 2)
    graph = optimize(b.graph())
    for core, features in CORES.items():
        kernels = cn.cmsis_kernels(features, fast=False)
        for op in graph.ops:
            taking = [type(k).__name__ for k in kernels[op.type] if k.accepts(op)]
            assert len(taking) == 1 and taking[0].endswith("S16"), (core, op.type, taking)


def test_add_s16_refuses_zero_points_and_broadcasts():
    """CMSIS-NN's s16 ADD ignores zero points (TFLM lets an int16 ADD have them) and does not broadcast."""
    b = GraphBuilder()
    x = b.input((1, 5, 5, 4), type=INT16, scale=1e-3, zero_point=3)
    y = b.input((1, 5, 5, 4), type=INT16, scale=2e-3)
    z = b.input((1, 1, 1, 4), type=INT16, scale=2e-3)
    b.add(x, y, scale=3e-3)
    b.add(y, z, scale=3e-3, zero_point=0)
    shifted, broadcast = optimize(b.graph()).ops
    assert "zero points" in _refusal(s16.CmsisAddS16("dsp"), shifted)
    assert "broadcast" in _refusal(s16.CmsisAddS16("dsp"), broadcast)
