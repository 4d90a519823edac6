"""GraphBuilder: graphs written in Python get the tensors, quantization, attributes and inferred shapes a converted
model would have, and compile to C that computes what the reference interpreter computes, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml import pipeline
from tinyml.codegen.project import write_project
from tinyml.ir.builder import GraphBuilder, quantization
from tinyml.ir.graph import Quantization
from tinyml.ir.types import FLOAT32, INT4, INT8, INT32
from tinyml.ops.conv import ConvAttrs
from tinyml.passes import check_supported
from tinyml.reference import run_bytes
from tinyml.target.build import build, run_host

RNG = np.random.default_rng(29)


def test_quantization_per_tensor_and_per_channel():
    assert quantization(0.1, -3) == Quantization((float(np.float32(0.1)),), (-3,), 0)
    q = quantization([0.5, 0.25], 0, axis=3)
    assert q.scales == (0.5, 0.25) and q.zero_points == (0, 0) and q.axis == 3 and q.per_channel


def test_tensors_names_types_and_data():
    b = GraphBuilder("t")
    x = b.input((1, 4, 4, 2), zero_point=-1)
    f = b.input((1, 3), type=FLOAT32, scale=None, name="f")
    w = b.weights(RNG.integers(-8, 8, (3, 3, 3, 2)), scales=[0.1, 0.2, 0.3], type=INT4)
    c = b.const([1, 2, 3], INT32)
    assert [t.name for t in (x, f, w, c)] == ["t1", "f", "t3", "t4"] and [t.index for t in (x, f)] == [0, 1]
    assert x.type == INT8 and x.quant.zero_point == -1 and f.type == FLOAT32 and f.quant is None
    assert w.type == INT4 and w.data.dtype == np.int8 and w.quant.per_channel and w.is_const and w.nbytes == 27
    assert c.data.dtype == np.int32 and c.shape == (3,) and c.quant is None
    assert b.inputs == [x, f]
    with pytest.raises(ValueError, match=r"values outside int4's range \[-8, 7\]"):
        b.weights([[8, 0]], type=INT4)


def test_outputs_take_the_first_inputs_quantization_unless_told():
    b = GraphBuilder()
    x = b.input((1, 6, 6, 2), scale=0.05, zero_point=4)
    same = b.max_pool2d(x, 2)
    other = b.average_pool2d(x, 2, scale=0.2)
    wider = b.relu(x, type="int16", zero_point=0)
    probs = b.softmax(b.reshape(x, (1, -1)))
    assert (same.quant.scale, same.quant.zero_point) == (x.quant.scale, 4)
    assert (other.quant.scale, other.quant.zero_point) == (float(np.float32(0.2)), 4)
    assert wider.type.name == "int16" and wider.quant.zero_point == 0 and wider.quant.scale == x.quant.scale
    assert probs.shape == (1, 72) and (probs.quant.scale, probs.quant.zero_point) == (1 / 256, -128)
    assert b.dequantize(probs).quant is None


def test_attributes_are_the_typed_ones_a_model_file_gives():
    b = GraphBuilder()
    x = b.input((1, 8, 8, 3))
    b.conv2d(x, b.weights(np.ones((4, 3, 3, 3))), stride=(2, 1), padding="VALID", dilation=2, activation="RELU6")
    assert b.ops[0].attrs == ConvAttrs((2, 1), "VALID", None, "RELU6", (2, 2))
    b.op("CONV_2D", [x, b.weights(np.ones((4, 1, 1, 3)))], {"stride_h": 2, "stride_w": 2, "padding": "SAME"})
    assert b.ops[1].attrs.stride == (2, 2) and b.ops[1].outputs[0].shape == (1, 4, 4, 4)


def test_bias_values_are_quantized_at_input_times_weight_scale():
    b = GraphBuilder()
    x = b.input((1, 4, 4, 2), scale=0.5)
    b.conv2d(x, b.weights(np.ones((2, 1, 1, 2)), scales=[0.25, 0.125]), bias=[10, -10])
    bias = b.ops[0].input(2)
    assert bias.type == INT32 and bias.data.tolist() == [10, -10] and bias.quant.scales == (0.125, 0.0625)


def test_graph_outputs_default_to_what_nothing_reads():
    b = GraphBuilder()
    x = b.input((1, 4, 4, 2))
    y = b.relu(x)
    z = b.add(y, x)
    side = b.max_pool2d(y, 2)
    graph = b.graph()
    assert graph.inputs == [x] and graph.outputs == [z, side] and len(graph.ops) == 3
    assert b.graph([side]).outputs == [side]


def test_shapes_come_from_the_definitions_and_shape_overrides_them():
    b = GraphBuilder()
    x = b.input((1, 7, 7, 3))
    assert b.conv2d(x, b.weights(np.ones((5, 3, 3, 3))), stride=2).shape == (1, 4, 4, 5)
    assert b.depthwise_conv2d(x, b.weights(np.ones((1, 3, 3, 6)), axis=3), depth_multiplier=2).shape == (1, 7, 7, 6)
    assert b.fully_connected(b.reshape(x, (1, -1)), b.weights(np.ones((10, 147)))).shape == (1, 10)
    assert b.mean(x, (1, 2)).shape == (1, 3)
    assert b.pad(x, [[0, 0], [1, 1], [2, 2], [0, 0]]).shape == (1, 9, 11, 3)
    assert b.relu(x, shape=(1, 147)).shape == (1, 147)  # nothing is validated: a test can build what it refuses


def test_a_built_graph_compiles_to_c_that_matches_the_reference(tmp_path):
    """Conv, depthwise, residual add, pool, reshape, fully connected and softmax, built in Python, compiled for
    the host with gcc, and run on random inputs: the bytes the reference interpreter computes."""
    b = GraphBuilder("built")
    x = b.input((1, 10, 9, 3), scale=0.04, zero_point=-5)
    w1 = b.weights(RNG.integers(-127, 128, (8, 3, 3, 3)), scales=list(0.005 + 0.01 * RNG.random(8)))
    y = b.conv2d(x, w1, RNG.integers(-300, 300, 8), stride=2, activation="RELU", scale=0.05, zero_point=-128)
    w2 = b.weights(RNG.integers(-127, 128, (1, 3, 3, 8)), scales=list(0.01 + 0.02 * RNG.random(8)), axis=3)
    z = b.depthwise_conv2d(y, w2, RNG.integers(-300, 300, 8), activation="RELU6", scale=0.06, zero_point=-128)
    s = b.add(y, z, scale=0.08, zero_point=-100)
    p = b.average_pool2d(s, 2, padding="SAME")
    w3 = b.weights(RNG.integers(-127, 128, (6, p.num_elements)), scales=0.004)
    logits = b.fully_connected(b.reshape(p, (1, -1)), w3, RNG.integers(-1000, 1000, 6), scale=0.2, zero_point=3)
    b.softmax(logits)
    graph = b.graph()
    check_supported(graph)

    board = pipeline.target("host")
    backend = pipeline.backend_for(board, pipeline.CompileOptions())
    planned = pipeline.plan(graph, board, backend)
    (tmp_path / "project").mkdir()
    write_project(pipeline.render(planned, board, backend), tmp_path / "project")
    app = build(tmp_path / "project", board)
    inputs = b"".join(RNG.integers(-128, 128, x.shape).astype(np.int8).tobytes() for _ in range(4))
    expected = run_bytes(graph, inputs)
    assert len(expected) == 4 * 6 and run_host(app, inputs) == expected


@pytest.mark.parametrize("activation", ["RELU", "RELU6"])
def test_a_4_bit_output_clamps_to_its_16_levels(activation):
    """The fused activation of a conv with an int4 output: within int4's range, whatever the int8 clamp would be."""
    from tinyml.ops.requant import conv_requant

    b = GraphBuilder()
    x = b.input((1, 4, 4, 2))
    b.conv2d(x, b.weights(np.ones((2, 1, 1, 2))), activation=activation, type=INT4, scale=0.1, zero_point=-2)
    lo, hi = conv_requant(b.ops[0]).act
    assert lo == -2 and hi == 7
