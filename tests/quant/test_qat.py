"""Quantization-aware training (`tinyml quantize --qat`): a float Keras model fine-tuned with fake quantization at
8, 4 and 2 bits, checked where its file runs: TFLite Micro measures its accuracy, holds its INT4 weights and its
sub-byte activations, and tinyml's compiled C is bit-exact with TFLite Micro on the host. Then the CLI end to end,
Ctrl-C, and every bad input with its one line and exit status."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from quant_checks import SHAPE, assert_one_line_error, quadrants, quantized_inputs, tflm_accuracy, tflm_levels
from support import tinyml

from tinyml import pipeline
from tinyml.errors import UsageError
from tinyml.quant import QuantOptions, metadata
from tinyml.quant.data import fingerprint
from tinyml.quant.flatbuf import unpack_int4
from tinyml.quant.options import QatOptions

#: the float model's layers with weights, by the names the fixture gives them
WEIGHTED = ("stem", "dw", "pw", "fc")
QUANT = QuantOptions(samples=100)
#: TFLite's BuiltinOperator numbers of the ops with weights, and the INT4 TensorType
WEIGHTED_OPS = (3, 4, 9)
INT4 = 17


@pytest.fixture(scope="module")
def qat(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A Conv+BN+ReLU6 / depthwise / 1x1 conv / max pool / dense CNN trained 4 epochs on quadrant images, as a
    .keras file; its training data as an .npz and as a folder of PNGs per class; held-out test data; and models
    quantization-aware training refuses (a float .tflite, a SavedModel without Keras layers, a LayerNormalization)."""
    import keras
    import tensorflow as tf
    from PIL import Image

    d = tmp_path_factory.mktemp("qat")
    x, y = quadrants(512, 0)
    xt, yt = quadrants(256, 1)
    np.savez(d / "train.npz", x=x, y=y)
    np.savez(d / "nolabels.npz", x=x)
    np.savez(d / "tenclasses.npz", x=x, y=np.arange(len(x)) % 10)
    keras.utils.set_random_seed(0)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(SHAPE),
            layers.Conv2D(8, 3, strides=2, padding="same", name="stem"),
            layers.BatchNormalization(name="bn"),
            layers.ReLU(6.0, name="relu6"),
            layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw"),
            layers.Conv2D(16, 1, activation="relu", name="pw"),
            layers.MaxPooling2D(name="pool"),
            layers.Flatten(name="flat"),
            layers.Dense(4, name="fc"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    model.save(d / "cnn.keras")
    model.export(str(d / "saved"), verbose=False)
    (d / "float.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    for i in range(24):  # six images per class
        cls = d / "images" / f"class{y[i]}"
        cls.mkdir(parents=True, exist_ok=True)
        Image.fromarray((x[i] * 255).round().astype(np.uint8)).save(cls / f"{i}.png")
    (d / "flat_images").mkdir()
    Image.fromarray((x[0] * 255).astype(np.uint8)).save(d / "flat_images" / "0.png")
    (d / "empty").mkdir()
    norm = keras.Sequential(
        [keras.Input(SHAPE), layers.LayerNormalization(name="ln"), layers.Flatten(), layers.Dense(4)]
    )
    norm.save(d / "norm.keras")
    return SimpleNamespace(dir=d, model=d / "cnn.keras", train=d / "train.npz", x=xt, y=yt)


def write(q, path: Path) -> Path:
    path.write_bytes(q.raw)
    return path


def assert_bit_exact_on_host(model: Path, x: np.ndarray) -> None:
    """tinyml's compiled C on the host gives TFLite Micro's bytes for these real samples."""
    c = pipeline.compile_model(model, "host", pipeline.CompileOptions(kernels="portable"))
    inputs = [s.tobytes() for s in quantized_inputs(model, x)]
    assert pipeline.run(c, inputs) == pipeline.tflm_expected(c, inputs)


def weight_tensors(raw: bytes) -> dict[int, tuple[int, np.ndarray, int]]:
    """Each weight tensor of a conv, depthwise or fully connected op: index -> (type, int values, scale count)."""
    import tflite

    model = tflite.Model.GetRootAs(raw, 0)
    sub = model.Subgraphs(0)
    found = {}
    for i in range(sub.OperatorsLength()):
        op = sub.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) not in WEIGHTED_OPS:
            continue
        index = int(op.Inputs(1))
        t = sub.Tensors(index)
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        count = int(np.prod(t.ShapeAsNumpy()))
        values = unpack_int4(data, count) if t.Type() == INT4 else np.asarray(data).view(np.int8)
        found[index] = (t.Type(), values, t.Quantization().ScaleLength())
    return found


def bits_of(entry: dict) -> dict[int, int]:
    return {t["index"]: t["bits"] for t in entry["tensors"]}


# --- the trained files ------------------------------------------------------------------------------------------


def test_8_bit_qat_is_bit_exact_and_at_least_as_accurate_as_ptq(qat, tmp_path):
    ptq = write(pipeline.quantize(qat.model, qat.train, QUANT, progress=False), tmp_path / "ptq.tflite")
    options = QatOptions(epochs=1, learning_rate=1e-3)
    q = pipeline.train_quantized(qat.model, qat.train, options, QUANT, progress=False)
    out = write(q, tmp_path / "qat.tflite")

    ptq_accuracy, qat_accuracy = tflm_accuracy(ptq, qat.x, qat.y), tflm_accuracy(out, qat.x, qat.y)
    assert qat_accuracy >= ptq_accuracy and qat_accuracy > 0.5, (ptq_accuracy, qat_accuracy)
    assert_bit_exact_on_host(out, qat.x[:8])

    entry = metadata.read(out.read_bytes())
    assert entry == q.metadata and entry["method"] == "qat" and entry["options"] == QUANT.as_dict()
    assert entry["source"] == {
        "file": "cnn.keras",
        "kind": "keras",
        "sha256": fingerprint(qat.model),
        "loader": entry["source"]["loader"],
    }
    assert entry["qat"]["options"] == options.as_dict() and entry["qat"]["options"]["bits"] == "8"
    assert entry["qat"]["layers"] == dict.fromkeys(WEIGHTED, "w8a8")
    training = entry["qat"]["training"]
    assert (training["samples"], training["epochs"], training["classes"], training["file"]) == (512, 1, 4, "train.npz")
    assert (entry["calibration"]["samples"], entry["calibration"]["available"]) == (100, 512)
    assert set(bits_of(entry).values()) == {8}
    from tinyml.frontend import load_model

    graph = load_model(out)
    assert [str(t.type) for t in graph.inputs + graph.outputs] == ["int8", "int8"]


def test_w4a8_stores_int4_weights_that_tflite_micro_runs(qat, tmp_path):
    q = pipeline.train_quantized(
        qat.model, qat.train, QatOptions(epochs=1, learning_rate=1e-3, bits=(4, 8)), QUANT, progress=False
    )
    out = write(q, tmp_path / "w4a8.tflite")
    weights = weight_tensors(q.raw)
    assert len(weights) == len(WEIGHTED)
    for kind, values, _ in weights.values():  # TFLite INT4: two per byte, values in [-7, 7]
        assert kind == INT4 and values.min() >= -7 and values.max() <= 7 and len(np.unique(values)) > 3
    fc = list(weights.values())[-1]
    assert fc[2] == 1  # TFLite Micro takes per-tensor int4 fully connected weights only
    bits = bits_of(q.metadata)
    assert {i: bits[i] for i in weights} == dict.fromkeys(weights, 4)
    assert {b for i, b in bits.items() if i not in weights} == {8}
    assert q.metadata["qat"]["layers"] == dict.fromkeys(WEIGHTED, "w4a8")

    accuracy = tflm_accuracy(out, qat.x, qat.y)  # TFLite Micro unpacks the INT4 weights and runs them
    assert accuracy > 0.5, accuracy
    assert_bit_exact_on_host(out, qat.x[:4])  # tinyml's s4 kernels read the packed weights


def test_w8a4_activations_take_16_levels_in_tflite_micro(qat, tmp_path):
    q = pipeline.train_quantized(
        qat.model, qat.train, QatOptions(epochs=1, learning_rate=1e-3, bits=(8, 4)), QUANT, progress=False
    )
    out = write(q, tmp_path / "w8a4.tflite")
    # ReLU and ReLU6 outputs get 4 bits (the ReLUs become ReLU6); the logits keep 8
    assert q.metadata["qat"]["layers"] == {"stem": "w8a4", "dw": "w8a4", "pw": "w8a4", "fc": "w8a8"}
    weights = weight_tensors(q.raw)
    four = [i for i, b in bits_of(q.metadata).items() if b == 4]
    assert len(four) == 5 and not set(four) & set(weights)  # stem, dw, pw, and pw's max pool and its flattening
    from tinyml.frontend import load_model

    tensors = {t.index: t for t in load_model(out).tensors()}
    for i in four:
        assert tensors[i].quant.scales == pytest.approx([6 / 15]) and tensors[i].quant.zero_points == (-128,)
    levels = tflm_levels(out, qat.x[:64], four)
    for i, seen in levels.items():
        assert seen <= set(range(-128, -112)), (i, sorted(seen))
    assert len(set().union(*levels.values())) >= 8  # the activations are alive, not stuck at zero
    assert tflm_accuracy(out, qat.x, qat.y) > 0.5
    assert_bit_exact_on_host(out, qat.x[:8])


def test_per_layer_bits_with_2_bit_weights(qat, tmp_path):
    options = QatOptions(epochs=1, learning_rate=1e-3, layers=(("pw", 2, 4),))
    q = pipeline.train_quantized(qat.model, qat.train, options, QUANT, progress=False)
    out = write(q, tmp_path / "mixed.tflite")
    assert q.metadata["qat"]["layers"] == {"stem": "w8a8", "dw": "w8a8", "pw": "w2a4", "fc": "w8a8"}
    assert q.metadata["qat"]["options"]["layers"] == {"pw": "w2a4"}
    bits = bits_of(q.metadata)
    two = [i for i, b in bits.items() if b == 2]
    weights = weight_tensors(q.raw)
    assert len(two) == 1 and two[0] in weights
    for i, (kind, values, _) in weights.items():
        assert kind == 9  # int8 storage throughout: 2-bit weights are int8 values -2..1 with zero point 0
        if i in two:
            assert set(np.unique(values).tolist()) <= {-2, -1, 0, 1} and len(np.unique(values)) >= 3
        else:
            assert np.abs(values).max() > 2
    assert sorted(bits.values()).count(4) == 3  # pw's output, its max pool and its flattening
    assert_bit_exact_on_host(out, qat.x[:8])

    with pytest.raises(UsageError, match="no convolution or dense layer named 'nope'"):
        pipeline.train_quantized(qat.model, qat.train, QatOptions(layers=(("nope", 8, 8),)), QUANT, progress=False)
    with pytest.raises(UsageError, match="layer 'fc' would get 4-bit activations"):
        pipeline.train_quantized(qat.model, qat.train, QatOptions(layers=(("fc", 8, 4),)), QUANT, progress=False)


def test_keras_2_savedmodel_with_residual_and_concatenation(qat, tmp_path):
    """A SavedModel Keras 2 (tf-keras) wrote keeps its layers, so it trains too. A concatenation takes one range for
    the layers only it reads, so such a layer keeps 8-bit activations, and the metadata says so."""
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    layers = tf_keras.layers
    x = tf_keras.Input(SHAPE)
    a = layers.ReLU(name="a_relu")(layers.BatchNormalization(name="a_bn")(layers.Conv2D(8, 3, name="a")(x)))
    b = layers.DepthwiseConv2D(3, padding="same", activation="relu", name="b")(a)
    c = layers.Conv2D(8, 1, activation="relu6", name="c")(layers.Add(name="add")([a, b]))
    d = layers.GlobalAveragePooling2D(name="gap")(layers.Concatenate(name="cat")([c, a]))
    model = tf_keras.Model(x, layers.Dense(4, activation="softmax", name="fc")(d))
    model.compile("adam", "sparse_categorical_crossentropy")
    with np.load(qat.train) as data:
        model.fit(data["x"], data["y"], epochs=1, verbose=0)
    model.save(tmp_path / "saved")
    q = pipeline.train_quantized(tmp_path / "saved", qat.train, QatOptions(bits=(8, 4)), QUANT, progress=False)
    assert q.kind == "savedmodel" and q.metadata["source"]["loader"].startswith("tf-keras")
    # c feeds only the concatenation, which takes one 8-bit range for it; a feeds more, and keeps its 4 bits
    assert q.metadata["qat"]["layers"] == {"a": "w8a4", "b": "w8a4", "c": "w8a8", "fc": "w8a8"}
    assert_bit_exact_on_host(write(q, tmp_path / "res.tflite"), qat.x[:8])


# --- the command line ------------------------------------------------------------------------------------------


def test_cli_trains_on_an_image_folder(qat, tmp_path):
    out = tmp_path / "out.tflite"
    args = ("--qat", "--train", str(qat.dir / "images"), "--bits", "w8a4", "--calib-samples", "16", "--epochs", "2")
    proc = tinyml("quantize", str(qat.model), "-o", str(out), *args)
    assert proc.returncode == 0, proc.stderr
    assert "fake quantization at w8a4" in proc.stdout and "stem w8a4, dw w8a4, pw w8a4, fc w8a8" in proc.stdout
    assert "2 epoch(s) over 24 samples from images" in proc.stdout and "next: tinyml compile" in proc.stdout
    entry = metadata.read(out.read_bytes())
    assert entry["qat"]["training"]["kind"] == "images" and entry["qat"]["training"]["classes"] == 4
    assert entry["calibration"]["samples"] == 16 and entry["calibration"]["input_range"] == "0..1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tflite"]


def test_ctrl_c_stops_cleanly_and_leaves_the_output_alone(qat, tmp_path):
    out = tmp_path / "out.tflite"
    out.write_bytes(b"the user's own file")
    cmd = [sys.executable, "-m", "tinyml", "quantize", str(qat.model), "-o", str(out), "--qat"]
    proc = subprocess.Popen([*cmd, "--train", str(qat.train), "--epochs", "100000"], stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(12)  # loading and training by now; wherever it is, an interrupt must stop it the same way
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()  # a run that ignored the interrupt must not train on after the test
    assert proc.returncode == 130 and stderr.strip().splitlines()[-1] == "tinyml: interrupted", stderr
    assert "Traceback" not in stderr
    assert out.read_bytes() == b"the user's own file" and sorted(p.name for p in tmp_path.iterdir()) == [out.name]


BAD = {  # what is wrong: (model, extra arguments, exit status, words of the message)
    "--qat without --train": ("cnn.keras", ["--qat"], 2, ["--train DATA"]),
    "a bad --bits": ("cnn.keras", ["--qat", "--train", "train.npz", "--bits", "w5a8"], 2, ["'w5a8'", "--bits"]),
    "--bits without --qat": ("cnn.keras", ["--bits", "w4a8", "--calib", "train.npz"], 2, ["--bits", "--qat"]),
    "neither --calib nor --qat": ("cnn.keras", [], 2, ["--calib DATA", "--qat"]),
    "no labels": ("cnn.keras", ["--qat", "--train", "nolabels.npz"], 13, ["no labels"]),
    "an empty folder": ("cnn.keras", ["--qat", "--train", "empty"], 13, ["holds no data"]),
    "images without classes": ("cnn.keras", ["--qat", "--train", "flat_images"], 13, ["no class sub-folders"]),
    "more classes than outputs": ("cnn.keras", ["--qat", "--train", "tenclasses.npz"], 13, ["up to 9", "4 classes"]),
    "a float .tflite": ("float.tflite", ["--qat", "--train", "train.npz"], 11, ["float TFLite model", ".keras"]),
    "a SavedModel without layers": ("saved", ["--qat", "--train", "train.npz"], 11, ["Keras layers", ".keras"]),
    "an unsupported layer": ("norm.keras", ["--qat", "--train", "train.npz"], 11, ["'ln'", "LayerNormalization"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gets_one_line_and_its_exit_code(qat, tmp_path, case):
    model, extra, code, words = BAD[case]
    out = tmp_path / "out.tflite"
    args = [str(qat.dir / a) if (qat.dir / a).exists() else a for a in extra]
    proc = tinyml("quantize", str(qat.dir / model), "-o", str(out), *args)
    assert_one_line_error(proc, code, *words)
    assert not out.exists() and list(tmp_path.iterdir()) == []
