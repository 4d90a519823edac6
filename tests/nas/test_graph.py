"""The candidate's IR graph against what TensorFlow's converter really makes of its Keras model.

Each candidate is built as a Keras model (tinyml.nas.model), given random batch-norm statistics and classifier
biases (as a trained model has), converted with tinyml's own quantizer, and compiled and reported by the
pipeline; its graph from tinyml.nas.graph must have the same ops, attributes, shapes and types, and measure()
the report's figures.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tinyml import pipeline
from tinyml.frontend import load_model
from tinyml.ir.graph import Graph
from tinyml.ir.types import INT4, INT8
from tinyml.measure.report.data import CODE_PER_STRUCT_BYTES
from tinyml.nas.cost import measure
from tinyml.nas.graph import build_graph
from tinyml.nas.space import Arch, Stage, default_space

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

BOARD = "stm32f746"
CHANNELS, CLASSES = 3, 5

#: every block type; strides 1 and 2; identity and projection shortcuts; expansion 1 and more; a stride-2 stem
HAND = {
    "conv-res-mb": Arch(
        16,
        0.5,
        8,
        1,
        (
            Stage("conv", 8, 1, 1, 3),
            Stage("res", 16, 2, 2, 3),
            Stage("mb", 16, 2, 1, 5, expand=1),
            Stage("mb", 24, 1, 2, 3, expand=3),
        ),
    ),
    "stem2-res-identity": Arch(
        24,
        1.0,
        8,
        2,
        (Stage("res", 8, 1, 1, 3), Stage("mb", 16, 2, 2, 7, expand=4), Stage("conv", 24, 1, 2, 5)),
    ),
}


def sampled(seed: int) -> Arch:
    return default_space(32).sample(np.random.default_rng(seed))


CASES = {**HAND, "sampled-1": sampled(1)}


def keras_model(arch: Arch, path: Path) -> Path:
    """The candidate's Keras model with random batch-norm statistics and biases, saved at `path`."""
    from tinyml.nas.model import build_keras

    model = build_keras(arch, CHANNELS, CLASSES, seed=0)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            n = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.3, 3.0, n),
                    rng.uniform(-0.5, 0.5, n),
                    rng.uniform(-0.2, 0.2, n),
                    rng.uniform(0.5, 2.0, n),
                ]
            )
        elif layer.__class__.__name__ == "Dense":
            w, _ = layer.get_weights()
            layer.set_weights([w, rng.uniform(-0.1, 0.1, CLASSES).astype(np.float32)])
    model.save(path)
    return path


def images(arch: Arch, path: Path, n: int, labelled: bool = False) -> Path:
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (n, arch.resolution, arch.resolution, CHANNELS)).astype(np.float32)
    extra = {"y": np.arange(n) % CLASSES} if labelled else {}
    np.savez(path, x=x, **extra)
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each case converted to int8 by post-training quantization (tiny random calibration)."""
    out = {}
    for name, arch in CASES.items():
        d = tmp_path_factory.mktemp(name)
        q = pipeline.quantize(keras_model(arch, d / "m.keras"), images(arch, d / "calib.npz", 8), progress=False)
        out[name] = d / "m.tflite"
        out[name].write_bytes(q.raw)
    return out


def signature(graph: Graph) -> list[tuple[object, ...]]:
    """Per op: type, attributes, and each operand's shape, type and per-channel quantization (scales, axis)."""

    def operand(t: object) -> object:
        if t is None:
            return None
        q = t.quant  # type: ignore[attr-defined]
        return (t.shape, t.type, t.is_const, len(q.scales) if q else 0, q.axis if q else None)  # type: ignore[attr-defined]

    return [(op.type, op.attrs, [operand(t) for t in op.inputs], [operand(t) for t in op.outputs]) for op in graph.ops]


def activation_order(graph: Graph) -> list[int]:
    """The op producing each activation (-1: the input), activations taken in tensor order: the planner's order."""
    producer = {id(t): k for k, op in enumerate(graph.ops) for t in op.outputs}
    return [producer.get(id(t), -1) for t in sorted(graph.activations(), key=lambda t: t.index)]


def flash_slack(graph: Graph) -> int:
    """The flash a converted model may save over the candidate's graph by luck: the code generator shares a
    layer's per-channel shift array, or a parameter struct, with an earlier layer's identical one, and whether
    trained scales and zero points make two of them identical depends on the data (tinyml.nas.graph)."""
    shifts = sum(4 * op.outputs[0].shape[-1] for op in graph.ops if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D"))
    return shifts + 4 * CODE_PER_STRUCT_BYTES * len(graph.ops)


def check_report(arch: Arch, model: Path, bits: str) -> None:
    """measure() gives the report's figures for the converted model."""
    compiled = pipeline.compile_model(model, BOARD)
    report = pipeline.report(compiled)
    fp = measure(arch, BOARD, CHANNELS, CLASSES, bits)
    assert fp.peak_sram == report["sram"]["peak_bytes"]
    assert fp.ram == report["ram"]["total_bytes"]
    assert fp.weights == report["flash"]["weights_bytes"]
    assert fp.macs == report["macs"]
    assert fp.cycles == report["latency"]["cycles"]
    assert fp.latency_ms == report["latency"]["ms"]
    # the same parameters as the converted model's layers (batch norm folded)
    assert fp.params == sum(
        t.num_elements
        for op in compiled.graph.ops
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
        for t in op.inputs[1:]
        if t is not None
    )
    # flash: the same weights and code, but for what the converted model shares by luck
    assert 0 <= fp.flash - report["flash"]["total_bytes"] <= flash_slack(compiled.graph)


@pytest.mark.parametrize("name", list(CASES))
def test_graph_matches_the_converted_model(name: str, converted: dict[str, Path]) -> None:
    arch = CASES[name]
    theirs = load_model(converted[name])
    ours = build_graph(arch, CHANNELS, CLASSES, seed=3)
    assert signature(ours) == signature(theirs)
    assert activation_order(ours) == activation_order(theirs)
    # quantization as calibration makes it: ReLU outputs from zero, the input as pixels in 0..1, softmax's fixed
    relu = [op.outputs[0].quant.zero_point for op in ours.ops if getattr(op.attrs, "activation", "") == "RELU"]
    assert relu and set(relu) == {-128}
    assert ours.inputs[0].quant.zero_point == theirs.inputs[0].quant.zero_point == -128
    assert ours.inputs[0].quant.scale == pytest.approx(theirs.inputs[0].quant.scale, rel=1e-3)
    assert ours.outputs[0].quant == theirs.outputs[0].quant
    for op in ours.ops:
        if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            w, bias = op.input(1), op.input(2)
            assert w.type == INT8 and np.abs(w.data).max() <= 127 and w.quant.zero_points == (0,) * len(w.quant.scales)
            assert bias.quant.scales == pytest.approx([op.input(0).quant.scale * s for s in w.quant.scales])


@pytest.mark.parametrize("name", list(CASES))
def test_measure_is_the_report_of_the_converted_model(name: str, converted: dict[str, Path]) -> None:
    check_report(CASES[name], converted[name], "8")


def test_the_graph_is_seeded() -> None:
    arch = CASES["sampled-1"]
    a, b, c = (build_graph(arch, CHANNELS, CLASSES, seed=s) for s in (0, 0, 1))
    weights = [[op.input(1).data for op in g.ops if op.type == "CONV_2D"] for g in (a, b, c)]
    assert all(np.array_equal(x, y) for x, y in zip(weights[0], weights[1], strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(weights[0], weights[2], strict=True))


def test_w4a8_matches_quantization_aware_training(tmp_path: Path) -> None:
    """At 4-bit weights: the model tinyml's quantization-aware training writes (one short epoch), and the report."""
    from tinyml.quant.options import QatOptions

    arch = HAND["conv-res-mb"]
    train = images(arch, tmp_path / "train.npz", 16, labelled=True)
    options = QatOptions(epochs=1, batch_size=16, bits=(4, 8))
    q = pipeline.train_quantized(keras_model(arch, tmp_path / "m.keras"), train, options, progress=False)
    model = tmp_path / "w4a8.tflite"
    model.write_bytes(q.raw)
    theirs = load_model(model)
    ours = build_graph(arch, CHANNELS, CLASSES, bits="w4a8")
    assert signature(ours) == signature(theirs)
    weights = [op.input(1) for op in ours.ops if op.type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    assert all(w.type == INT4 and np.abs(w.data).max() <= 7 for w in weights)
    check_report(arch, model, "w4a8")
    # packed: half the int8 model's weight bytes (the fast kernels' layout pads a channel pair's odd group of four)
    int8 = measure(arch, BOARD, CHANNELS, CLASSES, "8").weights
    four = measure(arch, BOARD, CHANNELS, CLASSES, "w4a8").weights
    packed = sum(INT4.nbytes(w.num_elements) for w in weights)
    assert packed <= four <= packed * 1.01 and four < int8 * 0.55


def test_bits_are_checked() -> None:
    with pytest.raises(ValueError, match="w4a8"):
        build_graph(CASES["sampled-1"], CHANNELS, CLASSES, bits="w2a8")
