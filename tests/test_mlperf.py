"""The MLPerf Tiny reference models through `tinyml run --board host`, byte for byte against TFLite Micro.

Random inputs cover every model; the real samples shipped beside the models
(streaming wake word spectrograms, an anomaly-detection spectrogram) and real
CIFAR-10 images for the image classifier cover realistic activations.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from support import REPO, mlperf_dir

from tinyml.frontend.tflite import load_model
from tinyml.reference.inputs import random_inputs
from tinyml.reference.tflm import tflm_outputs

MODELS = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "str_ww_ref_model", "vww_96_int8"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def run_cli(model: Path, inputs: list[np.ndarray], work: Path, cache: Path) -> np.ndarray:
    """`tinyml run` on a stream of int8 inputs; returns one output row per input."""
    (work / "in.bin").write_bytes(b"".join(x.tobytes() for x in inputs))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinyml",
            "run",
            str(model),
            "--board",
            "host",
            "--input",
            str(work / "in.bin"),
            "--output",
            str(work / "out.bin"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TINYML_CACHE": str(cache)},
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    return np.frombuffer((work / "out.bin").read_bytes(), dtype=np.int8).reshape(len(inputs), -1)


def quantize(model: Path, x: np.ndarray) -> np.ndarray:
    q = load_model(model).inputs[0].quant
    assert q is not None
    return np.clip(np.round(x / q.scale) + q.zero_point, -128, 127).astype(np.int8)


def check(model: Path, inputs: list[np.ndarray], tmp_path: Path, cache: Path) -> None:
    got = run_cli(model, inputs, tmp_path, cache)
    for i, x in enumerate(inputs):
        ref = tflm_outputs(model, [x])[0].reshape(-1)
        assert np.array_equal(got[i], ref), f"{model.name} input {i}: tinyml {got[i]} TFLM {ref}"


@pytest.mark.parametrize("name", MODELS)
def test_random_inputs_bit_exact(name, tmp_path, cache):
    model = mlperf_dir() / f"{name}.tflite"
    check(model, [random_inputs(model, seed)[0] for seed in range(8)], tmp_path, cache)


def test_streaming_wake_word_real_samples(tmp_path, cache):
    model = mlperf_dir() / "str_ww_ref_model.tflite"
    specs = np.load(mlperf_dir() / "str_ww_calibration_samples.npz")["specs"]
    assert specs.shape == (45, 30, 1, 40)
    check(model, [quantize(model, s[None]) for s in specs], tmp_path, cache)


def test_anomaly_detection_real_sample(tmp_path, cache):
    """The sample is a float32 log-mel spectrogram (200 frames x 128 mels); the model sees 5-frame windows."""
    model = mlperf_dir() / "ad01_int8.tflite"
    spec = np.frombuffer((mlperf_dir() / "ad01_sample_normal_id_01_00000000.bin").read_bytes(), dtype=np.float32)
    frames = spec.reshape(200, 128)
    windows = [quantize(model, frames[i : i + 5].reshape(1, 640)) for i in range(0, 196)]
    check(model, windows, tmp_path, cache)


def test_image_classifier_on_cifar10(tmp_path, cache):
    """Real photos (CIFAR-10 test set): the ResNet-8 input is pixel - 128."""
    import tensorflow as tf

    tar_path = REPO.parent / "shared" / "data" / "cifar10" / "test.tar"
    if not tar_path.is_file():
        pytest.skip(f"CIFAR-10 not found at {tar_path}")
    images = []
    with tarfile.open(tar_path) as tar:
        members = [m for m in tar.getmembers() if m.name.endswith(".jpg")]
        for m in members[:: len(members) // 24][:24]:
            pixels = tf.io.decode_jpeg(tar.extractfile(m).read()).numpy().astype(np.int16)  # type: ignore[union-attr]
            images.append((pixels - 128).astype(np.int8)[None])
    check(mlperf_dir() / "pretrainedResnet_quant.tflite", images, tmp_path, cache)
