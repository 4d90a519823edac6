"""The sub-byte pass: which tensors it packs (activations on at most 16 or 4 levels, weights in [-2, 1]), with
which types and levels, which it keeps int8 and why, that the packed graph means what the int8 one does, and the
refusals by name of packed operands no kernel takes. Graphs are built in Python: no TensorFlow, no compiler."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.builder import GraphBuilder
from tinyml.ir.graph import Graph, Tensor
from tinyml.ir.types import INT2, INT8, UINT2, UINT4
from tinyml.kernels import REGISTRY
from tinyml.ops import Unsupported
from tinyml.passes import check_supported, pack_subbyte
from tinyml.passes.subbyte import unpacked_marks
from tinyml.reference import run

RNG = np.random.default_rng(11)
#: a ReLU6 on 16 levels, and on 4
SIX_15, SIX_3 = 6 / 15, 6 / 3


def _weights(b: GraphBuilder, shape: tuple[int, ...], low: int = -2, high: int = 1, scale: float = 0.05) -> Tensor:
    return b.weights(RNG.integers(low, high + 1, shape), scale)


def _chain(levels_scale: float = SIX_15, weights_low: int = -2) -> tuple[Graph, dict[str, Tensor]]:
    """input -> conv (RELU6 at `levels_scale`, zero point -128) -> max pool -> avg pool (SAME) -> reshape -> FC."""
    b = GraphBuilder("chain")
    x = b.input((1, 6, 6, 3), scale=0.05, zero_point=-3)
    w = _weights(b, (5, 3, 3, 3), weights_low)
    a = b.conv2d(x, w, RNG.integers(-50, 50, 5), activation="RELU6", scale=levels_scale, zero_point=-128)
    m = b.max_pool2d(a, 2, 1, "SAME")
    p = b.average_pool2d(m, 3, 2, "SAME")
    r = b.reshape(p, (1, -1))
    fc_w = _weights(b, (4, r.shape[1]), -100, 100, 0.01)
    y = b.fully_connected(r, fc_w, RNG.integers(-50, 50, 4), scale=0.2, zero_point=5)
    graph = b.graph([y])
    check_supported(graph)
    return graph, {"x": x, "w": w, "a": a, "m": m, "p": p, "r": r, "fc_w": fc_w, "y": y}


def _inputs(graph: Graph, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, t.shape).astype(np.int8) for t in graph.inputs]


def test_sixteen_levels_pack_to_uint4_with_their_level():
    graph, t = _chain()
    int8_bytes = {k: v.nbytes for k, v in t.items()}
    packing = pack_subbyte(graph)
    # the ReLU6 output takes -128 .. -113: codes 0..15, zero point shifted to 0, level -128; views and pools join it
    for name in ("a", "m", "p", "r"):
        assert t[name].type == UINT4
        assert t[name].quant.zero_point == 0 and t[name].quant.level == -128
        assert t[name].nbytes == (int8_bytes[name] + 1) // 2
    assert t["w"].type == INT2 and t["w"].nbytes == -(-t["w"].num_elements // 4)
    assert t["fc_w"].type == INT8  # values beyond [-2, 1]
    assert t["x"].type == INT8 and t["y"].type == INT8  # the caller's bytes
    assert {x.name for x in packing.activations} == {t[n].name for n in ("a", "m", "p", "r")}
    assert packing.saved_flash == t["w"].num_elements - t["w"].nbytes


def test_four_levels_pack_to_uint2_and_seventeen_stay_int8():
    graph, t = _chain(SIX_3)
    pack_subbyte(graph)
    assert t["a"].type == UINT2 and t["a"].nbytes == -(-t["a"].num_elements // 4)
    graph, t = _chain(6 / 16)  # 0 .. 16: seventeen levels
    pack_subbyte(graph)
    assert t["a"].type == INT8 and t["a"].quant.level == 0


def test_weights_outside_two_bits_or_all_zero_stay_int8():
    graph, t = _chain(weights_low=-3)
    if int(t["w"].data.min()) > -3:  # make sure one weight is -3
        t["w"].data.reshape(-1)[0] = -3
    pack_subbyte(graph)
    assert t["w"].type == INT8 and t["a"].type == UINT4
    graph, t = _chain()
    t["w"].data[...] = 0  # a dead layer
    pack_subbyte(graph)
    assert t["w"].type == INT8 and t["a"].type == UINT4


@pytest.mark.parametrize("seed", range(3))
def test_the_packed_graph_computes_what_the_int8_graph_does(seed):
    """Codes in the shifted quantization give TFLite's values minus the level, through every op: the reference
    of the packed graph (average pooling lifts by the level to round as TFLite does) equals the int8 one's."""
    graph, _ = _chain()
    x = _inputs(graph, seed)
    before = run(graph, x)
    pack_subbyte(graph)
    after = run(graph, x)
    assert all(np.array_equal(p, q) for p, q in zip(before, after, strict=True))


def test_tensors_stay_int8_where_a_reader_takes_int8_only():
    b = GraphBuilder()
    x = b.input((1, 4, 4, 2), scale=0.05)
    a = b.conv2d(x, _weights(b, (4, 1, 1, 2)), activation="RELU6", scale=SIX_15, zero_point=-128)
    c = b.conv2d(x, _weights(b, (4, 1, 1, 2)), activation="RELU6", scale=SIX_15, zero_point=-128)
    cat = b.concatenation([a, c], axis=3, shape=(1, 4, 4, 8))
    out = b.conv2d(cat, _weights(b, (2, 1, 1, 8)), scale=0.1)
    graph = b.graph([out, c])
    check_supported(graph)
    packing = pack_subbyte(graph)
    assert a.type == INT8 and c.type == INT8 and not packing.activations
    reasons = dict(packing.kept)
    assert "CONCATENATION reads tensor" in reasons[a.name] and "no kernel for packed inputs" in reasons[a.name]
    assert "model input or output" in reasons[c.name]


def test_refusals_name_the_tensor_and_the_kernel():
    b = GraphBuilder()
    x = b.input((1, 4, 4, 2), scale=0.05)
    a = b.conv2d(x, _weights(b, (4, 1, 1, 2)), activation="RELU6", scale=SIX_15, zero_point=-128)
    s = b.softmax(b.reshape(a, (1, -1)))
    graph = b.graph([s])
    check_supported(graph)
    # packed by hand past what the pass would do: every kernel that cannot take it says so by name
    for t in (a, graph.ops[1].outputs[0]):
        t.type = UINT4
    softmax = graph.ops[2]
    with pytest.raises(Unsupported, match=r"tensor '.*' is uint4; the portable SOFTMAX kernel takes int8 input"):
        REGISTRY["SOFTMAX"].check(softmax)
    reshape = graph.ops[1]
    reshape.outputs[0].type = UINT2
    with pytest.raises(Unsupported, match=r"packed differently; a RESHAPE view keeps its input's packing"):
        REGISTRY["RESHAPE"].check(reshape)


def test_metadata_marks_that_cannot_be_packed_are_explained():
    """A tensor marked 4-bit (as quantization-aware training records it) whose clamp allows more levels stays int8,
    and says why; a marked tensor that was packed, and the model's output, say nothing."""
    b = GraphBuilder()
    x = b.input((1, 4, 4, 2), scale=0.05)
    a = b.conv2d(x, _weights(b, (4, 1, 1, 2)), activation="RELU", scale=SIX_15, zero_point=-128)
    c = b.conv2d(a, _weights(b, (4, 1, 1, 4)), activation="RELU6", scale=SIX_15, zero_point=-128)
    y = b.conv2d(c, _weights(b, (2, 1, 1, 4)), activation="RELU6", scale=SIX_15, zero_point=-128)
    graph = b.graph([y])
    check_supported(graph)
    pack_subbyte(graph)
    assert (a.type, c.type, y.type) == (INT8, UINT4, INT8)
    lines = unpacked_marks(graph, {a.index: 4, c.index: 4, y.index: 4})
    assert lines == [
        f"tensor {a.name!r} is marked 4-bit in the model's tinyml metadata but stays int8: "
        "the clamp of op #0 CONV_2D allows 256 levels"
    ]
