"""Mixed precision under memory budgets (`tinyml quantize --board B [--sram-budget] [--flash-budget] [--mixed]`):
a small float Keras model gets 8, 4 or 2 bits per layer so that it fits, by tinyml's own planner and report; the
written file holds the bits chosen, runs in TFLite Micro and compiles bit-exact with it; the least-sensitivity rule
fits and loses no more accuracy than Rusci et al.'s memory-driven rule; budgets no bits can meet are refused with
one line; the report shows the bits and the memory each choice saved."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from quant_checks import SHAPE, assert_one_line_error, quadrants, quantized_inputs, tflm_accuracy, tflm_levels
from support import tinyml

from tinyml import pipeline
from tinyml.errors import BudgetExceededError
from tinyml.quant import QuantOptions, metadata
from tinyml.quant.search import WEIGHTS, uniform

#: the float model's layers with weights, by the names the fixture gives them
WEIGHTED = ("stem", "dw", "conv", "hidden", "fc")
QUANT = QuantOptions(samples=200)
BOARD = "stm32f746"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A Conv+BN+ReLU6 / depthwise / pool / conv / pool / dense+ReLU / dense CNN trained on quadrant images (97% on
    held-out ones), as a .keras file and a float .tflite; its training data as an .npz; held-out test data."""
    import keras
    import tensorflow as tf

    d = tmp_path_factory.mktemp("mixed")
    x, y = quadrants(512, 0)
    np.savez(d / "train.npz", x=x, y=y)
    keras.utils.set_random_seed(0)
    layers = keras.layers
    net = keras.Sequential(
        [
            keras.Input(SHAPE),
            layers.Conv2D(16, 3, padding="same", name="stem"),
            layers.BatchNormalization(name="bn"),
            layers.ReLU(6.0, name="relu6"),
            layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw"),
            layers.MaxPooling2D(name="pool1"),
            layers.Conv2D(32, 3, padding="same", activation="relu", name="conv"),
            layers.MaxPooling2D(name="pool2"),
            layers.Flatten(name="flat"),
            layers.Dense(16, activation="relu", name="hidden"),
            layers.Dense(4, name="fc"),
        ]
    )
    net.compile(keras.optimizers.Adam(0.003), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    net.fit(x, y, epochs=10, batch_size=32, verbose=0)
    net.save(d / "cnn.keras")
    (d / "float.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(net).convert())
    xt, yt = quadrants(256, 1)
    return SimpleNamespace(dir=d, path=d / "cnn.keras", train=d / "train.npz", x=xt, y=yt)


@pytest.fixture(scope="module")
def prepared(model: SimpleNamespace) -> SimpleNamespace:
    """The model converted once at 8 bits with its memory model for the board, its sensitivities measured, and
    budgets between what 8 bits and the fewest bits need: SRAM halfway between the smallest plans at 8 bits and at
    the fewest bits (so activations must shrink), flash a third of the way up from the fewest bits' at that SRAM
    budget (so weights must)."""
    from tinyml.quant.mixed import MixedOptions, measure_sensitivity, prepare

    p = prepare(model.path, MixedOptions(BOARD), QUANT, calib=model.train)
    top, floor = uniform(p.knobs, lambda k: 8), uniform(p.knobs, lambda k: k.bits[-1])
    tight = p.memory.with_budgets(1, None)  # nothing fits 1 byte: the planner's smallest plans
    smallest, lowest = tight.footprint(top), tight.footprint(floor)
    sram = (smallest.sram_bytes + lowest.sram_bytes) // 2
    at_sram = p.memory.with_budgets(sram, None)
    high, low = at_sram.footprint(top).flash_bytes, at_sram.footprint(floor).flash_bytes
    flash = low + (high - low) // 3
    return SimpleNamespace(
        p=p,
        sensitivity=measure_sensitivity(p),
        int8=p.memory.footprint(top),
        lowest=lowest,
        sram=sram,
        flash=flash,
        memory=p.memory.with_budgets(sram, flash),
    )


def file_footprint(memory, path: Path):
    """The written file's own figures: loaded by tinyml's front end, planned and reported for the board."""
    return memory.measure(pipeline.load(path))


# --- the rules --------------------------------------------------------------------------------------------------


def test_sensitivity_fits_and_loses_no_more_than_rusci(prepared, model, tmp_path):
    """Both rules fit the budgets by the planner's and the report's own figures, in the memory model and in the
    files they write; the least-sensitivity choice costs less in total and is at least as accurate on held-out
    data, run by TFLite Micro."""
    from tinyml.quant import search
    from tinyml.quant.mixed import convert_choice

    memory, s = prepared.memory, prepared.sensitivity
    assert not memory.footprint(uniform(memory.knobs, lambda k: 8)).fits  # 8 bits do not fit these budgets
    chosen = {rule: search.choose(memory, rule, s) for rule in ("rusci", "sensitivity")}
    accuracy = {}
    for rule, choice in chosen.items():
        fp = choice.footprint
        assert fp.fits and fp.sram_bytes <= prepared.sram and fp.flash_bytes <= prepared.flash, rule
        assert fp == memory.footprint(choice.assignment)
        bits = choice.assignment.values()
        assert any(a < 8 for _, a in bits) and any(w < 8 for w, _ in bits), (rule, choice.assignment)
        raw, _ = convert_choice(prepared.p, choice.assignment, QUANT)
        path = tmp_path / f"{rule}.tflite"
        path.write_bytes(raw)
        written = file_footprint(memory, path)
        assert written.fits, (rule, written.sram_bytes, written.flash_bytes)
        assert (written.sram_bytes, written.weights_bytes) == (fp.sram_bytes, fp.weights_bytes), rule
        accuracy[rule] = tflm_accuracy(path, model.x, model.y)
    assert chosen["sensitivity"].cost <= chosen["rusci"].cost
    assert accuracy["sensitivity"] >= accuracy["rusci"], accuracy
    assert accuracy["sensitivity"] > 0.85, accuracy
    # every cut says why, and the weights' integer program or the greedy steps chose the sensitivity rule's
    reasons = chosen["sensitivity"].reasons
    assert all(reasons[(n, k)] for n in WEIGHTED for k in ("weights", "activations"))
    assert reasons[("fc", "activations")] == "8 bits: a model output"


def test_fits_at_8_bits_changes_nothing(prepared):
    from tinyml.quant import search

    memory = prepared.p.memory  # the board's own RAM and flash: 320 KB and 1 MB
    for rule in ("rusci", "sensitivity"):
        choice = search.choose(memory, rule, prepared.sensitivity)
        assert choice.assignment == dict.fromkeys(WEIGHTED, (8, 8)) and choice.footprint == prepared.int8


def test_budgets_no_bits_can_meet_are_refused(prepared):
    """Below what 2 bits wherever allowed need: refused, naming the layer that cannot shrink and the excess."""
    from tinyml.quant import search

    lowest = prepared.lowest  # the smallest plan at the fewest bits
    over = prepared.p.memory.with_budgets(lowest.sram_bytes - 100, None)
    with pytest.raises(BudgetExceededError) as e:
        search.choose(over, "sensitivity", prepared.sensitivity, "cnn.keras")
    message = e.value.message
    assert f"needs {lowest.sram_bytes:,} bytes of SRAM, 100 over" in message, message
    assert "which cannot shrink further" in message and "layer " in message
    assert e.value.exit_code == 3 and f"at least {lowest.sram_bytes:,} bytes" in e.value.fix
    fewest = prepared.p.memory.footprint(uniform(prepared.p.knobs, lambda k: k.bits[-1]))
    over = prepared.p.memory.with_budgets(None, fewest.flash_bytes - 1000)
    with pytest.raises(BudgetExceededError, match=f"{fewest.flash_bytes:,} bytes of flash .* 1,000 over.*'hidden'"):
        search.choose(over, "rusci", None, "cnn.keras")


def test_residual_branches_take_sub_byte_outputs(tmp_path):
    """The ReLU after an Add (fused into the ADD) is a knob of its own: under a tight SRAM budget Rusci's rule cuts
    it, the converted file holds the ADD's output on 2^b levels, fits as the memory model said, and compiles
    bit-exact with TFLite Micro."""
    import keras

    from tinyml.quant import search
    from tinyml.quant.mixed import MixedOptions, convert_choice, finish, prepare

    keras.utils.set_random_seed(1)
    layers = keras.layers
    x = keras.Input(SHAPE)
    a = layers.Conv2D(16, 3, padding="same", activation="relu", name="a")(x)
    b = layers.Conv2D(16, 3, padding="same", name="b")(a)
    y = layers.ReLU(name="join")(layers.Add(name="add")([a, b]))
    y = layers.Dense(4, name="fc")(layers.Flatten()(layers.MaxPooling2D(4)(y)))
    keras.Model(x, y).save(tmp_path / "res.keras")
    data, _ = quadrants(32, 2)
    np.savez(tmp_path / "calib.npz", data)
    quant = QuantOptions(samples=32)

    p = prepare(tmp_path / "res.keras", MixedOptions(BOARD), quant, calib=tmp_path / "calib.npz")
    knobs = {(k.layer, k.kind): k.bits for k in p.knobs}
    assert knobs[("join", "activations")] == (8, 4, 2) and ("join", WEIGHTS) not in knobs
    floor = uniform(p.knobs, lambda k: k.bits[-1])
    lowest = p.memory.with_budgets(1, None).footprint(floor)
    budget = lowest.sram_bytes + 64
    mixed = MixedOptions(BOARD, rule="rusci", sram_budget=budget)
    p.memory = p.memory.with_budgets(budget, None)
    choice = search.choose(p.memory, "rusci")
    assert choice.assignment["join"][1] < 8, choice.assignment
    raw, _ = convert_choice(p, choice.assignment, quant)
    result = finish(p, mixed, quant, choice, None, raw, None, None, 0.0)
    assert result.metadata["mixed"]["chosen"]["sram_bytes"] == choice.footprint.sram_bytes <= budget
    assert result.metadata["mixed"]["layers"]["join"]["weights"] is None
    out = tmp_path / "res.tflite"
    out.write_bytes(result.raw)
    bits = {t["index"]: t["bits"] for t in result.metadata["tensors"]}
    add = next(op for op in pipeline.load(out).ops if op.type == "ADD")
    joined = add.outputs[0].index
    assert bits[joined] == choice.assignment["join"][1] and add.outputs[0].type.sub_byte
    levels = tflm_levels(out, data[:16], [joined])[joined]
    assert len(levels) <= 2 ** bits[joined], sorted(levels)
    c = pipeline.compile_model(out, "host", pipeline.CompileOptions(kernels="portable"))
    inputs = [s.tobytes() for s in quantized_inputs(out, data[:8])]
    assert pipeline.run(c, inputs) == pipeline.tflm_expected(c, inputs)


# --- the written file -------------------------------------------------------------------------------------------


def test_cli_writes_a_file_that_fits_and_runs_bit_exact(prepared, model, tmp_path):
    """`tinyml quantize --board` fine-tunes at the chosen bits (--qat), writes a standard TFLite file whose metadata
    records each layer's bits, why and what they save; its sub-byte activations take 2^b levels in TFLite Micro,
    its 2-bit weights −2 … 1; tinyml compiles it bit-exact with TFLite Micro, and its report shows the bits."""
    out = tmp_path / "mixed.tflite"
    budgets = ("--sram-budget", str(prepared.sram), "--flash-budget", str(prepared.flash))
    args = ("--calib", str(model.train), "--board", BOARD, *budgets, "--qat", "--train", str(model.train))
    proc = tinyml("quantize", str(model.path), "-o", str(out), *args, "--epochs", "1")
    assert proc.returncode == 0, proc.stderr
    assert f"chosen for {BOARD} (sensitivity rule), fine-tuned at those bits" in proc.stdout
    entry = metadata.read(out.read_bytes())
    assert entry["method"] == "mixed-qat" and entry["qat"]["training"]["epochs"] == 1
    mixed = entry["mixed"]
    assert mixed["budgets"]["sram"] == {"limit_bytes": prepared.sram, "source": "option"}
    layers = mixed["layers"]
    assert sorted(layers, key=lambda n: layers[n]["op"]) == list(WEIGHTED)
    for name, layer in layers.items():
        assert f"  {name:<12} w{layer['weights']}a{layer['activations']}" in proc.stdout
        for kind in ("weights", "activations"):
            if layer[kind] < 8:
                assert layer["why"][kind] and f"{name} {kind} at {layer[kind]} bits: " in proc.stdout
        if (layer["weights"], layer["activations"]) != (8, 8):
            assert layer["saved"]["sram_bytes"] > 0 or layer["saved"]["flash_bytes"] > 0, (name, layer)
    assert mixed["chosen"]["sram_bytes"] <= prepared.sram and mixed["chosen"]["flash_bytes"] <= prepared.flash

    # what the file holds: sub-byte activations on 2^b levels while TFLite Micro runs it, 4-bit weights as INT4
    # tensors in [-7, 7], 2-bit weights as int8 values in [-2, 1]
    from tinyml.frontend import load_model
    from tinyml.ir.types import INT4, INT8

    bits = {t["index"]: t["bits"] for t in entry["tensors"]}
    tensors = {t.index: t for t in load_model(out).tensors()}
    sub = [i for i, b in bits.items() if b < 8 and not tensors[i].is_const]
    assert sub, "no sub-byte activations chosen"
    levels = tflm_levels(out, model.x[:64], sub)
    for i in sub:
        assert len(levels[i]) <= 2 ** bits[i], (i, bits[i], sorted(levels[i]))
    for i, b in bits.items():
        t = tensors[i]
        if t.is_const and b < 8:
            assert t.type == (INT4 if b == 4 else INT8), (i, b, t.type)
            assert -(2 ** (b - 1)) <= int(t.data.min()) and int(t.data.max()) < 2 ** (b - 1), (i, b)
    assert tflm_accuracy(out, model.x, model.y) > 0.85

    c = pipeline.compile_model(out, "host", pipeline.CompileOptions(kernels="portable"))
    inputs = [s.tobytes() for s in quantized_inputs(out, model.x[:8])]
    assert pipeline.run(c, inputs) == pipeline.tflm_expected(c, inputs)

    proc = tinyml("report", str(out), "--board", BOARD, *budgets, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["precision"]["layers"].keys() == layers.keys() and report["fits"]
    for name, layer in report["precision"]["layers"].items():
        row = report["layers"][layer["layer"]]
        assert row["bits"]["weights"] == layers[name]["weights"], name
    text = tinyml("report", str(out), "--board", BOARD, *budgets).stdout
    assert f"mixed precision: bits per layer chosen for {BOARD}" in text


# --- the command line's refusals --------------------------------------------------------------------------------


def test_cli_refuses_an_impossible_budget(prepared, model, tmp_path):
    out = tmp_path / "out.tflite"
    budget = prepared.lowest.sram_bytes - 512
    args = ("--calib", str(model.train), "--board", BOARD, "--sram-budget", str(budget))
    proc = tinyml("quantize", str(model.path), "-o", str(out), *args)
    assert_one_line_error(proc, 3, f"--sram-budget of {budget:,} bytes", "512 over", "cannot shrink further")
    assert list(tmp_path.iterdir()) == []


BAD = {  # what is wrong: (model, extra arguments, exit status, words of the message)
    "--mixed without --board": ("cnn.keras", ["--calib", "train.npz", "--mixed", "rusci"], 2, ["--board"]),
    "--flash-budget without --board": ("cnn.keras", ["--calib", "train.npz", "--flash-budget", "8K"], 2, ["--board"]),
    "--bits with --board": ("cnn.keras", ["--calib", "train.npz", "--board", BOARD, "--bits", "w4a8"], 2, ["--bits"]),
    "no data": ("cnn.keras", ["--board", BOARD], 2, ["--calib DATA"]),
    "an unknown board": ("cnn.keras", ["--calib", "train.npz", "--board", "nope"], 2, ["nope"]),
    "a float .tflite": ("float.tflite", ["--calib", "train.npz", "--board", BOARD], 11, ["Keras", ".keras"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gets_one_line_and_its_exit_code(model, tmp_path, case):
    name, extra, code, words = BAD[case]
    out = tmp_path / "out.tflite"
    args = [str(model.dir / a) if (model.dir / a).exists() else a for a in extra]
    proc = tinyml("quantize", str(model.dir / name), "-o", str(out), *args)
    assert_one_line_error(proc, code, *words)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_knobs_follow_the_model(prepared):
    """Every weighted layer's weights may take 8, 4 or 2 bits; its output only where a ReLU follows and it is not
    the model's output."""
    knobs = {(k.layer, k.kind): k.bits for k in prepared.p.knobs}
    assert knobs == {
        **{(n, WEIGHTS): (8, 4, 2) for n in WEIGHTED},
        **{(n, "activations"): (8, 4, 2) for n in WEIGHTED if n != "fc"},
        ("fc", "activations"): (8,),
    }
