"""Memory planning: no two live buffers overlap, and no plan needs more than TFLM's."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from support import mlperf_dir

from tinyml import pipeline
from tinyml.frontend.tflite import load_model
from tinyml.kernels import REGISTRY
from tinyml.kernels.backends import PORTABLE, Backend, CoreFeatures
from tinyml.kernels.cmsis_nn import cmsis_kernels
from tinyml.kernels.costs import plan_cycles
from tinyml.passes import optimize
from tinyml.plan import PREFERENCES, PlanOptions, PlanTarget, check_plan, plan_memory, plan_model
from tinyml.plan.allocators import STRATEGIES, GreedyBySizePlanner
from tinyml.plan.choice import TIE, Option, _rank
from tinyml.reference.tflm import tflm_arena_bytes
from tinyml.target.boards import load_board

MODELS = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "str_ww_ref_model", "vww_96_int8"]


@pytest.fixture(scope="module", params=[(m, p) for m in MODELS for p in PREFERENCES], ids=lambda p: "-".join(p))
def model(request):
    """Each model planned layer by layer, the smallest arena and the fastest kernels."""
    name, prefer = request.param
    path = mlperf_dir() / f"{name}.tflite"
    return path, plan_memory(optimize(load_model(path)), options=PlanOptions(prefer=prefer))


def test_no_live_buffers_overlap(model):
    _, plan = model
    assert check_plan(plan) == []


def test_never_above_tflm(model):
    path, plan = model
    tflm = tflm_arena_bytes(path)
    assert plan.peak <= tflm, f"{path.name}: tinyml {plan.peak} > TFLM {tflm}"


def test_peak_covers_the_busiest_op(model):
    _, plan = model
    assert plan.peak >= plan.live_set_bound > 0


#: the CMSIS-NN backend of a DSP core: fast, CMSIS-NN and portable kernels per op (planning needs no CMSIS files)
DSP = Backend("cmsis-nn", cmsis_kernels(CoreFeatures(dsp=True)), None)
#: kernels priced on the Cortex-M7, no RAM limit
M7 = PlanTarget("cortex-m7")


@pytest.mark.parametrize("name", ["ad01_int8", "kws_ref_model", "str_ww_ref_model"])
def test_kernel_choice_trades_speed_for_memory(name):
    """memory: the smallest arena (never above the portable kernels'); speed without a limit: every op on its
    cheapest way to run by the cost model, in place only where that costs nothing, whatever the arena."""
    graph = optimize(load_model(mlperf_dir() / f"{name}.tflite"))
    plans = {p: plan_model(graph, DSP, PlanOptions(prefer=p, patches="off"), M7) for p in PREFERENCES}
    for planned in plans.values():
        plan = planned.plan
        assert check_plan(plan) == []
        for i, op in enumerate(graph.ops):  # the scratch planned is the chosen kernel's
            kernel, size = plan.kernels[i], plan.scratch.get(i, (0, 0))[1]
            want = kernel.in_place(op).scratch if i in plan.in_place else kernel.scratch_bytes(op)  # type: ignore[union-attr]
            assert size == -(-want // 16) * 16, (name, i)
        assert planned.cycles == plan_cycles(graph, plan.kernels, plan.in_place, "cortex-m7")
    memory, speed = plans["memory"], plans["speed"]
    assert memory.plan.peak <= plan_memory(graph, options=PlanOptions(prefer="memory")).peak
    assert memory.plan.peak <= speed.plan.peak and speed.cycles <= memory.cycles
    for i, op in enumerate(graph.ops):  # within the cost model's tie margin of the cheapest way to run it
        cheapest = min(
            k.cost(op, "cortex-m7", ip) for k in DSP.choices(op) for ip in (False, k.in_place(op) is not None)
        )
        chosen = speed.plan.kernels[i].cost(op, "cortex-m7", i in speed.plan.in_place)
        assert cheapest <= chosen <= cheapest * (1 + TIE), (name, i, op.type)
    if name == "str_ww_ref_model":  # CMSIS-NN's large depthwise kernels cannot run in place: memory gives them up
        assert speed.plan.peak > memory.plan.peak and speed.cycles < memory.cycles


class _Sluggish(type(REGISTRY["CONV_2D"])):  # type: ignore[misc]
    """The portable convolution under another name, listed first but priced ten times the portable one's."""

    def cost(self, op, core, in_place=False):
        return 10 * REGISTRY["CONV_2D"].cost(op, core, in_place)


class _Brisk(type(REGISTRY["CONV_2D"])):  # type: ignore[misc]
    """The portable convolution under another name, listed after _Sluggish and priced at a tenth."""

    def cost(self, op, core, in_place=False):
        return REGISTRY["CONV_2D"].cost(op, core, in_place) // 10


def test_kernels_are_ranked_by_cost_not_list_order():
    """A backend listing its slowest convolution first: the planner runs every convolution on the cheapest one the
    cost model names, and the plan's cycles are theirs."""
    graph = optimize(load_model(mlperf_dir() / "kws_ref_model.tflite"))
    backend = Backend("test", {"CONV_2D": (_Sluggish(), _Brisk())}, None)
    assert [type(k) for k in backend.choices(graph.ops[0])] == [_Sluggish, _Brisk, type(REGISTRY["CONV_2D"])]
    planned = plan_model(graph, backend, PlanOptions(patches="off"), M7)
    convs = [i for i, op in enumerate(graph.ops) if op.type == "CONV_2D"]
    assert convs and all(type(planned.plan.kernels[i]) is _Brisk for i in convs)
    assert planned.cycles == plan_cycles(graph, planned.plan.kernels, planned.plan.in_place, "cortex-m7")
    # listed the other way round, the same kernel wins: the order in the list only breaks near-ties
    backend = Backend("test", {"CONV_2D": (_Brisk(), _Sluggish())}, None)
    assert all(
        type(plan_model(graph, backend, PlanOptions(patches="off"), M7).plan.kernels[i]) is _Brisk for i in convs
    )


class _Close(type(REGISTRY["CONV_2D"])):  # type: ignore[misc]
    """The portable convolution under another name, priced 1% below it: within the cost model's tie margin."""

    def cost(self, op, core, in_place=False):
        return REGISTRY["CONV_2D"].cost(op, core, in_place) * 99 // 100


def test_near_ties_go_to_the_backends_order():
    """Estimates closer than TIE are within the cost model's error: the kernel the backend lists first runs."""
    graph = optimize(load_model(mlperf_dir() / "kws_ref_model.tflite"))
    convs = [i for i, op in enumerate(graph.ops) if op.type == "CONV_2D"]
    options = PlanOptions(patches="off", in_place=False)
    first = Backend("test", {"CONV_2D": (_Close(),)}, None)  # listed before the portable one, and 1% cheaper
    assert all(type(plan_model(graph, first, options, M7).plan.kernels[i]) is _Close for i in convs)
    # the portable kernel is listed last, and cheaper than _Sluggish by far: _Close, 1% cheaper, still comes first
    behind = Backend("test", {"CONV_2D": (_Sluggish(), _Close())}, None)
    assert all(type(plan_model(graph, behind, options, M7).plan.kernels[i]) is _Close for i in convs)
    # a kernel listed after the portable one cannot be: so a near-tie the other way round, checked with _rank
    a, b = Option(_Close(), False, 100, 1), Option(REGISTRY["CONV_2D"], False, 101, 0)
    assert _rank([a, b]) == [b, a] and _rank([Option(_Close(), False, 90, 1), b])[0].kernel.__class__ is _Close


def test_reshape_shares_memory():
    graph = optimize(load_model(mlperf_dir() / "kws_ref_model.tflite"))
    plan = plan_memory(graph)
    reshape = next(op for op in graph.ops if op.type == "RESHAPE")
    assert plan.offset(reshape.input(0)) == plan.offset(reshape.outputs[0])


def _random_buffers(rng, n):
    out = []
    for _ in range(n):
        first = int(rng.integers(0, 20))
        out.append((int(rng.integers(1, 5000)), first, first + int(rng.integers(0, 6))))
    return out


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.name)
@pytest.mark.parametrize("seed", range(20))
def test_random_plans_are_valid(strategy, seed):
    rng = np.random.default_rng(seed)
    bufs = _random_buffers(rng, int(rng.integers(1, 40)))
    planner = strategy()
    ids = [planner.add_buffer(f"b{i}", size, first, last) for i, (size, first, last) in enumerate(bufs)]
    placed = [(planner.offset(i), planner.buffers[i].size, f, last) for i, (_, f, last) in zip(ids, bufs, strict=True)]
    for i, (off_a, size_a, first_a, last_a) in enumerate(placed):
        assert off_a % 16 == 0 and size_a % 16 == 0 and size_a >= bufs[i][0]
        assert off_a + size_a <= planner.peak()
        for off_b, size_b, first_b, last_b in placed[i + 1 :]:
            if first_a <= last_b and first_b <= last_a:
                assert off_a + size_a <= off_b or off_b + size_b <= off_a
    load = max(sum(s for s, f, last in [(p[1], p[2], p[3]) for p in placed] if f <= t <= last) for t in range(30))
    assert planner.peak() >= load


def _random_pieces(rng, first: int, last: int) -> tuple[tuple[int, int, int], ...]:
    """Disjoint (size, first, last) pieces in time order within [first, last], some ops left without one."""
    pieces, t = [], first
    while t <= last:
        end = min(last, t + int(rng.integers(0, 3)))
        if rng.random() < 0.8:
            pieces.append((int(rng.integers(1, 3000)), t, end))
        t = end + 1
    return tuple(pieces)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.name)
@pytest.mark.parametrize("seed", range(10))
def test_first_fit_takes_the_lowest_free_offset(strategy, seed):
    """Each buffer, in the strategy's order, lands at the lowest aligned offset where it collides with none
    placed before it, found here by trying every offset; buffers whose size changes over time included."""
    rng = np.random.default_rng(100 + seed)
    planner = strategy()
    for i in range(int(rng.integers(1, 30))):
        first = int(rng.integers(0, 15))
        last = first + int(rng.integers(0, 6))
        pieces = _random_pieces(rng, first, last) if rng.random() < 0.5 else ()
        planner.add_buffer(f"b{i}", int(rng.integers(1, 3000)), first, last, pieces)
    planner.peak()
    placed: list = []
    for i in planner.order():
        want = planner.buffers[i]
        lowest = next(x for x in itertools.count(0, 16) if not any(want.collides(x, b) for b in placed))
        assert want.offset == lowest, (i, want.offset, lowest)
        placed.append(want)


def test_pieces_must_be_disjoint_and_within_the_buffer():
    planner = GreedyBySizePlanner()
    planner.add_buffer("ok", 64, 0, 5, ((64, 0, 1), (32, 3, 5)))
    for bad in (((64, 0, 2), (32, 2, 5)), ((32, 3, 5), (64, 0, 1)), ((64, 0, 6),), ((64, 2, 1),)):
        with pytest.raises(ValueError, match="pieces must be disjoint"):
            planner.add_buffer("bad", 64, 0, 5, bad)


def test_printable_plan():
    planner = GreedyBySizePlanner()
    planner.add_buffer("input", 100, 0, 1)
    planner.add_buffer("hidden", 40, 1, 2)
    planner.add_buffer("output", 100, 2, 3)
    text = str(planner)
    assert "greedy-by-size: peak 160 bytes" in text
    assert "hidden" in text and "input" in text
    assert planner.offset(0) == 0 and planner.offset(2) == 0 and planner.offset(1) == 112


def _inplace_model(path):
    """Every in-place pattern: stride-1 3x3 conv chain, residual ADD, strided depthwise,
    pointwise that grows and one that shrinks the channels."""
    import tensorflow as tf
    from keras_models import convert

    def build():
        x = tf.keras.Input((12, 10, 8))
        a = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        b = tf.keras.layers.Conv2D(8, 3, padding="same")(a)
        c = tf.keras.layers.Add()([a, b])
        d = tf.keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(c)
        e = tf.keras.layers.Conv2D(16, 1, activation="relu")(d)
        f = tf.keras.layers.DepthwiseConv2D(3, padding="same")(e)
        g = tf.keras.layers.Conv2D(4, 1)(f)
        return tf.keras.Model(x, g)

    return convert(build, [(12, 10, 8)], path)


def test_in_place_variants_are_bit_exact_and_smaller(tmp_path):
    from support import assert_bit_exact

    model = _inplace_model(tmp_path / "m.tflite")
    graph = optimize(load_model(model))
    plain = plan_memory(graph, options=PlanOptions(in_place=False, prefer="memory"))
    packed = plan_memory(graph, options=PlanOptions(prefer="memory"))
    kinds = {graph.ops[i].type for i in packed.in_place}
    assert {"CONV_2D", "ADD", "DEPTHWISE_CONV_2D"} <= kinds
    assert len(packed.in_place) >= 5
    assert packed.peak < plain.peak and check_plan(packed) == []
    assert_bit_exact(model, tmp_path)


def test_io_external_keeps_inputs_and_outputs_out_of_the_arena(tmp_path):
    graph = optimize(load_model(mlperf_dir() / "vww_96_int8.tflite"))
    inside = plan_memory(graph)
    outside = plan_memory(graph, options=PlanOptions(io_external=True))
    assert sorted(outside.external.values()) == [16, 27648]
    assert outside.peak < inside.peak
    assert outside.external_buffer(graph.inputs[0]) is not None and inside.external_buffer(graph.inputs[0]) is None


# --- the default plan: the fastest that fits the board ---


def _digits_model(path):
    """The digits demo's CNN (examples/digits/make_model.py), untrained: planning looks at shapes only."""
    import tensorflow as tf
    from keras_models import convert

    def build():
        layers = tf.keras.layers
        return tf.keras.Sequential(
            [
                tf.keras.Input((8, 8, 1)),
                layers.Conv2D(16, 3, padding="same", activation="relu"),
                layers.DepthwiseConv2D(3, padding="same", activation="relu"),
                layers.Conv2D(24, 1, activation="relu"),
                layers.MaxPooling2D(2),
                layers.Conv2D(32, 3, padding="same", activation="relu"),
                layers.GlobalAveragePooling2D(),
                layers.Dense(10),
                layers.Softmax(),
            ]
        )

    return convert(build, [(8, 8, 1)], path)


@pytest.mark.parametrize("backend", [PORTABLE, DSP], ids=["portable", "cmsis-nn"])
def test_digits_demo_runs_layer_by_layer(tmp_path, backend):
    """`make demo`: the digits CNN on the emulated Cortex-M7's 4 MB runs layer by layer, as fast as it can;
    --prefer memory still tiles it to save its few hundred bytes, at the cost of many more cycles."""
    graph = pipeline.load(_digits_model(tmp_path / "digits.tflite"))
    board = load_board("mps2-an500")
    default = pipeline.plan(graph, board, backend)
    assert default.patches is None and len(default.graph.ops) == len(graph.ops)
    smallest = pipeline.plan(graph, board, backend, PlanOptions(prefer="memory"))
    assert smallest.patches is not None and smallest.plan.peak < default.plan.peak
    assert default.cycles < smallest.cycles
    assert default.smallest_peak is None and smallest.smallest_peak == smallest.peak


def test_a_roomy_board_gets_the_fastest_plan():
    """VWW fits the emulated Cortex-M7 as it is: the default plan is --prefer speed with patches off, every op on
    its cheapest kernel."""
    graph = optimize(load_model(mlperf_dir() / "vww_96_int8.tflite"))
    board = load_board("mps2-an500")
    default = pipeline.plan(graph, board, DSP)
    fastest = plan_model(graph, DSP, PlanOptions(patches="off"), M7)
    assert default.patches is None and default.cycles == fastest.cycles
    assert (default.plan.kernels, default.plan.in_place, default.plan.peak) == (
        fastest.plan.kernels,
        fastest.plan.in_place,
        fastest.plan.peak,
    )


def test_a_tight_budget_trades_speed_for_memory_where_needed():
    """The streaming wake word model's fastest plan needs 16.9 KB with the stack and runtime: under a 16,000-byte
    budget the planner moves some layers to in-place kernels (no patches), and stays faster than the smallest
    plan; under 12 KB it needs the smallest."""
    graph = optimize(load_model(mlperf_dir() / "str_ww_ref_model.tflite"))
    board = load_board("mps2-an500")
    fastest = pipeline.plan(graph, board, DSP)
    smallest = pipeline.plan(graph, board, DSP, PlanOptions(prefer="memory"))
    reserved = pipeline.plan_target(board).ram_bytes_of(0, 0, len(graph.ops))
    assert fastest.plan.peak + reserved > 16_000
    tight = pipeline.plan(graph, board, DSP, PlanOptions(sram_budget=16_000))
    assert tight.plan.peak + reserved <= 16_000 and tight.patches is None
    assert len(tight.plan.in_place) > len(fastest.plan.in_place) or tight.plan.kernels != fastest.plan.kernels
    assert fastest.cycles < tight.cycles < smallest.cycles
    small = pipeline.plan(graph, board, DSP, PlanOptions(sram_budget=12_000))
    assert small.plan.peak + reserved <= 12_000 and small.plan.peak == smallest.plan.peak


def test_an_impossible_budget_gets_the_smallest_plan():
    """Nothing fits: the plan is the one --prefer memory makes (and the firmware will not link)."""
    graph = optimize(load_model(mlperf_dir() / "kws_ref_model.tflite"))
    board = load_board("mps2-an500")
    smallest = pipeline.plan(graph, board, DSP, PlanOptions(prefer="memory"))
    none = pipeline.plan(graph, board, DSP, PlanOptions(sram_budget=10_000))
    assert none.plan.peak == smallest.plan.peak == none.smallest_peak
    assert none.plan.kernels == smallest.plan.kernels and none.cycles == smallest.cycles
