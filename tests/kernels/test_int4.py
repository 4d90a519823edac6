"""Int4 weights (TFLite's INT4: two per byte, low nibble first) on CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.

The weights stay packed in flash and run on tinyml's portable s4 kernels and on CMSIS-NN's _s4 kernels; TFLite
Micro, which unpacks them into scratch, is the oracle: on the host with both backends, on the emulated Cortex-M7
and M55 with CMSIS-NN and on the emulated Cortex-M4 with the portable kernels. The models come from `int4_models`
(TensorFlow's converter on 4-bit narrow-range fake quants): several chains per model, so that one build checks
many layer variants. Everything that needs CMSIS-NN is skipped, naming where tinyml looked, without it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from int4_models import Conv, Dense, Depthwise, int4_branches
from support import CMSIS, needs_cmsis

from tinyml import pipeline
from tinyml.errors import UnsupportedOpError
from tinyml.ir.builder import GraphBuilder
from tinyml.ir.graph import Operator, Tensor
from tinyml.ir.types import INT4
from tinyml.kernels import REGISTRY, Kernel
from tinyml.kernels import cmsis_nn as cn
from tinyml.kernels import costs as costmodel
from tinyml.kernels.backends import PORTABLE, Backend, CoreFeatures
from tinyml.kernels.base import Unsupported, packed_weights
from tinyml.kernels.fast import FAST_KERNELS
from tinyml.ops import definition
from tinyml.ops.base import Role, window_of
from tinyml.passes import optimize
from tinyml.plan import ALIGNMENT, PlanOptions
from tinyml.reference.inputs import random_inputs
from tinyml.target.boards import load_board
from tinyml.target.build import build_cmsis_library

CORES: tuple[cn.Core, ...] = ("plain", "dsp", "mve")


# (stride, padding, dilation) as (w, h) tiles, then input, filter and output dims (n, h, w, c)
S4_CONV = [
    cn.ConvGeometry((1, 1), (0, 0), (1, 1), (1, 6, 6, 8), (6, 1, 1, 8), (1, 6, 6, 6)),  # 1x1 fast
    cn.ConvGeometry((2, 2), (0, 0), (1, 1), (1, 6, 6, 6), (5, 1, 1, 6), (1, 3, 3, 5)),  # 1x1 strided
    cn.ConvGeometry((2, 2), (1, 1), (1, 1), (1, 9, 9, 3), (5, 3, 3, 3), (1, 5, 5, 5)),  # odd im2col column
    cn.ConvGeometry((1, 2), (0, 0), (1, 1), (1, 10, 10, 4), (7, 5, 3, 4), (1, 3, 8, 7)),
    cn.ConvGeometry((1, 1), (2, 2), (2, 2), (1, 10, 10, 4), (4, 3, 3, 4), (1, 10, 10, 4)),  # dilated
    cn.ConvGeometry((1, 1), (1, 0), (1, 1), (1, 1, 16, 4), (8, 1, 3, 4), (1, 1, 16, 8)),  # 1xN
    cn.ConvGeometry((2, 1), (0, 0), (1, 1), (1, 1, 16, 8), (3, 1, 5, 8), (1, 1, 6, 3)),  # 1xN, strided
    cn.ConvGeometry((2, 1), (2, 0), (1, 1), (1, 1, 21, 8), (8, 1, 5, 8), (1, 1, 11, 8)),  # 1xN, odd padding
    cn.ConvGeometry((1, 1), (1, 1), (1, 1), (2, 5, 5, 2), (3, 3, 3, 2), (2, 5, 5, 3)),  # batches
]
S4_DW = [
    cn.ConvGeometry((1, 1), (1, 1), (1, 1), (1, 6, 6, 5), (1, 3, 3, 5), (1, 6, 6, 5)),  # 3x3, odd channels
    cn.ConvGeometry((1, 1), (0, 0), (1, 1), (1, 9, 9, 5), (1, 3, 3, 10), (1, 7, 7, 10), 2),  # multiplier 2
    cn.ConvGeometry((1, 1), (2, 2), (2, 2), (1, 10, 10, 4), (1, 3, 3, 4), (1, 10, 10, 4)),  # dilated
    cn.ConvGeometry((2, 2), (2, 2), (1, 1), (1, 7, 7, 16), (1, 5, 5, 16), (1, 4, 4, 16)),
    cn.ConvGeometry((1, 1), (1, 1), (1, 1), (2, 7, 7, 16), (1, 3, 3, 16), (2, 7, 7, 16)),  # batches
    cn.ConvGeometry((1, 1), (1, 1), (1, 1), (1, 8, 8, 1), (1, 3, 3, 4), (1, 8, 8, 4), 4),  # one input channel
]


def _c_dims(d: tuple[int, ...]) -> str:
    return "{" + ", ".join(map(str, d)) + "}"


def _c_sizes(plain: str, dsp: str, mve: str, g: cn.ConvGeometry, depthwise: bool) -> str:
    """A C block printing three CMSIS-NN buffer sizes for one geometry."""
    tiles = f"{_c_dims(g.stride)}, {_c_dims(g.padding)}, {_c_dims(g.dilation)}, {{-128, 127}}"
    params = f"{{0, 0, {g.ch_mult}, {tiles}}}" if depthwise else f"{{0, 0, {tiles}}}"
    kind = "cmsis_nn_dw_conv_params" if depthwise else "cmsis_nn_conv_params"
    args = "&p, &i, &f, &o"
    return (
        f"{{ const {kind} p = {params}; const cmsis_nn_dims i = {_c_dims(g.input)}, f = {_c_dims(g.filter)}, "
        f'o = {_c_dims(g.output)}; printf("%d %d %d\\n", (int){plain}({args}), (int){dsp}({args}), '
        f"(int){mve}({args})); }}"
    )


@needs_cmsis
def test_s4_scratch_equals_cmsis_nn_get_buffer_size(tmp_path):
    """The Python twins equal CMSIS-NN's s4 get_buffer_size functions, called from C on the host.

    The host build gives the plain-C sizes and the _dsp ones. For MVE the twin follows what an MVE build of
    arm_convolve_wrapper_s4_get_buffer_size returns, which CMSIS-NN 7.0.0 defines as the s8 wrapper's MVE size
    (its own _mve twin differs for 1xN convolutions); for depthwise the _mve function is the MVE build's.
    """
    assert CMSIS is not None
    cases = [
        (g, False, ("arm_convolve_wrapper_s4_get_buffer_size", "_dsp", "arm_convolve_wrapper_s8_get_buffer_size_mve"))
        for g in S4_CONV
    ] + [(g, True, ("arm_depthwise_conv_wrapper_s4_get_buffer_size", "_dsp", "_mve")) for g in S4_DW]
    body = []
    for g, depthwise, (plain, dsp, mve) in cases:
        body.append(_c_sizes(plain, plain + dsp, mve if mve.startswith("arm") else plain + mve, g, depthwise))
    (tmp_path / "sizes.c").write_text(
        '#include <stdio.h>\n#include "arm_nnfunctions.h"\nint main(void) {\n'
        + "\n".join(f"  {b}" for b in body)
        + "\n  return 0;\n}\n"
    )
    lib = build_cmsis_library(CMSIS, load_board("host"))
    includes = [f"-I{d}" for d in CMSIS.include_dirs]
    exe = tmp_path / "sizes"
    source = tmp_path / "sizes.c"
    subprocess.run(["gcc", "-std=c99", "-O1", *includes, "-o", str(exe), str(source), str(lib)], check=True)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    mismatches, nonzero = [], set()
    for (g, depthwise, _), line in zip(cases, lines, strict=True):
        twin = cn.depthwise_s4_wrapper_buffer_size if depthwise else cn.conv_s4_wrapper_buffer_size
        python = {core: twin(core, g) for core in CORES}
        c = dict(zip(CORES, map(int, line.split()), strict=True))
        if python != c:
            mismatches.append(f"{'depthwise' if depthwise else 'conv'} {g}: python {python}, CMSIS-NN {c}")
        nonzero |= {(depthwise, core) for core, size in c.items() if size}
    assert not mismatches, "\n".join(mismatches)
    assert nonzero == {(d, core) for d in (False, True) for core in CORES}  # every size was exercised


# --- models: (input shape with batch, layers) chains; odd channel counts make rows start mid-byte ---

MODELS = {
    "conv": [
        ((1, 9, 9, 3), [Conv(5, (3, 3), (2, 2))]),  # depth 27: every other filter row starts mid-byte
        ((1, 8, 8, 16), [Conv(8, (3, 3)), Conv(7, (1, 1), relu=False)]),  # even depth (MVE: even kernel); 1x1
        ((1, 8, 8, 6), [Conv(5, (1, 1), (2, 2), per_channel=False)]),  # strided 1x1, one scale
        ((1, 10, 10, 4), [Conv(4, (3, 3), dilation=(2, 2)), Conv(7, (5, 3), (2, 1), "VALID")]),
        ((1, 1, 16, 4), [Conv(8, (1, 3)), Conv(3, (1, 5), (1, 2), "VALID")]),  # 1xN
        ((1, 6, 6, 8), [Conv(6, (3, 3), groups=2)]),  # grouped: CMSIS-NN's s4 kernel has none
    ],
    "depthwise": [
        ((1, 7, 7, 5), [Depthwise((3, 3))]),  # odd channels, CMSIS-NN's optimised kernel
        ((1, 9, 9, 8), [Depthwise((5, 5), (2, 2))]),
        ((1, 9, 9, 5), [Depthwise((3, 3), padding="VALID", multiplier=2)]),  # CMSIS-NN refuses: odd input
        ((1, 6, 6, 4), [Depthwise((3, 3), multiplier=3)]),  # even input, odd multiplier: CMSIS-NN's generic
        ((1, 10, 10, 4), [Depthwise((3, 3), dilation=(2, 2), per_channel=False)]),
        ((2, 6, 6, 2), [Depthwise((2, 2), padding="VALID")]),  # batches
        ((1, 8, 8, 1), [Depthwise((3, 3), multiplier=4)]),  # one input channel
    ],
    "dense": [
        ((1, 6, 6, 3), [Conv(3, (3, 3)), Dense(9)]),  # flattened
        ((2, 10), [Dense(9), Dense(5, relu=True)]),  # batches; depth 9
        ((1, 33), [Dense(7)]),
        ((1, 256), [Dense(64)]),
    ],
}
#: op types the int4 weights of each model sit on
INT4_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
#: the s4 functions each backend's code calls
PORTABLE_S4 = ("tm_conv2d_s4", "tm_depthwise_conv2d_s4", "tm_fully_connected_s4")
CMSIS_S4 = ("arm_convolve_wrapper_s4", "arm_depthwise_conv_wrapper_s4", "arm_fully_connected_s4")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each model with int4 weights, and its int8-weight twin (the same float weights) as `NAME-int8`."""
    root = tmp_path_factory.mktemp("int4")
    paths = {}
    for name, chains in MODELS.items():
        paths[name] = int4_branches(root / f"{name}.tflite", chains)
        paths[f"{name}-int8"] = int4_branches(root / f"{name}-int8.tflite", chains, bits=8)
    return paths


def _cmsis_first(board: str) -> Backend:
    """The CMSIS-NN backend for `board`'s core with CMSIS-NN's kernels priced to win wherever they accept an op,
    so that every s4 variant runs on CMSIS-NN (the cost model may prefer the portable kernel for some)."""
    assert CMSIS is not None

    def first(kernel: Kernel) -> Kernel:
        base = type(kernel)
        return type(base.__name__, (base,), {"cost": lambda self, op, core, in_place=False: 0})(kernel.core)

    kernels = cn.cmsis_kernels(CoreFeatures.of(load_board(board)), fast=False)
    return Backend("cmsis-nn", {t: tuple(map(first, ks)) for t, ks in kernels.items()}, CMSIS)


def _assert_bit_exact(model: Path, board: str, backend: Backend, seeds: range = range(2)) -> pipeline.Compiled:
    """Compile for `board` (its emulated twin) layer by layer, each layer on its fastest kernel; run on seeded
    random inputs and compare every byte with TFLite Micro."""
    target = pipeline.target(board, emulate=board != "host")
    options = pipeline.CompileOptions(plan=PlanOptions(patches="off", prefer="speed"))
    planned = pipeline.plan(pipeline.load(model), target, backend, options.plan)
    code = pipeline.render(planned, target, backend)
    compiled = pipeline.Compiled(model, target, backend, planned, code, options)
    inputs = [b"".join(x.tobytes() for x in random_inputs(model, seed)) for seed in seeds]
    got = pipeline.run(compiled, inputs)
    assert got == pipeline.tflm_expected(compiled, inputs), f"{model.name} on {board} differs from TFLite Micro"
    return compiled


def _int4_layers(compiled: pipeline.Compiled) -> list[tuple[Operator, Kernel]]:
    """Every layer with int4 weights, and the kernel that runs it."""
    graph, kernels = compiled.graph, compiled.plan.kernels
    return [(op, k) for op, k in zip(graph.ops, kernels, strict=True) if op.type in INT4_OPS and packed_weights(op)]


def _calls(compiled: pipeline.Compiled) -> set[str]:
    """The kernel functions the generated model calls."""
    return set(re.findall(r"\b((?:tm|arm)_\w+)\(", compiled.code.files["model.c"]))


def _refused_by_cmsis_nn(op: Operator, core: cn.Core) -> bool:
    """The int4 layers of MODELS that CMSIS-NN's s4 kernels must refuse (see CmsisDepthwiseConv2DS4)."""
    inp, w, out = op.input(0), op.input(1), op.outputs[0]
    if op.type == "CONV_2D":
        return w.shape[3] != inp.shape[3]  # grouped
    if op.type == "DEPTHWISE_CONV_2D":
        optimised = out.shape[3] == inp.shape[3] and inp.shape[0] == 1 and not window_of(op).dilated
        return core == "mve" if optimised else inp.shape[3] % 2 == 1
    return False


# --- bit-exact with TFLite Micro ---


@pytest.mark.parametrize("name", list(MODELS))
def test_portable_on_host(models, name):
    compiled = _assert_bit_exact(models[name], "host", PORTABLE, seeds=range(3))
    layers = _int4_layers(compiled)
    assert len(layers) == sum(len(ls) for _, ls in MODELS[name])
    assert all(k is REGISTRY[op.type] for op, k in layers)
    calls = _calls(compiled)
    assert calls & set(PORTABLE_S4) and not calls & {"tm_conv2d_s8", "tm_depthwise_conv2d_s8", "tm_fully_connected_s8"}


def _assert_cmsis_nn_runs(compiled: pipeline.Compiled, core: cn.Core) -> None:
    """Every int4 layer runs on CMSIS-NN's s4 kernel, or on the portable one where CMSIS-NN's must refuse it."""
    for op, k in _int4_layers(compiled):
        if _refused_by_cmsis_nn(op, core):
            assert k is REGISTRY[op.type], (core, op.label, type(k).__name__)
        else:
            assert isinstance(k, cn.CmsisKernel) and type(k).__name__.endswith("S4"), (core, op.label, k)


@needs_cmsis
@pytest.mark.parametrize("name", list(MODELS))
def test_cmsis_nn_on_host(models, name):
    """CMSIS-NN's plain-C s4 kernels."""
    compiled = _assert_bit_exact(models[name], "host", _cmsis_first("host"))
    _assert_cmsis_nn_runs(compiled, "plain")
    assert _calls(compiled) & set(CMSIS_S4)


@needs_cmsis
@pytest.mark.parametrize("board", ["mps2-an500", "mps3-an547"])
def test_cmsis_nn_on_emulated_cores(models, board):
    """CMSIS-NN's DSP (Cortex-M7) and Helium (Cortex-M55) s4 kernels."""
    build_cmsis_library(CMSIS, load_board(board))  # type: ignore[arg-type]
    core = cn.core_of(CoreFeatures.of(load_board(board)))
    for name in MODELS:
        _assert_cmsis_nn_runs(_assert_bit_exact(models[name], board, _cmsis_first(board)), core)


def test_patch_stage_on_host(tmp_path):
    """--prefer memory runs the first layers tile by tile: int4 layers on tiles, their packed weights shared."""
    chain = [Conv(8, (3, 3)), Conv(16, (3, 3), (2, 2)), Depthwise((3, 3)), Conv(16, (1, 1)), Dense(5)]
    model = int4_branches(tmp_path / "patches.tflite", [((1, 48, 48, 3), chain)])
    options = pipeline.CompileOptions(kernels="portable", plan=PlanOptions(prefer="memory"))
    compiled = pipeline.compile_model(model, "host", options)
    assert any(op.type == "TINYML_COPY_REGION" for op in compiled.graph.ops)
    inputs = [b"".join(x.tobytes() for x in random_inputs(model, seed)) for seed in range(2)]
    assert pipeline.run(compiled, inputs) == pipeline.tflm_expected(compiled, inputs)
    weights = [c for c in compiled.code.consts if c.role is Role.WEIGHTS]
    assert sum(c.nbytes for c in weights) == sum((w.num_elements + 1) // 2 for w in _packed(model))


def _packed(model: Path) -> list[Tensor]:
    """The int4 weight tensors of a model, once each."""
    return [op.input(1) for op in pipeline.load(model).ops if op.type in INT4_OPS and packed_weights(op)]


def test_portable_on_cortex_m4(models):
    for name in MODELS:
        compiled = _assert_bit_exact(models[name], "mps2-an386", PORTABLE, seeds=range(1))
        assert set(PORTABLE_S4) & _calls(compiled)


# --- memory: weights packed in flash, scratch as CMSIS-NN sizes it ---


def test_weights_take_half_the_flash(models):
    """Each int4 weight tensor is one int8_t array of ceil(n / 2) bytes in flash, its values packed as TFLite packs
    them, and the report counts that: half the weight bytes of the same model with int8 weights."""
    for name in MODELS:
        compiled = pipeline.compile_model(models[name], "mps2-an500", pipeline.CompileOptions(kernels="portable"))
        twin = pipeline.compile_model(models[f"{name}-int8"], "mps2-an500", pipeline.CompileOptions(kernels="portable"))
        packed = 0
        for layer in compiled.code.layers:
            op = layer.op
            if op.type not in INT4_OPS:
                continue
            w = op.input(1)
            (array,) = [c for c in layer.consts if c.role is Role.WEIGHTS]
            assert array.ctype == "int8_t" and array.nbytes == (w.num_elements + 1) // 2, op.label
            assert np.array_equal(array.values.view(np.uint8), INT4.pack(w.data)), op.label
            assert INT4.unpack(array.values, w.num_elements).reshape(w.shape).tolist() == w.data.tolist()
            packed += array.nbytes
        int8_arrays = [c.nbytes for layer in twin.code.layers for c in layer.consts if c.role is Role.WEIGHTS]
        assert pipeline.report(compiled)["flash"]["weights_bytes"] == packed == sum((n + 1) // 2 for n in int8_arrays)
        assert pipeline.report(twin)["flash"]["weights_bytes"] == sum(int8_arrays)


@needs_cmsis
def test_planned_scratch_is_cmsis_nn_s4_buffer_size(models):
    """Each CMSIS-NN s4 layer gets exactly its get_buffer_size of scratch in the arena (rounded to the alignment);
    portable s4 layers get none."""
    nonzero = 0
    for board in ("mps2-an500", "mps3-an547"):
        for name in MODELS:
            target = pipeline.target(board, emulate=True)
            backend = _cmsis_first(board)
            planned = pipeline.plan(pipeline.load(models[name]), target, backend, PlanOptions(patches="off"))
            for i, op in enumerate(planned.graph.ops):
                k = planned.plan.kernels[i]
                if op.type not in INT4_OPS or not packed_weights(op):
                    continue
                want = k.buffer_size(op) if isinstance(k, cn.CmsisKernel) else 0
                assert k.scratch_bytes(op) == want
                assert planned.plan.scratch.get(i, (0, 0))[1] == -(-want // ALIGNMENT) * ALIGNMENT, (board, op.label)
                nonzero += want > 0
    assert nonzero > 5


# --- which kernels take int4 weights, and which refuse them by name ---


def test_fast_s4_kernels_come_first(models):
    """On DSP cores tinyml's fast kernels come first, for int4 weights through their s4 twins (tests/kernels/
    test_fast_s4.py), which take no int8 weights; then CMSIS-NN's s4 kernel (unless it must refuse the layer) and
    the portable s4 kernel. On MVE cores CMSIS-NN's Helium kernels come before the fast ones."""
    graph = pipeline.load(models["conv"])
    for features in (CoreFeatures(dsp=True), CoreFeatures(dsp=True, mve=True)):
        core = cn.core_of(features)
        backend = Backend("cmsis-nn", cn.cmsis_kernels(features), CMSIS)
        for op in graph.ops:
            if op.type not in INT4_OPS:
                continue
            names = [type(k).__name__ for k in backend.choices(op)]
            fast_names = [n for n in names if n.startswith("Fast")]
            assert all(n.endswith("S4") for n in fast_names), names
            covered = any(k.accepts(op) for k in FAST_KERNELS.get(op.type, ()))
            assert bool(fast_names) == covered, names
            if fast_names and not features.mve:
                assert names[0] in fast_names, names
            assert names[-1] == type(REGISTRY[op.type]).__name__
            others = [n for n in names if not n.startswith("Fast")]
            assert (len(others) == 1) == _refused_by_cmsis_nn(op, core), names


def _builder_graph(weights_type, per_channel: bool, op_type: str):
    """A one-op graph (tinyml.ir.builder) whose weights have the given type and scales."""
    b = GraphBuilder(f"{op_type.lower()}_{weights_type}")
    rng = np.random.default_rng(0)
    lo, hi = weights_type.range
    if op_type == "FULLY_CONNECTED":
        x = b.input((1, 12), scale=0.05, zero_point=-3)
        w = b.weights(rng.integers(lo, hi + 1, (5, 12)), [0.02] * 5 if per_channel else 0.02, type=weights_type)
        y = b.fully_connected(x, w, bias=np.zeros(5, dtype=np.int32), scale=0.1)
    else:
        x = b.input((1, 6, 6, 3), scale=0.05, zero_point=-3)
        w = b.weights(rng.integers(lo, hi + 1, (4, 3, 3, 3)), [0.02] * 4 if per_channel else 0.02, type=weights_type)
        y = b.conv2d(x, w, bias=np.zeros(4, dtype=np.int32), padding="SAME", scale=0.1)
    return b.graph([y])


def test_unsupported_int4_variants_are_refused_by_name():
    """Per-channel int4 fully connected weights (TFLite Micro runs per-tensor ones only): one line naming the tensor,
    its type and what the kernel takes. (int2 weights run on the sub-byte kernels: tests/kernels/test_subbyte.py.)"""
    with pytest.raises(UnsupportedOpError) as e:
        optimize(_builder_graph(INT4, True, "FULLY_CONNECTED"))
    message = "is int4 with a scale per unit; the portable FULLY_CONNECTED kernel takes per-tensor int4 weights"
    assert message in str(e.value)
    fc = _builder_graph(INT4, True, "FULLY_CONNECTED").ops[0]
    for core in ("plain", "dsp", "mve"):
        with pytest.raises(Unsupported, match="per-tensor int4 weights"):
            cn.CmsisFullyConnectedS4(core).check(fc)
    # per-tensor int4 fully connected and int4 convolutions are taken
    optimize(_builder_graph(INT4, False, "FULLY_CONNECTED"))
    optimize(_builder_graph(INT4, True, "CONV_2D"))


# --- cost model ---


def test_s4_kernels_have_cost_estimates(models):
    """Every s4 kernel is priced on every core from its s8 twin's fitted coefficients (not the last-resort guess),
    in proportion to its work."""
    graph = pipeline.load(models["conv"])
    for core in ("cortex-m4", "cortex-m7", "cortex-m55", "host"):
        features = CoreFeatures(dsp=True, mve=core == "cortex-m55")
        for op in graph.ops:
            if op.type not in INT4_OPS:
                continue
            for k in (REGISTRY[op.type], *cn.cmsis_kernels(features, fast=False)[op.type]):
                if not k.accepts(op):
                    continue
                key = costmodel.cost_key(op, k)
                assert "s4" in key.lower(), key
                estimate = costmodel.estimate_cycles(op, k, core)
                guess = costmodel.DEFAULT_PER_MAC * definition(op).macs(op)
                guess += costmodel.DEFAULT_PER_ELEMENT * op.outputs[0].num_elements
                assert 0 < estimate != round(guess), (core, key)
