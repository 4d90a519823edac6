"""TANH, RSQRT, LOG_SOFTMAX, L2_NORMALIZATION, ARG_MAX and ARG_MIN together in one int8 model, and int16 TANH and
LOGISTIC in one 16x8 model, on the emulated Cortex-M7 (mps2-an500, QEMU): the firmware's outputs equal TFLite
Micro's, byte for byte."""

from __future__ import annotations

import shutil

import pytest
from keras_models import convert, convert_16x8
from support import assert_runs_bit_exact, suite_cache, tinyml

from tinyml.errors import ToolchainError
from tinyml.frontend.tflite import load_model
from tinyml.passes import optimize
from tinyml.reference.inputs import random_inputs
from tinyml.reference.tflm import tflm_outputs
from tinyml.target.packs import CmsisPaths, find_cmsis

OPS = {"TANH", "RSQRT", "LOG_SOFTMAX", "L2_NORMALIZATION", "ARG_MAX", "ARG_MIN"}


def math_model(path):
    """Six outputs from one 6x5x12 input, one per op (rsqrt of x^2 + 0.2 keeps its input non-negative)."""
    import tensorflow as tf

    def build():
        x = tf.keras.Input((6, 5, 12))
        lam = tf.keras.layers.Lambda
        outs = [
            lam(lambda a: tf.tanh(a * 2.0))(x),
            lam(lambda a: tf.math.rsqrt(a * a + 0.2))(x),
            lam(lambda a: tf.nn.log_softmax(a * 4.0))(x),
            lam(lambda a: tf.math.l2_normalize(a, axis=-1))(x),
            lam(lambda a: tf.argmax(a, axis=2, output_type=tf.int32))(x),
            lam(lambda a: tf.argmin(a, axis=-1, output_type=tf.int32))(x),
        ]
        return tf.keras.Model(x, outs)

    return convert(build, [(6, 5, 12)], path)


def _cmsis() -> CmsisPaths | None:
    try:
        return find_cmsis()[0]
    except ToolchainError:
        return None


needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")


def int16_model(path):
    """tanh and sigmoid of one int16 input (TFLite's 16x8 mode), two int16 outputs."""
    import tensorflow as tf

    return convert_16x8(lambda a: (tf.tanh(a), tf.sigmoid(a)), (8, 40), path, 9.0)


def models(tmp_path):
    found = {"math": math_model(tmp_path / "math.tflite"), "int16": int16_model(tmp_path / "int16.tflite")}
    assert {op.type for op in optimize(load_model(found["math"])).ops} >= OPS
    assert sorted(op.type for op in optimize(load_model(found["int16"])).ops) == ["LOGISTIC", "TANH"]
    return found


@needs_qemu
def test_emulated_m7_bit_exact(tmp_path):
    """The portable kernels, two inputs per model."""
    for name, model in models(tmp_path).items():
        inputs = [random_inputs(model, seed) for seed in range(2)]
        (tmp_path / "in.bin").write_bytes(b"".join(t.tobytes() for x in inputs for t in x))
        expected = b"".join(o.tobytes() for x in inputs for o in tflm_outputs(model, x))
        files = ("--input", str(tmp_path / "in.bin"), "--output", str(tmp_path / "out.bin"))
        proc = tinyml("run", str(model), "--board", "mps2-an500", *files, cache=tmp_path / "cache")
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / "out.bin").read_bytes() == expected, f"{name} differs from TFLite Micro"


@needs_qemu
@pytest.mark.skipif(_cmsis() is None, reason="CMSIS-NN not found")
def test_emulated_m7_with_cmsis_nn(tmp_path, tmp_path_factory, monkeypatch):
    """With --kernels cmsis-nn, which has none of these ops: they fall back to the portable kernels beside
    CMSIS-NN's MUL and ADD."""
    cmsis = _cmsis()
    assert cmsis is not None
    cache = suite_cache(tmp_path_factory)
    monkeypatch.setenv("TINYML_CACHE", str(cache))
    found = models(tmp_path)
    (tmp_path / "runs").mkdir()
    assert_runs_bit_exact("mps2-an500", found, tmp_path / "runs", cache, cmsis)
