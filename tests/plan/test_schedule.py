"""Operator scheduling: the planner may run a branching graph's ops in another topological order when that lowers
the peak, and the generated C follows that order, bit-exact with TFLite Micro."""

from __future__ import annotations

import numpy as np
import pytest
from keras_models import convert
from support import assert_bit_exact, mlperf_dir

from tinyml.frontend.tflite import load_model
from tinyml.ir.builder import GraphBuilder
from tinyml.ir.graph import Graph
from tinyml.kernels.backends import PORTABLE
from tinyml.passes import optimize
from tinyml.plan import PREFERENCES, PlanOptions, plan_model
from tinyml.plan.options import PlanTarget
from tinyml.plan.planner import _Planner
from tinyml.plan.schedule import schedule


def _residual() -> Graph:
    """A downsampling residual block: x (16x16x16) -> conv1 (stride 2, 8 channels) -> conv2 (16) -> ADD <- shortcut
    conv (stride 2, 16 channels) of x. The main branch's first output (512 bytes) is half its second's (1,024).

    File order, bytes live: conv1 x+c1 = 4,608; conv2 x+c1+c2 = 5,632; shortcut x+c2+sc = 6,144; ADD 3,072.
    The shortcut before conv2: conv1 4,608; shortcut x+c1+sc = 5,632 (x dies); conv2 c1+sc+c2 = 2,560; ADD 3,072.
    The peak drops by c2 - c1 = 512 bytes (the least live bytes summed over the ops, too: the order scheduling
    picks)."""
    rng = np.random.default_rng(0)
    g = GraphBuilder("residual")
    x = g.input((1, 16, 16, 16), name="x")

    def weights(out: int, name: str):
        return g.const(rng.integers(-20, 20, (out, 3, 3, 16)), scale=[0.01] * out, name=name)

    c1 = g.conv2d(x, weights(8, "w1"), stride=2, activation="RELU", name="c1", scale=0.05)
    w2 = g.const(rng.integers(-20, 20, (16, 3, 3, 8)), scale=[0.01] * 16, name="w2")
    c2 = g.conv2d(c1, w2, name="c2", scale=0.05)
    sc = g.conv2d(x, weights(16, "ws"), stride=2, name="sc", scale=0.05)
    return g.graph([g.add(c2, sc, name="y", scale=0.1)])


def _topological(graph: Graph) -> bool:
    """Every op's inputs are graph inputs, constants or outputs of ops before it."""
    ready = {id(t) for t in graph.inputs}
    for op in graph.ops:
        if any(t is not None and not t.is_const and id(t) not in ready for t in op.inputs):
            return False
        ready |= {id(t) for t in op.outputs}
    return True


def test_the_shortcut_runs_before_the_second_conv_and_the_peak_drops_by_the_known_amount():
    graph = _residual()
    options = PlanOptions(prefer="memory")
    in_file_order = _Planner(graph, PORTABLE, options, PlanTarget()).run()
    planned = plan_model(graph, PORTABLE, options)
    assert [op.outputs[0].name for op in planned.graph.ops] == ["c1", "sc", "c2", "y"]
    assert _topological(planned.graph)
    assert in_file_order.plan.live_set_bound == 6144
    assert planned.plan.live_set_bound == 5632
    assert planned.peak == in_file_order.peak - 512


@pytest.mark.parametrize("prefer", PREFERENCES)
def test_scheduling_never_raises_the_peak(prefer):
    """Each order is planned for real and the better kept: never above the file order's plan."""
    graph = optimize(load_model(mlperf_dir() / "pretrainedResnet_quant.tflite"))
    options = PlanOptions(prefer=prefer)
    order = schedule(graph)
    assert order is not None and sorted(order) == list(range(len(graph.ops)))
    planned = plan_model(graph, PORTABLE, options)
    assert _topological(planned.graph)
    assert planned.peak <= _Planner(graph, PORTABLE, options, PlanTarget()).run().peak


def test_a_chain_keeps_its_order():
    graph = optimize(load_model(mlperf_dir() / "vww_96_int8.tflite"))
    assert schedule(graph) is None


def _keras_residual():
    import tensorflow as tf

    layers = tf.keras.layers
    x = inp = tf.keras.Input((16, 16, 16))
    y = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    y = layers.Conv2D(16, 3, padding="same")(y)
    s = layers.Conv2D(16, 3, strides=2, padding="same")(x)
    x = layers.ReLU()(layers.Add()([y, s]))
    return tf.keras.Model(inp, layers.Dense(10)(layers.GlobalAveragePooling2D()(x)))


def test_a_rescheduled_residual_block_is_bit_exact_with_tflite_micro(tmp_path):
    model = convert(_keras_residual, [(16, 16, 16)], tmp_path / "residual.tflite")
    options = PlanOptions(prefer="memory")
    planned = assert_bit_exact(model, tmp_path, options=options)
    graph = optimize(load_model(model))
    assert [op.index for op in planned.graph.ops] != [op.index for op in graph.ops], "the order did not change"
    assert _topological(planned.graph)
    assert planned.peak < _Planner(graph, PORTABLE, options, PlanTarget()).run().peak
