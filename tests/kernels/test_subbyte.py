"""Sub-byte activations (4 and 2 bits) and 2-bit weights, stored packed: standard TFLite models
(tests/subbyte_models.py) compiled for the host and the emulated Cortex-M7, every output byte checked against
TFLite Micro, the packed tensors counted packed by the planner (exact figures against the int8 plan of the same
model), the weights packed in flash, and the IR interpreter agreeing on the packed graph."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from subbyte_models import Add, Conv, Dense, Depthwise, Pool, subbyte_model
from support import assert_bit_exact, assert_runs_bit_exact, suite_cache, tinyml

from tinyml import pipeline
from tinyml.errors import ToolchainError
from tinyml.frontend import load_model
from tinyml.ir.graph import Graph, Operator
from tinyml.ir.types import INT2, INT8, UINT2, UINT4
from tinyml.kernels import fast
from tinyml.kernels.backends import PORTABLE, Backend
from tinyml.kernels.portable.conv import Conv2D
from tinyml.ops.base import Role
from tinyml.ops.region import COPY
from tinyml.passes import PASSES, pack_subbyte
from tinyml.plan import PatchConfig, PlanOptions, align
from tinyml.reference import run
from tinyml.reference.inputs import random_inputs
from tinyml.reference.tflm import tflm_outputs
from tinyml.target.packs import find_cmsis

#: every op with packed I/O, at 8, 4 and 2 bits in and out, aligned and odd shapes
MODELS = {
    # conv (int8 in, 4-bit out) -> depthwise (2-bit weights, 2-bit out) -> 1x1 conv (4-bit) -> max pool -> conv (2-bit
    # weights) -> ADD with the pool's output -> average pool -> reshape -> dense (2-bit weights, int8 out)
    "chain": (
        (1, 8, 8, 3),
        [
            Conv(8, act_bits=4),
            Depthwise(weight_bits=2, act_bits=2),
            Conv(8, kernel=(1, 1), act_bits=4),
            Pool("max"),
            Conv(8, weight_bits=2, act_bits=4),
            Add(skip=3, act_bits=4),
            Pool("avg"),
            Dense(5, weight_bits=2),
        ],
    ),
    # rows and pixels that start inside a byte: odd channels, strides, dilation, a depth multiplier, SAME average
    # pooling with border windows, a grouped conv, a depthwise conv wider than its gathered blocks, 2-bit dense output
    "odd": (
        (1, 7, 9, 3),
        [
            Conv(5, strides=(2, 2), act_bits=4),
            Depthwise(weight_bits=2, act_bits=2, multiplier=2, padding="VALID"),
            Conv(3, dilation=(2, 2), weight_bits=2, act_bits=4),
            Pool("avg", size=(3, 3), strides=(2, 2), padding="SAME"),
            Conv(6, kernel=(1, 1), act_bits=2),
            Conv(4, kernel=(1, 1), groups=2, weight_bits=2, act_bits=4),
            Conv(37, kernel=(1, 1), act_bits=2),
            Depthwise(weight_bits=2, act_bits=4),  # 37 channels: gathered in blocks of 32 and 5
            Dense(7, weight_bits=2, act_bits=2),
            Dense(3),
        ],
    ),
}

#: (4-bit activations, 2-bit activations, 2-bit weights) of each model: views and pools keep their input's packing
PACKED = {"chain": (7, 1, 3), "odd": (6, 4, 5)}

#: for the memory figures: a chain whose int8 plan peaks at the second conv
PEAK = (
    (1, 16, 16, 4),
    [Conv(8, act_bits=4), Conv(8, act_bits=2, weight_bits=2), Pool("max"), Dense(10, weight_bits=2)],
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("subbyte")
    paths = {name: subbyte_model(d / f"{name}.tflite", shape, layers) for name, (shape, layers) in MODELS.items()}
    paths["peak"] = subbyte_model(d / "peak.tflite", *PEAK)
    return SimpleNamespace(dir=d, **paths)


def _int8_graph(model: Path) -> Graph:
    """The model through every pass but the packing: the int8 graph tinyml compiled before."""
    graph = load_model(model)
    for run_pass in PASSES:
        if run_pass is not pack_subbyte:
            run_pass(graph)
    return graph


@pytest.mark.parametrize("name", list(MODELS))
def test_host_bit_exact_with_tflite_micro(models, name, tmp_path):
    model = getattr(models, name)
    planned = assert_bit_exact(model, tmp_path, seeds=range(4))
    types = [t.type for t in planned.graph.tensors()]
    # every sub-byte tensor of the models is packed: (4-bit activations, 2-bit activations, 2-bit weights)
    assert (types.count(UINT4), types.count(UINT2), types.count(INT2)) == PACKED[name]


@pytest.mark.parametrize("name", list(MODELS))
def test_reference_on_the_packed_graph(models, name):
    """tinyml.reference runs the packed IR (codes in their shifted quantization) to TFLite Micro's bytes."""
    model = getattr(models, name)
    graph = pipeline.load(model)
    for seed in range(3):
        inputs = random_inputs(model, seed)
        for got, want in zip(run(graph, inputs), tflm_outputs(model, inputs), strict=True):
            assert np.array_equal(got, want)


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "mps3-an547"])
def test_emulated_bit_exact(models, board, tmp_path):
    """The same models on the emulated M4, M7 and M55 (CMSIS-NN's kernels, when installed, run the int8 ops and
    refuse the packed ones, which fall back to the portable kernels), two inputs each."""
    for name in MODELS:
        model = getattr(models, name)
        inputs = [random_inputs(model, seed) for seed in range(2)]
        (tmp_path / "in.bin").write_bytes(b"".join(t.tobytes() for x in inputs for t in x))
        expected = b"".join(o.tobytes() for x in inputs for o in tflm_outputs(model, x))
        files = ("--input", str(tmp_path / "in.bin"), "--output", str(tmp_path / "out.bin"))
        proc = tinyml("run", str(model), "--board", board, *files, cache=tmp_path / "cache")
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "out.bin").read_bytes() == expected, f"{name} on {board} differs from TFLite Micro"


def test_metadata_marks_not_borne_out_are_warned(tmp_path):
    """A tensor the "tinyml" metadata marks 4-bit whose clamp allows 256 levels runs int8 (exactness first), and
    compiling says so once, naming it and why."""
    from tinyml.quant.metadata import attach

    wide = subbyte_model(tmp_path / "wide.tflite", (1, 4, 4, 3), [Conv(4, activation="none"), Conv(4, act_bits=4)])
    first = load_model(wide).ops[0].outputs[0]
    entry = {"schema": "tinyml.quant/1", "tensors": [{"index": first.index, "name": first.name, "bits": 4}]}
    (tmp_path / "marked.tflite").write_bytes(attach(wide.read_bytes(), entry))
    proc = tinyml("report", str(tmp_path / "marked.tflite"), "--board", "host", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "metadata" in line]
    assert warnings == [
        f"tinyml: warning: tensor {first.name!r} is marked 4-bit in the model's tinyml metadata but stays int8: "
        "the clamp of op #0 CONV_2D allows 256 levels"
    ]


def test_in_place_packed_convs(models, tmp_path):
    """The portable packed conv in place (priced the same in place as not, so that the fastest plan runs it in place
    wherever its input dies): packed rows written over the rows they read, saved unpacked in a ring first, from
    int8 to 4 bits and from 4 bits to 2; still TFLite Micro's bytes."""

    def cost(self: Conv2D, op: Operator, core: str, in_place: bool = False) -> int:
        return Conv2D.cost(self, op, core, False)

    free = Backend("free-in-place", {"CONV_2D": (type("Conv2D", (Conv2D,), {"cost": cost})(),)})
    planned = assert_bit_exact(models.peak, tmp_path, seeds=range(3), backend=free, options=PlanOptions(patches="off"))
    ops = planned.graph.ops
    in_place = [(ops[i].type, str(ops[i].input(0).type), str(ops[i].outputs[0].type)) for i in planned.plan.in_place]
    assert in_place == [("CONV_2D", "int8", "uint4"), ("CONV_2D", "uint4", "uint2")]


def test_fast_packed_conv_on_host(models, tmp_path):
    """tinyml's fast conv with packed activations (its DSP instructions as plain C on the host) takes the two convs
    with int8 weights (int8 in and 4-bit out, 4-bit in and out); the one with 2-bit weights stays portable."""
    backend = Backend("packed-fast", {"CONV_2D": (fast.FastConvPacked(),)})
    planned = assert_bit_exact(models.chain, tmp_path, seeds=range(3), backend=backend)
    kinds = [type(k).__name__ for op, k in zip(planned.graph.ops, planned.plan.kernels, strict=True)]
    assert kinds[:5] == ["FastConvPacked", "DepthwiseConv2D", "FastConvPacked", "MaxPool2D", "Conv2D"]


def _cmsis():  # type: ignore[no-untyped-def]
    try:
        return find_cmsis()[0]
    except ToolchainError:
        return None


@pytest.mark.skipif(_cmsis() is None, reason="CMSIS-NN not found")
def test_emulated_m7_with_cmsis_nn(models, tmp_path, tmp_path_factory, monkeypatch):
    """With --kernels cmsis-nn on the M7, CMSIS-NN refuses every packed op: the convs with int8 weights run on
    tinyml's fast packed conv (DSP instructions), the rest on the portable sub-byte kernels: TFLite Micro's bytes."""
    cmsis = _cmsis()  # found where it is installed; built into the run's cache, which the runs then use
    cache = suite_cache(tmp_path_factory)
    monkeypatch.setenv("TINYML_CACHE", str(cache))
    models_ = {name: getattr(models, name) for name in MODELS}
    assert_runs_bit_exact("mps2-an500", models_, tmp_path, cache, cmsis)


def test_peak_sram_counts_packed_tensors(models):
    """Layer by layer (no in-place, no patches), the peak is the live tensors at the worst op: int8, the second
    conv's 16x16x8 input and output (4,096 bytes); packed, the first conv's int8 input and its 4-bit output
    (1,024 + 1,024 bytes; reading int8 in place, it needs no scratch), 2,048 bytes less."""
    options = PlanOptions(in_place=False, patches="off", prefer="memory")
    board = pipeline.target("host")
    packed = pipeline.plan(pipeline.load(models.peak), board, PORTABLE, options)
    int8 = pipeline.plan(_int8_graph(models.peak), board, PORTABLE, options)
    conv1, conv2 = packed.graph.ops[:2]
    x, a, b = conv1.input(0), conv1.outputs[0], conv2.outputs[0]
    assert (x.nbytes, a.nbytes, b.nbytes) == (1024, 1024, 512)  # 16x16x4 int8, 16x16x8 at 4 and at 2 bits
    assert PORTABLE.kernel(conv1).scratch_bytes(conv1) == 0
    assert PORTABLE.kernel(conv2).scratch_bytes(conv2) == 3 * 3 * 8  # one window of the 4-bit input, as int8
    assert packed.plan.peak == x.nbytes + a.nbytes == 2048
    assert a.nbytes + b.nbytes + align(3 * 3 * 8) < 2048  # the second conv's live bytes
    assert int8.plan.peak == 2 * 16 * 16 * 8 == 4096
    # the default plan (fastest that fits, in place and patches allowed) keeps most of the saving
    default_packed = pipeline.plan(pipeline.load(models.peak), board, PORTABLE)
    default_int8 = pipeline.plan(_int8_graph(models.peak), board, PORTABLE)
    assert default_packed.peak < default_int8.peak


@pytest.mark.parametrize(("config", "scattered"), [(PatchConfig(2, 2, 3), UINT2), (PatchConfig(3, 2, 2), UINT4)])
def test_patches_of_packed_feature_maps(models, tmp_path, config, scattered):
    """Patch stages over packed tensors: each patch's tiles stay packed, and the stage output's are scattered into
    the packed feature map by the sub-byte region copy: 1x1x10 2-bit tiles start and end inside bytes."""
    planned = assert_bit_exact(models.odd, tmp_path, options=PlanOptions(patches=config), seeds=range(3))
    assert planned.patches == config
    copies = [op for op in planned.graph.ops if op.type == COPY]
    assert {op.input(0).type for op in copies} == {INT8, scattered}  # int8 input tiles in, packed tiles out


def test_two_bit_weights_are_packed_in_flash(models):
    """Codegen emits the 2-bit weights four to a byte: the flash the weights take (what the report counts) drops
    by three quarters of theirs; the first conv's weights stay int8."""
    board = pipeline.target("host")

    def weight_bytes(graph: Graph) -> int:
        code = pipeline.render(pipeline.plan(graph, board, PORTABLE), board, PORTABLE)
        return sum(c.nbytes for c in code.consts if c.role is Role.WEIGHTS)

    graph = pipeline.load(models.peak)
    w2 = [op.input(1) for op in graph.ops if op.type in ("CONV_2D", "FULLY_CONNECTED") and op.input(1).type == INT2]
    assert [w.shape for w in w2] == [(8, 3, 3, 8), (10, 512)]
    first = 8 * 3 * 3 * 4
    assert weight_bytes(graph) == first + (8 * 3 * 3 * 8 + 10 * 512) // 4 == 1712
    assert weight_bytes(_int8_graph(models.peak)) == first + 8 * 3 * 3 * 8 + 10 * 512 == 5984
