"""Float models in: every format quantized to int8, compiled, and bit-exact with TFLite Micro; the metadata entry,
the content-keyed cache, the CLI end to end, and every bad input with its one line and exit status."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from quant_checks import assert_one_line_error
from support import tinyml

from tinyml import pipeline
from tinyml.errors import InputDataError, UnsupportedModelError, UsageError
from tinyml.frontend import load_model
from tinyml.ir.types import FLOAT32, INT8
from tinyml.quant import QuantOptions, metadata
from tinyml.quant.data import fingerprint
from tinyml.quant.flatbuf import quantized_tensors
from tinyml.reference.inputs import random_inputs
from tinyml.reference.tflm import tflm_outputs

PORTABLE = pipeline.CompileOptions(kernels="portable")


def assert_bit_exact_on_host(model, seeds=range(3)):
    """Compile `model` for the host with tinyml, run seeded inputs, and compare every byte with TFLite Micro."""
    c = pipeline.compile_model(model, "host", PORTABLE)
    inputs = [b"".join(x.tobytes() for x in random_inputs(c.model, s)) for s in seeds]
    assert pipeline.run(c, inputs) == pipeline.tflm_expected(c, inputs)
    return c


FORMATS = {
    "keras": ("cnn.keras", "calib.npz", "keras 3"),
    "h5": ("cnn.h5", "calib.npz", "keras 3"),
    "savedmodel": ("saved", "calib.npz", "tensorflow"),
    "tflite": ("float.tflite", "calib.npz", "litert"),
    "keras2-h5": ("keras2.h5", "calib8.npz", "tf-keras"),
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_quantizes_to_a_bit_exact_int8_model(float_models, fmt, tmp_path):
    name, calib, loader = FORMATS[fmt]
    src = float_models.dir / name
    q = pipeline.quantize(src, float_models.dir / calib, QuantOptions(samples=12), progress=False)
    out = tmp_path / "int8.tflite"
    out.write_bytes(q.raw)
    graph = load_model(out)
    assert [t.type for t in graph.inputs + graph.outputs] == [INT8, INT8]
    assert_bit_exact_on_host(out)

    entry = metadata.read(out.read_bytes())
    assert entry == q.metadata and entry["schema"] == "tinyml.quant/1" and entry["method"] == "ptq"
    assert entry["source"]["kind"] == q.kind and entry["source"]["loader"].startswith(loader)
    assert entry["source"]["sha256"] == (
        hashlib.sha256(src.read_bytes()).hexdigest() if src.is_file() else fingerprint(src)
    )
    cal = entry["calibration"]
    available = 16 if calib == "calib8.npz" else 64
    assert (cal["samples"], cal["available"], cal["kind"], cal["file"]) == (12, available, "npz", calib)
    assert entry["options"] == QuantOptions(samples=12).as_dict()
    # every int8 tensor, weights and activations, is recorded at 8 bits
    int8 = {t.index for t in graph.tensors() if t.type == INT8}
    assert {t["index"] for t in entry["tensors"]} >= int8 and {t["bits"] for t in entry["tensors"]} == {8}
    assert len(entry["tensors"]) == len(quantized_tensors(out.read_bytes()))


@pytest.mark.parametrize("name", ["cnn.keras", "float.tflite"])
def test_float_io_keeps_float32_edges(float_models, name, tmp_path):
    """--float-io through both converters: QUANTIZE and DEQUANTIZE at the edges, still bit-exact."""
    q = pipeline.quantize(float_models.dir / name, float_models.dir / "calib.npz", QuantOptions(16, float_io=True))
    out = tmp_path / "fio.tflite"
    out.write_bytes(q.raw)
    graph = load_model(out)
    assert [t.type for t in graph.inputs + graph.outputs] == [FLOAT32, FLOAT32]
    assert graph.ops[0].type == "QUANTIZE" and graph.ops[-1].type == "DEQUANTIZE"
    assert_bit_exact_on_host(out)
    # the float edges take real inputs: TFLM on the quantized model stays close to the float model
    x = float_models.x[:1]
    got = tflm_outputs(out, [x])[0]
    assert np.abs(got - float_models.keras.predict(x, verbose=0)).max() < 0.05


def test_compile_with_calib_quantizes_once_and_caches_by_content(float_models, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE", str(tmp_path / "cache"))
    calib = float_models.dir / "calib.npz"
    options = pipeline.CompileOptions(kernels="portable", calib=calib, quant=QuantOptions(samples=8), progress=False)
    first = pipeline.compile_model(float_models.dir / "cnn.keras", "host", options)
    assert first.quantized is not None and not first.quantized.cached
    assert first.model == first.quantized.path and first.model.is_relative_to(tmp_path / "cache" / "quantized")
    assert first.graph.name == "cnn" and first.model.name == "cnn.tflite"
    again = pipeline.compile_model(float_models.dir / "cnn.keras", "host", options)
    assert again.quantized.cached and again.model == first.model and again.graph.source_hash == first.graph.source_hash
    # TFLite Micro is asked about the quantized file, and agrees with the compiled code
    inputs = [b"".join(x.tobytes() for x in random_inputs(again.model, s)) for s in range(2)]
    assert pipeline.run(again, inputs) == pipeline.tflm_expected(again, inputs)
    # other options or other data: another model
    other = pipeline.int8_model(float_models.dir / "cnn.keras", calib, QuantOptions(samples=9), progress=False)[0]
    assert other != first.model
    (tmp_path / "calib2.npz").write_bytes(calib.read_bytes())
    same_bytes = pipeline.int8_model(float_models.dir / "cnn.keras", tmp_path / "calib2.npz", QuantOptions(8))[0]
    assert same_bytes == first.model  # keyed by content, not by name
    # an int8 model with --calib is itself
    assert pipeline.int8_model(first.model, calib) == (first.model, None)
    # the reference interpreter gets the same quantized model through load()
    assert pipeline.load(float_models.dir / "cnn.keras", calib, QuantOptions(8)).source_hash == first.graph.source_hash


def test_quantize_cli_then_compile_and_run_bit_exact(float_models, tmp_path):
    """`tinyml quantize` with a folder of .bin tensors, then the int8 file compiled and run like any other."""
    bins = tmp_path / "bins"
    bins.mkdir()
    for i, x in enumerate(float_models.x[:20]):
        x.tofile(bins / f"{i:02}.bin")
    out = tmp_path / "int8.tflite"
    proc = tinyml("quantize", str(float_models.dir / "cnn.keras"), "-o", str(out), "--calib", str(bins))
    assert proc.returncode == 0, proc.stderr
    assert "to int8 with tensorflow" in proc.stdout and "20 of 20 samples (all) from bins" in proc.stdout
    assert "int8[1, 16, 16, 3], scale" in proc.stdout and proc.stderr == ""
    assert metadata.read(out.read_bytes())["calibration"]["kind"] == "bin"

    inputs = random_inputs(out, 1)
    (tmp_path / "in.bin").write_bytes(b"".join(x.tobytes() for x in inputs))
    run = tinyml("run", str(out), "--input", str(tmp_path / "in.bin"), "--output", str(tmp_path / "out.bin"))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out.bin").read_bytes() == b"".join(o.tobytes() for o in tflm_outputs(out, inputs))

    again = tinyml("quantize", str(float_models.dir / "cnn.keras"), "-o", str(out), "--calib", str(bins), "--quiet")
    assert again.returncode == 0 and f"overwriting {out}" in again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bins", "in.bin", "int8.tflite", "out.bin"]


def test_cli_compile_with_calib_and_report_json(float_models, tmp_path):
    cache = tmp_path / "cache"
    args = ("--board", "host", "--calib", str(float_models.dir / "calib.npz"), "--calib-samples", "10")
    proc = tinyml("report", str(float_models.dir / "saved"), *args, "--json", cache=cache)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)  # stdout stays the report; the quantization note goes to stderr
    assert report["model"]["name"] == "saved" and "quantized to int8 with 10 calibration samples" in proc.stderr
    proc = tinyml("compile", str(float_models.dir / "saved"), *args, "-o", str(tmp_path / "out"), cache=cache)
    assert proc.returncode == 0, proc.stderr
    assert "saved quantized earlier" in proc.stderr and (tmp_path / "out" / "app").is_file()


# --- bad input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cnn.keras", "cnn.h5", "saved", "float.tflite"])
def test_float_model_without_calibration_data(float_models, name, tmp_path):
    proc = tinyml("compile", str(float_models.dir / name), "--board", "host", "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, 11, "float", "--calib DATA", "tinyml quantize")
    assert not (tmp_path / "out").exists()


def test_bad_calibration_data_is_named_before_tensorflow_starts(float_models, tmp_path):
    model = str(float_models.dir / "cnn.keras")
    out = tmp_path / "q.tflite"
    (tmp_path / "cut.npz").write_bytes((float_models.dir / "calib.npz").read_bytes()[:1000])
    (tmp_path / "empty").mkdir()
    cases = [
        (tmp_path / "cut.npz", "not a readable .npz file"),
        (tmp_path / "empty", "holds no data"),
    ]
    for data, words in cases:
        proc = tinyml("quantize", model, "-o", str(out), "--calib", str(data))
        assert_one_line_error(proc, 13, words)
    proc = tinyml("compile", model, "--board", "host", "-o", str(tmp_path / "o"), "--calib", str(tmp_path / "none"))
    assert_one_line_error(proc, 2, "no file or folder")
    assert not out.exists() and not (tmp_path / "o").exists()


def test_calibration_data_of_the_wrong_shape_or_type(float_models, tmp_path):
    np.savez(tmp_path / "shape.npz", x=np.ones((4, 8, 8, 3), np.float32))
    np.savez(tmp_path / "type.npz", x=np.ones((4, 16, 16, 3), np.complex64))
    out = tmp_path / "q.tflite"
    model = str(float_models.dir / "cnn.keras")
    proc = tinyml("quantize", model, "-o", str(out), "--calib", str(tmp_path / "shape.npz"))
    assert_one_line_error(proc, 13, "shape (4, 8, 8, 3)", "(n, 16, 16, 3)")
    with pytest.raises(InputDataError, match="complex64 values"):
        pipeline.quantize(float_models.dir / "cnn.keras", tmp_path / "type.npz")
    assert not out.exists()


def test_keras_layers_tflite_cannot_convert(float_models, tmp_path):
    out = tmp_path / "q.tflite"
    calib = float_models.dir / "calib_vec.npz"
    proc = tinyml("quantize", str(float_models.keras2_det), "-o", str(out), "--calib", str(calib))
    assert_one_line_error(proc, 11, "converter cannot turn 1 operation(s) into TFLite builtins", "MatrixDeterminant")
    assert not out.exists()


def test_float16_weights_are_named(float_models, tmp_path):
    """ai-edge-quantizer leaves a .tflite's float16 weights in float: refused before it runs, saying what works."""
    out = tmp_path / "q.tflite"
    calib = float_models.dir / "calib.npz"
    proc = tinyml("quantize", str(float_models.dir / "float16.tflite"), "-o", str(out), "--calib", str(calib))
    assert_one_line_error(proc, 11, "weights are stored as float16", "float32 weights")
    assert not out.exists()


def test_models_that_are_not_float(float_models, tmp_path):
    int8 = tmp_path / "int8.tflite"
    int8.write_bytes(pipeline.quantize(float_models.dir / "cnn.keras", float_models.dir / "calib.npz").raw)
    with pytest.raises(UsageError, match="is already an int8 model"):
        pipeline.quantize(int8, float_models.dir / "calib.npz")
    (tmp_path / "junk.keras").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(Exception) as e:
        pipeline.quantize(tmp_path / "junk.keras", float_models.dir / "calib.npz")
    assert getattr(e.value, "exit_code", None) == 10
    proc = tinyml("quantize", str(int8), "-o", str(int8), "--calib", str(float_models.dir / "calib.npz"))
    assert_one_line_error(proc, 2, "is the float model itself")


def test_keras_lambda_layer_needs_an_export(tmp_path):
    """A Python lambda inside a .keras file is code Keras will not run from a file: say how to export it."""
    import keras

    x = keras.Input((4,))
    keras.Model(x, keras.layers.Lambda(lambda t: t * 2)(x)).save(tmp_path / "lam.keras")
    np.savez(tmp_path / "c.npz", x=np.ones((2, 4), np.float32))
    with pytest.raises(UnsupportedModelError, match="Lambda layer holding Python code") as e:
        pipeline.quantize(tmp_path / "lam.keras", tmp_path / "c.npz")
    assert "export" in e.value.fix
