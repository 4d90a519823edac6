"""Accuracy where the model runs: `tinyml eval` on real CIFAR-10 photos and real MLPerf Tiny models, checked against
TFLite Micro and the float model; the same figure on the host and on the emulated Cortex-M7; and a float Keras model
deployed to the emulated M7 with a folder of images as its calibration data."""

from __future__ import annotations

import json
import os
import tarfile
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from support import mlperf_dir, tinyml

from tinyml import pipeline
from tinyml.measure.eval import input_specs
from tinyml.quant import QuantOptions
from tinyml.quant.data import read_data
from tinyml.reference.tflm import tflm_outputs

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _cifar_dir() -> Path:
    """$TINYML_CIFAR10, else ../shared/data/cifar10 beside the repo, else beside the MLPerf Tiny models' folder."""
    if os.environ.get("TINYML_CIFAR10"):
        return Path(os.environ["TINYML_CIFAR10"])
    beside_repo = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar10"
    models = os.environ.get("TINYML_MODELS")
    if beside_repo.is_dir() or not models:
        return beside_repo
    return Path(models).resolve().parents[1] / "data" / "cifar10"


CIFAR = _cifar_dir()


def _extract(tar: Path, dest: Path, splits: dict[str, range]) -> None:
    """The test photos numbered in each range of `splits`, per class, as dest/<split>/<class>/<n>.jpg."""
    taken: Counter[str] = Counter()
    with tarfile.open(tar) as t:
        for member in t:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3:
                continue
            number = int(Path(parts[2]).stem)
            for split, numbers in splits.items():
                if number in numbers:
                    target = dest / split / parts[1] / parts[2]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(t.extractfile(member).read())
                    taken[split] += 1
    assert all(taken[s] == 10 * len(r) for s, r in splits.items()), taken


@pytest.fixture(scope="module")
def cifar(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A handful of CIFAR-10 test photos (calibration and evaluation sets apart), and a small CNN trained a few
    steps on the calibration photos, as a .keras file."""
    if not (CIFAR / "test.tar").is_file():
        pytest.skip(f"CIFAR-10 JPEGs not found at {CIFAR} (set TINYML_CIFAR10)")
    import keras

    d = tmp_path_factory.mktemp("cifar")
    _extract(CIFAR / "test.tar", d, {"calib": range(0, 12), "eval": range(100, 108)})
    classes = sorted(p.name for p in (d / "calib").iterdir())
    x = np.stack(
        [np.asarray(Image.open(f), np.float32) / 255 for c in classes for f in sorted((d / "calib" / c).iterdir())]
    )
    y = np.repeat(np.arange(10), 12)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
            keras.layers.Conv2D(16, 1, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    model.save(d / "cnn.keras")
    return SimpleNamespace(dir=d, calib=d / "calib", eval=d / "eval", model=d / "cnn.keras", keras=model, cache=d / "c")


def test_eval_on_the_host_is_what_tflite_micro_and_the_float_model_say(cifar, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE", str(cifar.cache))
    options = pipeline.CompileOptions(kernels="portable", calib=cifar.calib, quant=QuantOptions(samples=64))
    c = pipeline.compile_model(cifar.model, "host", options)
    result = pipeline.evaluate(c, cifar.eval, float_model=cifar.model, progress=False)
    assert result.accuracy.total == 80 and result.data["classes"] == 10 and result.data["input_range"] == "0..1"
    assert result.labels.tolist() == np.repeat(np.arange(10), 8).tolist()  # sorted class folders

    # the oracle: the same photos, quantized by the input's scale and zero point, through TFLite Micro
    data = read_data(cifar.eval, input_specs(c.graph), labelled=True)
    q = c.graph.inputs[0].quant
    expected = []
    for x in data.inputs[0]:
        qx = np.clip(np.round(x / np.float32(q.scale)) + q.zero_point, -128, 127).astype(np.int8)[None]
        expected.append(int(tflm_outputs(c.model, [qx])[0].argmax()))
    assert result.predictions.tolist() == expected
    floats = cifar.keras.predict(data.inputs[0], verbose=0).argmax(axis=1)
    assert result.float_predictions.tolist() == floats.tolist()
    assert result.accuracy.correct == int((np.array(expected) == data.labels).sum())
    assert result.agreement.correct == int((np.array(expected) == floats).sum())
    assert result.agreement.rate >= 0.7  # int8 PTQ of a tiny CNN mostly keeps its decisions


def test_eval_on_the_emulated_m7_equals_the_host(cifar):
    args = ("--calib", str(cifar.calib), "--calib-samples", "64", "--data", str(cifar.eval), "--limit", "24")
    host = tinyml("eval", str(cifar.model), "--board", "host", *args, "--json", cache=cifar.cache)
    m7 = tinyml("eval", str(cifar.model), "--board", "stm32f746", "--emulate", *args, "--json", cache=cifar.cache)
    assert host.returncode == 0, host.stderr
    assert m7.returncode == 0, m7.stderr
    h, m = json.loads(host.stdout), json.loads(m7.stdout)
    assert h["schema"] == "tinyml.eval/1" and m["runs_on"] == "stm32f746@mps2-an500" and h["runs_on"] == "host"
    assert h["samples"] == m["samples"] == 24 and h["data"]["available"] == 80
    assert h["predictions"] == m["predictions"] and h["int8"] == m["int8"]
    assert h["model"]["sha256"] == m["model"]["sha256"] and h["model"]["file"] == str(cifar.model)


def test_deploy_a_float_keras_model_with_a_folder_of_images(cifar):
    proc = tinyml(
        "deploy", str(cifar.model), "--board", "stm32f746", "--emulate", "--calib", str(cifar.calib), cache=cifar.cache
    )
    assert proc.returncode == 0, proc.stderr
    assert "TFLite Micro identical output" in proc.stdout and "ran on stm32f746@mps2-an500" in proc.stdout
    assert "cnn.keras quantized" in proc.stderr


def test_eval_of_real_models_on_real_data(cifar, monkeypatch):
    """The MLPerf Tiny ResNet-8 on CIFAR-10 photos (its input is the pixel value: 0..255), and the streaming wake
    word model on its labelled spectrograms (an .npz of specs and labels)."""
    monkeypatch.setenv("TINYML_CACHE", str(cifar.cache))
    options = pipeline.CompileOptions(kernels="portable", quant=QuantOptions(input_range="0..255"))
    ic = pipeline.compile_model(mlperf_dir() / "pretrainedResnet_quant.tflite", "host", options)
    result = pipeline.evaluate(ic, cifar.eval, progress=False)
    assert result.accuracy.rate >= 0.6, result.accuracy  # the reference measures 77% on 1,500 of these photos

    ww = pipeline.compile_model(mlperf_dir() / "str_ww_ref_model.tflite", "host", options)
    npz = mlperf_dir() / "str_ww_calibration_samples.npz"
    result = pipeline.evaluate(ww, npz, progress=False)
    t = ww.graph.inputs[0]
    specs = np.load(npz)["specs"].astype(np.float32)
    q = np.clip(np.round(specs / np.float32(t.quant.scale)) + t.quant.zero_point, -128, 127).astype(np.int8)
    expected = [int(tflm_outputs(ww.model, [x[None]])[0].argmax()) for x in q]
    assert result.predictions.tolist() == expected and result.accuracy.total == 45


def test_eval_bad_input(cifar, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in sorted((cifar.eval / "cat").iterdir())[:3]:
        (flat / f.name).write_bytes(f.read_bytes())
    np.savez(tmp_path / "nolabels.npz", x=np.zeros((3, 32, 32, 3), np.float32))
    model = mlperf_dir() / "pretrainedResnet_quant.tflite"
    cases = [
        (("--data", str(flat)), 13, "no class sub-folders"),
        (("--data", str(tmp_path / "nolabels.npz")), 13, "holds no labels"),
        (("--data", str(cifar.eval), "--float", str(model)), 2, "is not a float model"),
        (("--data", str(tmp_path / "none")), 2, "no file or folder"),
        (("--data", str(cifar.eval), "--port", "socket://127.0.0.1:9"), 2, "the host needs none"),
    ]
    for extra, code, words in cases:
        proc = tinyml("eval", str(model), "--board", "host", "--kernels", "portable", *extra, cache=cifar.cache)
        assert proc.returncode == code, (extra, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and "(fix: " in lines[0], proc.stderr
