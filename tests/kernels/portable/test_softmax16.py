"""int16 SOFTMAX (16x8) against TFLite Micro, corner by corner: the portable tm_softmax_s16 and CMSIS-NN's
arm_softmax_s16 on the host (row lengths 1, odd and large, ranks, beta, input scales that take the multiplier
through right shifts, left shifts and int32 wrap-around, every exp table entry), models from TensorFlow's 16x8
converter (a dense layer into softmax, a keyword spotter), and one run of both on the emulated Cortex-M7."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from int16_models import convert16
from softmax16_models import keyword_spotter16, softmax16_model
from support import CMSIS, assert_bit_exact, assert_runs_bit_exact, compile_host, host_outputs, needs_cmsis, suite_cache

from tinyml.frontend.tflite import load_model
from tinyml.ir.types import INT16
from tinyml.kernels.backends import PORTABLE, Backend, select_backend
from tinyml.kernels.cmsis_nn_s16 import CmsisSoftmaxS16
from tinyml.kernels.portable.activation_fixed import Softmax
from tinyml.passes import optimize
from tinyml.reference.tflm import tflm_outputs
from tinyml.target.boards import load_board

BACKENDS = ["portable", pytest.param("cmsis-nn", marks=needs_cmsis)]
#: an input scale * beta of 10/65535: an input difference is the exp table's input as it is
UNIT_SCALE = 10 / 65535


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One TINYML_CACHE for the module (this process too): CMSIS-NN is built for the host once."""
    path = suite_cache(tmp_path_factory)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TINYML_CACHE", str(path))
        yield path


def _backend(name: str) -> Backend:
    if name == "portable":
        return PORTABLE
    assert CMSIS is not None
    return select_backend(load_board("host"), "cmsis-nn", str(CMSIS.nn), str(CMSIS.core))


def _assert_kernel(work: Path, planned, backend: str) -> None:  # type: ignore[no-untyped-def]
    """Every SOFTMAX ran on the backend's int16 kernel."""
    kinds = [type(k) for op, k in zip(planned.graph.ops, planned.plan.kernels, strict=True) if op.type == "SOFTMAX"]
    assert kinds and set(kinds) == {CmsisSoftmaxS16 if backend == "cmsis-nn" else Softmax}
    call = "arm_softmax_s16" if backend == "cmsis-nn" else "tm_softmax_s16"
    assert call in (work / "project" / "model.c").read_text()


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_exp_entry(backend, tmp_path, cache):
    """Rows (32767, x) for every int16 x read each exp table entry at each of its 128 interpolation points, the
    reciprocal table at every second input; the softmax runs in place over the model's input."""
    model = softmax16_model(tmp_path / "m.tflite", (65536, 2), UNIT_SCALE)
    x = np.stack([np.full(65536, 32767), np.arange(-32768, 32768)], axis=1).astype(np.int16)
    app, planned = compile_host(model, tmp_path / "project", _backend(backend))
    _assert_kernel(tmp_path, planned, backend)
    (want,) = tflm_outputs(model, [x])
    (got,) = host_outputs(app, [x], [want])
    assert np.array_equal(got, want)


#: (shape, input scale, beta); CMSIS-NN runs rows of 2 to 8 values, the portable kernel the others on that backend
CORNERS = {
    "row_of_one": ((64, 1), 1e-3, 1.0),
    "odd_rows": ((40, 7), 1e-4, 1.0),
    "every_reciprocal_entry": ((4096, 3), UNIT_SCALE, 1.0),
    "large_rows_rank3": ((2, 3, 1000), 2e-2, 1.0),
    "beta_half": ((5, 8), 3e-3, 0.5),
    "beta_two": ((6, 5), 3e-3, 2.0),
    "beta_two_rows_of_11": ((6, 11), 3e-3, 2.0),
    "right_shift": ((8, 6), 5e-6, 1.0),
    "left_shift_14": ((4, 7), 1.5, 1.0),
    "left_shift_16_wraps": ((4, 7), 8.0, 1.0),
    "left_shift_16_rows_of_33": ((4, 33), 8.0, 1.0),
}


@needs_cmsis
def test_cmsis_nn_leaves_the_rows_it_gets_wrong_to_the_portable_kernel(tmp_path, cache):
    """A row of nine whose exps sum to 262143 (eight at the maximum, 32762 each, and one of 47): arm_softmax_s16's
    int32 normalisation wraps there and doubles the row, so rows of nine run on the portable kernel, bit-exact."""
    model = softmax16_model(tmp_path / "m.tflite", (2, 9), UNIT_SCALE)
    x = np.array([[32767] * 8 + [-10176], [32767] * 8 + [-10000]], np.int16)
    app, planned = compile_host(model, tmp_path / "project", _backend("cmsis-nn"))
    _assert_kernel(tmp_path, planned, "portable")
    (want,) = tflm_outputs(model, [x])
    (got,) = host_outputs(app, [x], [want])
    assert np.array_equal(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("corner", CORNERS)
def test_corner(corner, backend, tmp_path, cache):
    shape, scale, beta = CORNERS[corner]
    model = softmax16_model(tmp_path / "m.tflite", shape, scale, beta)
    planned = assert_bit_exact(model, tmp_path, seeds=range(3), backend=_backend(backend))
    _assert_kernel(tmp_path, planned, backend if 2 <= shape[-1] <= 8 else "portable")


def _dense_softmax(rows: int, units: int):  # type: ignore[no-untyped-def]
    def build():  # type: ignore[no-untyped-def]
        import tensorflow as tf

        layers = tf.keras.layers
        x = tf.keras.Input((16,))
        return tf.keras.Model(x, layers.Softmax()(layers.Reshape((rows, units))(layers.Dense(rows * units)(x))))

    return build


@pytest.mark.parametrize("backend", BACKENDS)
def test_converted_dense_softmax(backend, tmp_path, cache):
    """TensorFlow's 16x8 converter: a dense layer into a softmax over rows of 7, logits spanning a wide range."""
    model = convert16(_dense_softmax(5, 7), [(16,)], tmp_path / "m.tflite", low=-6.0, high=6.0)
    softmax = next(op for op in optimize(load_model(model)).ops if op.type == "SOFTMAX")
    assert softmax.input(0).type == softmax.outputs[0].type == INT16
    planned = assert_bit_exact(model, tmp_path, seeds=range(5), backend=_backend(backend))
    _assert_kernel(tmp_path, planned, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("classes", [12, 8])
def test_keyword_spotter_end_to_end(classes, backend, tmp_path, cache):
    """A 16x8 keyword spotter (convolutions, pooling, dense) ending in softmax over 12 classes (on the portable
    softmax with either backend) or 8 (arm_softmax_s16 with CMSIS-NN)."""
    model = keyword_spotter16(tmp_path / "kws.tflite", classes=classes)
    types = [op.type for op in optimize(load_model(model)).ops]
    assert types[-1] == "SOFTMAX" and "DEPTHWISE_CONV_2D" in types and "FULLY_CONNECTED" in types
    planned = assert_bit_exact(model, tmp_path, seeds=range(5), backend=_backend(backend))
    _assert_kernel(tmp_path, planned, backend if classes <= 8 else "portable")


@needs_cmsis
def test_on_the_emulated_cortex_m7(tmp_path, cache):
    """`tinyml run` on mps2-an500 with CMSIS-NN (arm_softmax_s16 on rows of 8 or fewer, DSP build), then with the
    portable kernels."""
    models = {
        "kws": keyword_spotter16(tmp_path / "kws.tflite"),
        "kws8": keyword_spotter16(tmp_path / "kws8.tflite", classes=8),
        "beta_two": softmax16_model(tmp_path / "beta_two.tflite", (6, 5), 3e-3, 2.0),
        "wide": softmax16_model(tmp_path / "wide.tflite", (3, 257), UNIT_SCALE),
    }
    for kernels in ("cmsis-nn", "portable"):
        work = tmp_path / kernels
        work.mkdir()
        assert_runs_bit_exact("mps2-an500", models, work, cache, CMSIS, "--kernels", kernels)
