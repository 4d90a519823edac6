"""tinyml's fast kernels (tinyml/ops/fast.py, firmware/kernels/tm_fast_*.c): bit-exact with TFLite Micro.

On the host the kernels compile as plain C (the DSP instructions have C twins in
tm_fast.h), so the layouts, folded biases and recast requantization are tested
quickly there; the emulated Cortex-M7 runs the DSP code itself. The fast kernels
come with the CMSIS-NN backend on DSP cores, so everything that builds a model
is skipped when CMSIS-NN is not found (set CMSIS_NN_ROOT and CMSIS_ROOT).
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from keras_models import convert
from support import CMSIS, REPO, assert_bit_exact, assert_runs_bit_exact, mlperf_dir, needs_cmsis, suite_cache

from tinyml.frontend.tflite import load_model
from tinyml.ir.graph import Graph, Operator
from tinyml.kernels import fast
from tinyml.kernels.backends import Backend, CoreFeatures, select_backend
from tinyml.kernels.cmsis_nn import CmsisKernel, cmsis_kernels
from tinyml.passes import optimize
from tinyml.plan import Planned, PlanOptions
from tinyml.reference.inputs import random_inputs
from tinyml.target.boards import load_board

MODELS = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "vww_96_int8"]
DSP = CoreFeatures(dsp=True)


needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="arm-none-eabi-gcc or qemu-system-arm not installed",
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One TINYML_CACHE for the module: the CMSIS-NN library is built once per core."""
    path = suite_cache(tmp_path_factory)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TINYML_CACHE", str(path))
        yield path


def _kinds(backend: Backend, graph: Graph) -> list[str]:
    """The fastest kernel for each op, by class name."""
    return [type(backend.kernel(op)).__name__ for op in graph.ops]


# --- the recast requantization, in Python and in C ---


def _fast_requant(acc: int, mult: int, add: int, shift: int) -> int:
    """tm_fast_requant on Python ints: smmlar(2 acc, mult, add - [acc < 0]) >> shift."""
    return (add + (-1 if acc < 0 else 0) + ((2 * acc * mult + (1 << 31)) >> 32)) >> shift


def _random_channels(rng: random.Random, n: int) -> list[tuple[int, int, int, int, int]]:
    """(bias, multiplier, shift, sum |w|, output zero point) across the ranges real layers have, dead ones too."""
    out = []
    for _ in range(n):
        mult = rng.randrange(1 << 30, 1 << 31)
        shift = rng.randrange(-20, 0)
        abs_sum = 0 if rng.random() < 0.1 else rng.randrange(1, 200_000)
        bias = rng.choice([rng.randrange(-50_000, 50_000), rng.choice([-1, 1]) * (1 << 30)])
        out.append((bias, mult, shift, abs_sum, rng.randrange(-128, 128)))
    return out


def test_recast_requantization_equals_tflm():
    """Within the bounds recast_channel checks, the recast sequence gives TFLM's result for every accumulator."""
    rng = random.Random(0)
    checked = 0
    for bias, mult, shift, abs_sum, zp in _random_channels(rng, 400):
        entry = fast.recast_channel(bias, mult, shift, abs_sum, zp)
        if entry is None:
            assert abs(bias) + 128 * abs_sum >= 1 << 30
            continue
        b, m, add, s = entry
        bound = 128 * abs_sum
        accs = [b + d for d in (-bound, bound, 0, 1, -1)] + [b + rng.randint(-bound, bound) for _ in range(50)]
        if abs_sum == 0:  # a dead channel's accumulator is its bias
            accs = [b]
        for acc in accs:
            want = fast.tflm_requantize(bias + (acc - b), mult, shift) + zp
            got = _fast_requant(acc, m, add, s)
            assert max(-128, min(127, got)) == max(-128, min(127, want)), (bias, mult, shift, abs_sum, zp, acc)
            checked += 1
    assert checked > 10_000
    assert fast.recast_channel(0, 1 << 30, 0, 5, 0) is None  # TFLM shifts left (or not at all): not recast
    assert fast.recast_channel(1 << 29, 1 << 30, -5, 1 << 22, 0) is None  # the accumulator could pass 2^30


def test_c_helpers_equal_tm_requantize(tmp_path):
    """tm_fast_requant (the host's C twin of the DSP sequence) equals tm_requantize on recast channels."""
    rng = random.Random(1)
    rows = []
    for bias, mult, shift, abs_sum, zp in _random_channels(rng, 200):
        entry = fast.recast_channel(bias, mult, shift, abs_sum, zp)
        if entry is None or abs_sum == 0:
            continue
        b, m, add, s = entry
        for _ in range(20):
            acc = b + rng.randint(-128 * abs_sum, 128 * abs_sum)
            rows.append(f"{{{acc}, {mult}, {shift}, {zp}, {m}, {add}, {s}}}")
    (tmp_path / "t.c").write_text(
        '#include <stdio.h>\n#include "tinyml/tm_fast.h"\n#include "tinyml/tm_math.h"\n'
        "static const int32_t cases[][7] = {\n" + ",\n".join(rows) + "};\n"
        "int main(void) {\n  int bad = 0;\n"
        "  for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; ++i) {\n"
        "    const int32_t *c = cases[i];\n"
        "    int32_t want = tm_clamp_s8(tm_requantize(c[0], c[1], c[2]) + c[3], -128, 127);\n"
        "    int32_t got = tm_fast_sat8(tm_fast_requant(c[0], c[4], c[5], c[6]));\n"
        "    bad += want != got;\n  }\n"
        '  printf("%d\\n", bad);\n  return 0;\n}\n'
    )
    include = REPO / "firmware" / "include"
    subprocess.run(
        [
            "gcc",
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{include}",
            "-o",
            str(tmp_path / "t"),
            str(tmp_path / "t.c"),
        ],
        check=True,
    )
    assert subprocess.run([str(tmp_path / "t")], capture_output=True, text=True, check=True).stdout.strip() == "0"


def test_interleaved_layout():
    """Channel pairs (or fours) side by side per word, rows padded with zeros to whole words and blocks."""
    rows = np.arange(3 * 6, dtype=np.int8).reshape(3, 6)
    got = fast.interleave(rows, 2).reshape(-1, 4)
    want = [rows[0, :4], rows[1, :4], [4, 5, 0, 0], [10, 11, 0, 0], rows[2, :4], [0] * 4, [16, 17, 0, 0], [0] * 4]
    assert np.array_equal(got, np.array(want, dtype=np.int8))


# --- bit-exact on the host, per kernel variant ---


def _fast_backend() -> Backend:
    """The CMSIS-NN backend of a DSP core, built for the host: the fast kernels' plain-C twins run."""
    assert CMSIS is not None
    return Backend("cmsis-nn", cmsis_kernels(DSP), CMSIS)


def _assert_host_bit_exact(model: Path, work: Path, patches: str = "off", prefer: str = "memory") -> Planned:
    return assert_bit_exact(model, work, backend=_fast_backend(), options=PlanOptions(patches=patches, prefer=prefer))


def _free_in_place(kernel: fast.FastKernel) -> fast.FastKernel:
    """`kernel` priced the same in place as not, so that the fastest plan runs it in place wherever its input dies.

    The planner runs a kernel in place only where that saves needed memory or costs nothing; this covers every
    in-place code path on a small model. Same class name: the cost model prices it as the kernel it is."""
    base = type(kernel)

    def cost(self: fast.FastKernel, op: Operator, core: str, in_place: bool = False) -> int:
        return base.cost(self, op, core, False)

    return type(base.__name__, (base,), {"cost": cost})()


#: tinyml's fast kernels, in place for free, then the portable ones (no CMSIS-NN: on the M55 its Helium kernels
#: would win, and the fast kernels need none of its code)
IN_PLACE = Backend("fast", {t: tuple(map(_free_in_place, ks)) for t, ks in fast.FAST_KERNELS.items()})
#: layer by layer, the fastest plan
OFF = PlanOptions(patches="off")


def _dead_filters(layer, every: int = 3) -> None:
    """Zero every `every`-th output channel's weights: channels with one constant output (MLPerf VWW has them)."""
    w, *rest = layer.get_weights()
    w[..., ::every] = 0
    layer.set_weights([w, *rest])


def _conv_variants():
    """1x1 (unit and strided, odd channel counts, RELU6), KxK SAME/VALID/strided over 8, 3 and 1 input channels."""
    import tensorflow as tf

    L = tf.keras.layers
    x = tf.keras.Input((9, 11, 8))
    rgb = tf.keras.Input((13, 12, 3))
    mono = tf.keras.Input((21, 6, 1))
    dead = L.Conv2D(10, 3, padding="same")
    outputs = [
        L.Conv2D(12, 1)(x),
        L.Conv2D(7, 1, strides=2, activation="relu6")(x),
        L.Conv2D(8, 3, padding="same", activation="relu")(x),
        L.Conv2D(5, 3, strides=2, padding="valid")(x),
        L.Conv2D(6, 5, strides=2, padding="same", activation="relu6")(x),
        L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(rgb),
        L.Conv2D(4, 3, padding="valid")(rgb),
        L.Conv2D(16, (10, 4), strides=2, padding="same", activation="relu")(mono),
        dead(x),
    ]
    model = tf.keras.Model([x, rgb, mono], outputs)
    _dead_filters(dead)
    return model


def _depthwise_variants():
    """3x3 depthwise: stride 1 and 2, SAME and VALID, wide and narrow (walked transposed) images, odd widths, RELU6;
    and what stays on CMSIS-NN: other multipliers and kernels, and too few outputs for the planes to pay."""
    import tensorflow as tf

    L = tf.keras.layers
    x = tf.keras.Input((9, 11, 8))
    big = tf.keras.Input((17, 20, 8))
    narrow = tf.keras.Input((15, 5, 6))
    tall = tf.keras.Input((31, 9, 6))
    dead = L.DepthwiseConv2D(3, padding="same")
    outputs = [
        L.DepthwiseConv2D(3, padding="same", activation="relu")(x),
        L.DepthwiseConv2D(3, padding="valid")(x),
        dead(x),
        L.DepthwiseConv2D(3, strides=2, padding="same")(big),
        L.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu6")(big),
        L.DepthwiseConv2D(3, padding="same", activation="relu6")(narrow),
        L.DepthwiseConv2D(3, strides=2, padding="same")(tall),
        L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x),  # not covered: CMSIS-NN runs these
        L.DepthwiseConv2D(5, padding="same")(x),
        L.DepthwiseConv2D(3, strides=2, padding="same")(x),  # 5x6 outputs: below min_outputs for stride 2
    ]
    model = tf.keras.Model([x, big, narrow, tall], outputs)
    _dead_filters(dead)
    return model


def _dense_variants():
    """Fully connected: depth and units not multiples of four, RELU, chained; two units stay on CMSIS-NN."""
    import tensorflow as tf

    L = tf.keras.layers
    x = tf.keras.Input((30,))
    outputs = [L.Dense(13)(x), L.Dense(8, activation="relu")(x), L.Dense(6)(L.Dense(9)(x)), L.Dense(2)(x)]
    return tf.keras.Model(x, outputs)  # the last has too few units: CMSIS-NN runs it


def _in_place_chain():
    """Layers whose inputs die there, so the fast kernels write over them: depthwise (stride 1 and 2), pointwise
    (widening: walked backwards; narrowing, also strided) and KxK convs keeping the shape (channels in whole
    words, and not: through the int8 patch). Then a pointwise conv over 6 channels (the general kernel, not in
    place: the shape changes) and dense layers (no scratch, never in place)."""
    import tensorflow as tf

    L = tf.keras.layers
    x = tf.keras.Input((18, 15, 8))  # odd width: in place, pixel pairs stop at row ends
    y = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    y = L.Conv2D(16, 1, activation="relu6")(y)
    y = L.Conv2D(16, 3, padding="same", activation="relu")(y)
    y = L.Conv2D(16, (1, 3), padding="same")(y)  # no padding rows: a ring of one row
    y = L.Conv2D(6, 1)(y)
    y = L.Conv2D(6, (5, 3), padding="same", activation="relu")(y)
    y = L.Conv2D(8, 1)(y)
    y = L.DepthwiseConv2D(3, strides=2, padding="same")(y)
    y = L.Conv2D(4, 1, strides=2)(y)
    y = L.Dense(12, activation="relu")(L.Flatten()(y))
    return tf.keras.Model(x, L.Dense(5)(y))


def _stays_on_cmsis(op) -> bool:
    """The depthwise variants the fast 3x3 kernel leaves alone (by shape, as the planner may reorder the ops):
    a channel multiplier, a 5x5 window, and the stride-2 layer with too few outputs."""
    _, kh, kw, out_channels = op.inputs[1].shape
    return out_channels != op.inputs[0].shape[-1] or (kh, kw) != (3, 3) or tuple(op.outputs[0].shape[1:3]) == (5, 6)


VARIANTS = {
    "conv": (_conv_variants, [(9, 11, 8), (13, 12, 3), (21, 6, 1)], False),
    "conv_per_tensor": (_conv_variants, [(9, 11, 8), (13, 12, 3), (21, 6, 1)], True),
    "depthwise": (_depthwise_variants, [(9, 11, 8), (17, 20, 8), (15, 5, 6), (31, 9, 6)], False),
    "dense": (_dense_variants, [(30,)], True),
    "in_place": (_in_place_chain, [(18, 15, 8)], False),
}


@pytest.fixture(scope="module")
def variant_models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {
        name: convert(build_fn, shapes, folder / f"{name}.tflite", per_tensor=per_tensor)
        for name, (build_fn, shapes, per_tensor) in VARIANTS.items()
    }


@needs_cmsis
@pytest.mark.parametrize("name", list(VARIANTS))
def test_variants_on_host_are_bit_exact(name, variant_models, tmp_path, cache):
    """The fastest kernels, in place where that costs nothing; the in-place chain also with every fast kernel in
    place wherever it can be, the shape-keeping convolutions row by row."""
    planned = _assert_host_bit_exact(variant_models[name], tmp_path, prefer="speed")
    kinds = [type(k).__name__ for k in planned.plan.kernels]
    if name == "in_place":
        in_place = sorted(planned.plan.in_place)
        free = ["FastDepthwise3x3", "FastConv1x1", "FastConv1x1", "FastDepthwise3x3", "FastConv1x1"]
        assert [kinds[i] for i in in_place] == free, (kinds, in_place)
        assert kinds.count("FastConv") == 4 and kinds.count("FastFullyConnected") == 2, kinds
        everywhere = assert_bit_exact(variant_models[name], tmp_path / "in_place", backend=IN_PLACE, options=OFF)
        kinds = [type(k).__name__ for k in everywhere.plan.kernels]
        in_place = sorted(everywhere.plan.in_place)
        assert [kinds[i] for i in in_place] == [
            "FastDepthwise3x3", "FastConv1x1", "FastConv", "FastConv", "FastConv1x1", "FastConv", "FastDepthwise3x3",
            "FastConv1x1",
        ], (kinds, in_place)  # fmt: skip
        assert everywhere.plan.peak < planned.plan.peak
    elif name.startswith("conv"):
        assert kinds.count("FastConv1x1") == 2 and kinds.count("FastConv") == 7, kinds
    elif name == "depthwise":  # the other three on CMSIS-NN's kernel or the portable one, whichever costs less
        stays = [_stays_on_cmsis(op) for op in planned.graph.ops]
        assert stays.count(True) == 3, stays
        assert all((kind == "FastDepthwise3x3") != stay for kind, stay in zip(kinds, stays, strict=True)), kinds
    else:
        assert kinds.count("FastFullyConnected") == 4 and kinds.count("CmsisFullyConnected") == 1, kinds


@needs_cmsis
def test_dead_channels_are_recast(variant_models):
    """The zeroed filters reach the constant-channel encoding (4r, 1/2, 1 + 2 zp, 1) rather than a fallback."""
    backend = _fast_backend()
    for name in ("conv", "depthwise"):
        graph = optimize(load_model(variant_models[name]))
        constant = 0
        for op in graph.ops:
            kernel = backend.kernel(op)
            if isinstance(kernel, fast.FastKernel):
                table = kernel.channels(op)
                assert table is not None
                constant += int(np.sum((table[:, 1] == 1 << 30) & (table[:, 3] == 1)))
        assert constant >= 3, name


@needs_cmsis
@pytest.mark.parametrize(("patches", "prefer"), [("off", "memory"), ("off", "speed"), ("auto", "memory")])
@pytest.mark.parametrize("name", MODELS)
def test_mlperf_on_host_is_bit_exact(name, patches, prefer, tmp_path, cache):
    _assert_host_bit_exact(mlperf_dir() / f"{name}.tflite", tmp_path, patches, prefer)


# --- which kernel runs, and what it needs ---

#: every layer the fast kernels target in the MLPerf Tiny models
TARGETS = {
    "kws_ref_model": {"FastConv": 1, "FastConv1x1": 4, "FastDepthwise3x3": 4, "FastFullyConnected": 1},
    "vww_96_int8": {"FastConv": 1, "FastConv1x1": 13, "FastDepthwise3x3": 10},
    "pretrainedResnet_quant": {"FastConv": 7, "FastConv1x1": 2, "FastFullyConnected": 1},
    "ad01_int8": {"FastFullyConnected": 10},
}


@needs_cmsis
@pytest.mark.parametrize("name", MODELS)
def test_fast_path_is_taken_on_the_m7(name):
    """On the M7 board the targeted layers run the fast kernels; on the M55 (MVE) CMSIS-NN keeps them all."""
    assert CMSIS is not None
    graph = optimize(load_model(mlperf_dir() / f"{name}.tflite"))
    m7 = select_backend(load_board("mps2-an500"), "cmsis-nn", str(CMSIS.nn), str(CMSIS.core))
    kinds = _kinds(m7, graph)
    counts = {k: kinds.count(k) for k in set(kinds) if k.startswith("Fast")}
    assert counts == TARGETS[name], kinds
    m55 = select_backend(load_board("mps3-an547"), "cmsis-nn", str(CMSIS.nn), str(CMSIS.core))
    assert not any(k.startswith("Fast") for k in _kinds(m55, graph))
    assert isinstance(m7.choices(graph.ops[0])[-2], CmsisKernel)  # fast, then CMSIS-NN, then portable


def _scratch_cases(graphs: list[Graph]) -> list[tuple[str, int, str]]:
    """(label, Python scratch bytes, C expression for the kernel's *_get_buffer_size) for each fast layer."""
    backend = Backend("cmsis-nn", cmsis_kernels(DSP), None)
    cases = []
    for graph in graphs:
        for i, op in enumerate(graph.ops):
            kernel = backend.kernel(op)
            if not isinstance(kernel, fast.FastKernel):
                continue
            inp, out = op.input(0).shape, op.outputs[0].shape
            d_in = "{%d, %d, %d, %d}" % ((1,) * (4 - len(inp)) + tuple(inp))  # noqa: UP031 - C initialisers
            d_out = "{%d, %d, %d, %d}" % ((1,) * (4 - len(out)) + tuple(out))  # noqa: UP031
            if isinstance(kernel, fast.FastFullyConnected):
                depth = op.input(1).shape[1]
                expr = f"tm_fast_fully_connected_s8_get_buffer_size(&(tm_dims){{1, 1, 1, {depth}}})"
            elif isinstance(kernel, fast.FastConv1x1):
                expr = f"tm_fast_conv1x1_s8_get_buffer_size(&(tm_dims){d_in})"
            elif isinstance(kernel, fast.FastConv):
                f = "{%d, %d, %d, %d}" % op.input(1).shape  # noqa: UP031
                expr = f"tm_fast_conv_s8_get_buffer_size(&(tm_dims){d_in}, &(tm_dims){f})"
                in_place = kernel.in_place(op)
                if in_place is not None:
                    (pw, ph) = kernel.emit(op, _NoEmit()).values["padding"]  # type: ignore[union-attr]
                    params = f"&(tm_fast_conv_params){{{{1, 1}}, {{{pw}, {ph}}}, {{-128, 127}}, 0}}"
                    call = f"tm_fast_conv_s8_in_place_get_buffer_size({params}, &(tm_dims){d_in}, &(tm_dims){f})"
                    cases.append((f"{graph.name} op {i} in place", in_place.scratch, call))
            else:
                values = kernel.emit(op, _NoEmit())
                assert values is not None
                (sw, sh), (pw, ph) = values.values["stride"], values.values["padding"]
                params = f"&(tm_fast_conv_params){{{{{sw}, {sh}}}, {{{pw}, {ph}}}, {{-128, 127}}, 0}}"
                expr = f"tm_fast_depthwise3x3_s8_get_buffer_size({params}, &(tm_dims){d_in}, &(tm_dims){d_out})"
            cases.append((f"{graph.name} op {i}", kernel.scratch_bytes(op), expr))
    return cases


class _NoEmit:
    """An EmitContext that names nothing: enough to read a kernel's template values."""

    in_place = False
    scratch = "NULL"

    def tensor(self, t) -> str:
        return "NULL"

    def const(self, hint, values, ctype, role=None) -> str:
        return "NULL"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_scratch_equals_get_buffer_size(variant_models, tmp_path):
    """Each fast layer's planned scratch is what its C *_get_buffer_size returns (MLPerf and variant layers)."""
    try:
        graphs = [optimize(load_model(mlperf_dir() / f"{n}.tflite")) for n in MODELS]
    except FileNotFoundError:
        graphs = []
    graphs += [optimize(load_model(p)) for p in variant_models.values()]
    cases = _scratch_cases(graphs)
    body = "\n".join(f'  printf("%d\\n", (int){expr});' for _, _, expr in cases)
    (tmp_path / "s.c").write_text(f'#include <stdio.h>\n#include "tinyml/tm_fast.h"\nint main(void) {{\n{body}\n}}\n')
    kernels = sorted(str(p) for p in (REPO / "firmware" / "kernels").glob("tm_fast_*.c"))
    subprocess.run(
        [
            "gcc",
            "-std=c99",
            "-O1",
            f"-I{REPO / 'firmware' / 'include'}",
            "-o",
            str(tmp_path / "s"),
            str(tmp_path / "s.c"),
            *kernels,
        ],
        check=True,
    )
    lines = subprocess.run([str(tmp_path / "s")], capture_output=True, text=True, check=True).stdout.split()
    wrong = [f"{label}: python {py}, C {c}" for (label, py, _), c in zip(cases, lines, strict=True) if py != int(c)]
    assert not wrong, "\n".join(wrong)
    assert len(cases) >= 20


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
@pytest.mark.parametrize(
    "flags",
    [
        ["-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-O2"],
        ["-mcpu=cortex-m7", "-O0"],  # the inline assembly still finds its registers with a frame pointer
        ["-mcpu=cortex-m4", "-Os"],
        ["-mcpu=cortex-m55", "-mfloat-abi=hard", "-O2"],
        ["-mcpu=cortex-m0plus", "-O2"],  # no DSP: the plain-C twins
    ],
)
def test_kernels_compile_warning_free_for_cortex_m(flags, tmp_path):
    include = REPO / "firmware" / "include"
    for src in sorted((REPO / "firmware" / "kernels").glob("tm_fast_*.c")):
        subprocess.run(
            [
                "arm-none-eabi-gcc",
                "-mthumb",
                *flags,
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-Werror",
                f"-I{include}",
                "-c",
                str(src),
                "-o",
                str(tmp_path / f"{src.stem}.o"),
            ],
            check=True,
        )


# --- bit-exact on the emulated Cortex-M7, through the CLI ---


@needs_cmsis
@needs_arm
@pytest.mark.parametrize(
    ("board", "patches", "prefer"),
    [
        ("mps2-an500", "off", "speed"),
        ("mps2-an500", "auto", "memory"),
        ("mps2-an386", "off", "memory"),
        ("mps3-an547", "off", "memory"),
    ],
)
def test_mlperf_on_emulated_dsp_cores_is_bit_exact(board, patches, prefer, tmp_path, cache):
    """The M7 layer by layer (fastest kernels) and patch by patch (least memory), the M4, and the M55, where the
    fast kernels stand in for CMSIS-NN's Helium ones where those would grow the arena."""
    models = {name: mlperf_dir() / f"{name}.tflite" for name in MODELS}
    assert_runs_bit_exact(board, models, tmp_path, cache, CMSIS, "--patches", patches, "--prefer", prefer)


@needs_cmsis
@needs_arm
def test_variants_on_emulated_m7_are_bit_exact(variant_models, tmp_path, cache):
    """The DSP instructions and inline assembly themselves, over every variant."""
    assert_runs_bit_exact("mps2-an500", variant_models, tmp_path, cache, CMSIS, "--patches", "off", "--prefer", "speed")


@needs_arm
@pytest.mark.parametrize("board", ["mps2-an500", "mps3-an547"])
def test_in_place_chain_on_emulated_cores_is_bit_exact(board, variant_models, tmp_path, cache, monkeypatch):
    """The fast kernels' in-place code, DSP instructions and inline assembly included, on the M7 and built for the
    M55 (Armv8.1-M has the DSP instructions): every fast kernel in place wherever it can be."""
    from tinyml import pipeline

    monkeypatch.setenv("TINYML_CACHE", str(cache))
    target = pipeline.target(board)
    model = variant_models["in_place"]
    planned = pipeline.plan(pipeline.load(model), target, IN_PLACE, OFF)
    assert sum(planned.plan.kernels[i].library == "fast" for i in planned.plan.in_place) == 8
    code = pipeline.render(planned, target, IN_PLACE)
    compiled = pipeline.Compiled(model, target, IN_PLACE, planned, code, pipeline.CompileOptions())
    inputs = [b"".join(x.tobytes() for x in random_inputs(model, seed)) for seed in range(2)]
    assert pipeline.run(compiled, inputs) == pipeline.tflm_expected(compiled, inputs)
