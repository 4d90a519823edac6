"""tinyml's fast kernels with int4 weights (tinyml/kernels/fast.py `*S4`, firmware/kernels/tm_fast_*_s4.c).

They must run int4-weight layers as fast as the int8 fast kernels run int8 ones, in the same memory (in place
too), bit-exact with TFLite Micro. The host runs the plain-C twins of the DSP instructions; the emulated
Cortex-M7 (mps2-an500) and M4 (mps2-an386) run the inline assembly. Models come from `int4_models` (TensorFlow's
converter on 4-bit narrow-range fake quants); their int8 twins hold the same float weights.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from int4_models import Conv, Depthwise, int4_branches
from support import CMSIS, needs_cmsis

from tinyml import pipeline
from tinyml.ir.builder import GraphBuilder
from tinyml.ir.graph import Operator
from tinyml.ir.types import INT4
from tinyml.kernels import costs as costmodel
from tinyml.kernels import fast
from tinyml.kernels.backends import Backend, CoreFeatures
from tinyml.kernels.base import Kernel, packed_weights
from tinyml.kernels.cmsis_nn import cmsis_kernels
from tinyml.plan import PlanOptions
from tinyml.reference.inputs import random_inputs

S4_KERNELS = (fast.FastConvS4, fast.FastConv1x1S4, fast.FastDepthwise3x3S4)

#: (input shape, layers) chains: KxK (3x3, 5x5) at strides 1 and 2 with odd channel counts (the gather's int8
#: patch), whole words of channels (its direct path), 1x1 forwards, backwards and strided, per-tensor weights,
#: and depthwise 3x3 at strides 1 and 2; shapes kept where a layer can run in place
CHAINS = [
    ((1, 9, 9, 3), [Conv(5, (3, 3), (2, 2)), Conv(7, (5, 5)), Conv(7, (3, 3), relu=False)]),
    ((1, 8, 8, 8), [Conv(8, (3, 3)), Conv(8, (5, 5), relu=False), Conv(12, (1, 1)), Conv(8, (1, 1), (2, 2), "VALID")]),
    ((1, 10, 10, 8), [Conv(8, (3, 3), per_channel=False), Conv(4, (1, 1), relu=False), Conv(9, (1, 1))]),
    ((1, 8, 8, 6), [Depthwise((3, 3)), Conv(8, (1, 1)), Depthwise((3, 3), relu=True)]),
    ((1, 16, 16, 5), [Depthwise((3, 3), (2, 2)), Conv(4, (3, 3), (2, 2), relu=False)]),
]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return int4_branches(tmp_path_factory.mktemp("fast_s4") / "fast_s4.tflite", CHAINS)


def _free_in_place(kernel: Kernel) -> Kernel:
    """`kernel` priced the same in place as not (same class name, so priced as itself): the planner then runs it
    in place wherever its input dies, which reaches every in-place path on a small model."""
    base = type(kernel)

    def cost(self: Kernel, op: Operator, core: str, in_place: bool = False) -> int:
        return base.cost(self, op, core, False)

    return type(base.__name__, (base,), {"cost": cost})()


#: tinyml's fast kernels, in place for free, then the portable ones
IN_PLACE = Backend("fast", {t: tuple(map(_free_in_place, ks)) for t, ks in fast.FAST_KERNELS.items()})


def _bit_exact(model: Path, board: str, backend: Backend, seeds: range = range(2)) -> pipeline.Compiled:
    """Compile layer by layer for `board` (its emulated twin), run seeded random inputs, compare with TFLM."""
    target = pipeline.target(board, emulate=board != "host")
    options = pipeline.CompileOptions(plan=PlanOptions(patches="off", prefer="speed"))
    planned = pipeline.plan(pipeline.load(model), target, backend, options.plan)
    code = pipeline.render(planned, target, backend)
    compiled = pipeline.Compiled(model, target, backend, planned, code, options)
    inputs = [b"".join(x.tobytes() for x in random_inputs(model, seed)) for seed in seeds]
    assert pipeline.run(compiled, inputs) == pipeline.tflm_expected(compiled, inputs), f"{model.name} on {board}"
    return compiled


def _s4_layers(compiled: pipeline.Compiled) -> list[tuple[int, Operator, Kernel]]:
    ops = zip(compiled.graph.ops, compiled.plan.kernels, strict=True)
    return [(i, op, k) for i, (op, k) in enumerate(ops) if op.type != "FULLY_CONNECTED" and packed_weights(op)]


def _assert_every_layer_fast_s4(compiled: pipeline.Compiled, in_place: bool) -> None:
    layers = _s4_layers(compiled)
    assert len(layers) == sum(len(ls) for _, ls in CHAINS)
    assert all(isinstance(k, S4_KERNELS) for _, _, k in layers), [type(k).__name__ for _, _, k in layers]
    names = {type(k).__name__ for _, _, k in layers}
    assert names == {"FastConvS4", "FastConv1x1S4", "FastDepthwise3x3S4"}
    if in_place:  # every kind in place at least once: KxK (ring), 1x1 forwards and backwards, depthwise
        done = [(op, k) for i, op, k in layers if i in compiled.plan.in_place]
        assert {type(k).__name__ for _, k in done} == names
        ones = [op for op, k in done if isinstance(k, fast.FastConv1x1S4)]
        assert {op.outputs[0].shape[3] > op.input(0).shape[3] for op in ones} == {False, True}


# --- the layout ---


def test_nibble_pairs_give_sixteen_times_each_weight():
    """Every pair of int4 values, -8 included: the two masks of a packed byte are the int8 bytes 16 * w, and the
    product's sums over a padded odd-length row are 16 times the int8 dot products."""
    values = np.arange(-8, 8)
    a, b = np.meshgrid(values, values)
    byte = fast.nibble_pairs(np.stack([a.reshape(-1), b.reshape(-1)]).astype(np.int8)).view(np.uint8)
    w = byte.astype(np.uint32)
    high = (w & 0xF0).astype(np.uint8).view(np.int8).astype(int)
    low = ((w << 4) & 0xF0).astype(np.uint8).view(np.int8).astype(int)
    assert high.tolist() == (16 * a.reshape(-1)).tolist() and low.tolist() == (16 * b.reshape(-1)).tolist()

    rng = np.random.default_rng(0)
    rows = rng.integers(-8, 8, (3, 11)).astype(np.int8)  # an odd channel pairs with zeros; 11 pads to 12
    x = rng.integers(-128, 128, 12)
    packed = fast.nibble_pairs(rows).view(np.uint8).astype(np.uint32).reshape(2, 3, 4)
    for pair in range(2):
        for ch, shift in ((0, 0), (1, 4)):
            if 2 * pair + ch >= 3:
                continue
            sixteen = ((packed[pair] << shift) & 0xF0).astype(np.uint8).view(np.int8).astype(int).reshape(-1)
            assert int(sixteen @ x) == 16 * int(rows[2 * pair + ch].astype(int) @ x[:11])


def test_flash_holds_half_the_int8_layout(model):
    """The weights' flash is the packed layout: half the int8 fast layout's bytes (a depthwise layer's packed
    TFLite bytes), and the scratch is the int8 twin's."""
    graph = pipeline.load(model)
    for op in graph.ops:
        if not packed_weights(op):
            continue
        for s4 in S4_KERNELS:
            if s4.op_types[0] != op.type or not s4().accepts(op):
                continue
            rows = s4().rows(op)
            twin = next(k for k in fast.FAST_KERNELS[op.type] if type(k) in s4.__mro__[1:])
            assert s4().layout(rows).nbytes == -(-twin.layout(rows).nbytes // 2)
            assert s4().scratch_bytes(op) == twin.scratch_bytes(op)


def _conv1x1(depth: int) -> Operator:
    """A CONV_2D 1x1 with `depth` input channels and int4 weights (tinyml.ir.builder)."""
    b = GraphBuilder(f"deep_{depth}")
    rng = np.random.default_rng(0)
    x = b.input((1, 1, 2, depth), scale=0.05, zero_point=-3)
    w = b.weights(rng.integers(-7, 8, (2, 1, 1, depth)), [1e-6, 1e-6], type=INT4)
    y = b.conv2d(x, w, bias=np.zeros(2, dtype=np.int32), padding="VALID", scale=0.1)
    return b.graph([y]).ops[0]


def test_reductions_beyond_the_sum_bound_are_refused():
    """The 16x sums stay in int32 only up to S4_MAX_DEPTH reduction elements: longer rows keep CMSIS-NN."""
    assert 16 * 8 * 128 * fast.S4_MAX_DEPTH < 2**31 <= 16 * 8 * 128 * (fast.S4_MAX_DEPTH + 1)
    longest = fast.S4_MAX_DEPTH // 4 * 4
    assert fast.FastConv1x1S4().accepts(_conv1x1(longest))
    assert not fast.FastConv1x1S4().accepts(_conv1x1(longest + 4))


# --- bit-exact with TFLite Micro ---


@needs_cmsis
def test_fastest_plan_on_host(model):
    """The CMSIS-NN backend of a DSP core: every int4 conv and depthwise layer runs on a fast s4 kernel."""
    backend = Backend("cmsis-nn", cmsis_kernels(CoreFeatures(dsp=True)), CMSIS)
    _assert_every_layer_fast_s4(_bit_exact(model, "host", backend, seeds=range(3)), in_place=False)


def test_in_place_on_host(model):
    _assert_every_layer_fast_s4(_bit_exact(model, "host", IN_PLACE, seeds=range(3)), in_place=True)


@pytest.mark.parametrize("board", ["mps2-an500", "mps2-an386", "mps3-an547"])
def test_in_place_on_emulated_cores(model, board):
    """The DSP instructions and the inline assembly: Cortex-M7, Cortex-M4 and Cortex-M55 (Armv8.1-M has them; there
    the fast kernels stand behind CMSIS-NN's Helium ones, for where the planner wants in-place runs)."""
    _assert_every_layer_fast_s4(_bit_exact(model, board, IN_PLACE, seeds=range(1)), in_place=True)


def _full_range_graph():
    """Int4 weights over the whole range, -8 included (TensorFlow's converter writes narrow-range ones only): a 3x3
    conv, a 1x1 conv widening the channels and a depthwise 3x3, per-channel scales, built in Python."""
    rng = np.random.default_rng(3)
    b = GraphBuilder("full_range_int4")
    x = b.input((1, 8, 8, 8), scale=0.05, zero_point=-3)
    w = b.weights(rng.integers(-8, 8, (8, 3, 3, 8)), list(0.004 + 0.004 * rng.random(8)), type=INT4)
    y = b.conv2d(x, w, bias=rng.integers(-300, 300, 8), scale=0.08, zero_point=4)
    w = b.weights(rng.integers(-8, 8, (12, 1, 1, 8)), list(0.01 + 0.01 * rng.random(12)), type=INT4)
    y = b.conv2d(y, w, bias=rng.integers(-300, 300, 12), scale=0.1, zero_point=-6)
    w = b.weights(rng.integers(-8, 8, (1, 3, 3, 12)), list(0.01 + 0.01 * rng.random(12)), type=INT4, axis=3)
    y = b.depthwise_conv2d(y, w, bias=rng.integers(-300, 300, 12), scale=0.12, zero_point=2)
    graph = b.graph([y])
    graph.source_hash = hashlib.sha256(b"full_range_int4").hexdigest()  # what firmware reports in its handshake
    return graph


@pytest.mark.parametrize("board", ["host", "mps2-an500"])
def test_full_int4_range_equals_the_reference(board):
    """-8 on both nibbles of a pair, in place, against tinyml's reference interpreter (TFLite's integer semantics,
    held to TFLite Micro by its own tests): on the host's C twins and the Cortex-M7's assembly."""
    graph = _full_range_graph()
    assert min(int(op.input(1).data.min()) for op in graph.ops) == -8
    target = pipeline.target(board, emulate=board != "host")
    options = pipeline.CompileOptions(plan=PlanOptions(patches="off", prefer="speed"))
    planned = pipeline.plan(graph, target, IN_PLACE, options.plan)
    assert all(isinstance(k, S4_KERNELS) for k in planned.plan.kernels)
    assert len(planned.plan.in_place) == 3
    code = pipeline.render(planned, target, IN_PLACE)
    compiled = pipeline.Compiled(Path("full_range_int4.tflite"), target, IN_PLACE, planned, code, options)
    rng = np.random.default_rng(0)
    inputs = [rng.integers(-128, 128, 8 * 8 * 8, dtype=np.int8).tobytes() for _ in range(2)]
    assert pipeline.run(compiled, inputs) == pipeline.run_reference(graph, inputs)


# --- the planner: int4 weights cost no memory or time over int8 ones ---

#: ResNet-8 (MLPerf Tiny image classification) in shape: 3x3 convolutions in three stages, 1x1 shortcuts
RESNET8 = [
    ((1, 32, 32, 3), [Conv(16, (3, 3)), Conv(16, (3, 3)), Conv(16, (3, 3), relu=False)]),
    ((1, 32, 32, 16), [Conv(32, (3, 3), (2, 2)), Conv(32, (3, 3), relu=False), Conv(32, (1, 1), (2, 2), "VALID")]),
    ((1, 16, 16, 32), [Conv(64, (3, 3), (2, 2)), Conv(64, (3, 3), relu=False), Conv(64, (1, 1), (2, 2), "VALID")]),
]


@needs_cmsis
def test_resnet8_shaped_int4_plan_matches_int8(tmp_path):
    """On the Cortex-M7 (stm32f746) the w4a8 model plans into the int8 twin's peak, runs on the fast s4 kernels,
    and its estimated cycles are within 15% of the twin's."""
    plans = {}
    for bits in (4, 8):
        path = int4_branches(tmp_path / f"resnet8-{bits}.tflite", RESNET8, bits=bits)
        plans[bits] = pipeline.compile_model(path, "stm32f746", pipeline.CompileOptions())
    s4, s8 = plans[4], plans[8]
    assert all(isinstance(k, S4_KERNELS) for _, _, k in _s4_layers(s4))
    assert s4.planned.peak == s8.planned.peak
    core = costmodel.core_name(s4.board)
    cycles = {b: costmodel.plan_cycles(p.graph, p.plan.kernels, p.plan.in_place, core) for b, p in plans.items()}
    assert cycles[8] <= cycles[4] <= 1.15 * cycles[8], cycles
