"""Front end: real models parse into the IR quickly; bad files give one clear error, float and Keras models
the way to quantize them."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pytest
from keras_models import convert
from support import mlperf_dir, tinyml

from tinyml.errors import ModelFileError, UnsupportedModelError, UnsupportedOpError
from tinyml.frontend.tflite import load_model, parse_model
from tinyml.ir.graph import Graph, Operator, Quantization, Tensor
from tinyml.ir.types import FLOAT32, INT8, INT32
from tinyml.passes import check_supported

MODELS = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "str_ww_ref_model", "vww_96_int8"]


@pytest.mark.parametrize("name", MODELS)
def test_mlperf_models_parse(name):
    g = load_model(mlperf_dir() / f"{name}.tflite")
    assert g.ops and len(g.inputs) == 1 and len(g.outputs) == 1
    assert g.inputs[0].type == INT8 and g.inputs[0].quant is not None
    assert len(g.source_hash) == 64
    for op in g.ops:
        for t in op.inputs:
            if t is not None and t.is_const:
                assert t.data is not None and t.data.shape == t.shape


def test_tensor_details_of_kws():
    g = load_model(mlperf_dir() / "kws_ref_model.tflite")
    assert g.inputs[0].shape == (1, 49, 10, 1)
    assert g.outputs[0].shape == (1, 12)
    conv = g.ops[0]
    assert conv.type == "CONV_2D"
    assert conv.attrs.padding == "SAME" and conv.attrs.stride[0] == 2 and conv.attrs.activation == "RELU"
    weights = conv.input(1)
    assert weights.shape == (64, 10, 4, 1) and weights.type == INT8
    assert weights.quant is not None and weights.quant.per_channel and len(weights.quant.scales) == 64
    assert conv.input(2).type == INT32
    assert g.ops[1].type == "DEPTHWISE_CONV_2D" and g.ops[1].attrs.depth_multiplier == 1


def test_reading_does_not_import_tensorflow():
    code = (
        "import sys\nfrom tinyml.frontend.tflite import load_model\n"
        f"load_model({str(mlperf_dir() / 'vww_96_int8.tflite')!r})\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_truncated_model(tmp_path):
    raw = (mlperf_dir() / "kws_ref_model.tflite").read_bytes()
    for cut in (12, len(raw) // 3, len(raw) - 4000):
        with pytest.raises(ModelFileError, match="truncated"):
            parse_model(raw[:cut], "kws")


def test_corrupt_model_bytes():
    raw = bytearray((mlperf_dir() / "kws_ref_model.tflite").read_bytes())
    rng = np.random.default_rng(0)
    raw[8:2000] = rng.integers(0, 256, size=1992, dtype=np.uint8).tobytes()
    with pytest.raises(ModelFileError):
        parse_model(bytes(raw), "kws")


@pytest.mark.parametrize("content", [b"", b"abc", b"PK\x03\x04 this is a zip file, not a model", b"\x00" * 64])
def test_not_a_tflite_file(content, tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="not a TensorFlow Lite model"):
        load_model(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "nope.tflite")
    with pytest.raises(ModelFileError, match="directory"):
        load_model(tmp_path)


def _float_model(path, while_loop=False):
    import tensorflow as tf

    if while_loop:

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
        def f(x):
            return tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2.0), [0, x])[1]

    else:

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
        def f(x):
            return tf.nn.relu(tf.matmul(x, tf.ones([4, 3])))

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    path.write_bytes(conv.convert())
    return path


def test_float_model_is_rejected(tmp_path):
    with pytest.raises(UnsupportedModelError, match="float model") as e:
        load_model(_float_model(tmp_path / "f.tflite"))
    assert "quantize" in e.value.fix


def test_several_subgraphs_are_rejected(tmp_path):
    with pytest.raises(UnsupportedModelError, match="subgraphs"):
        load_model(_float_model(tmp_path / "w.tflite", while_loop=True))


def _cnn():
    """Conv2D + Flatten + Dense: Keras 3 exports Flatten as SHAPE/STRIDED_SLICE/PACK on int32 tensors."""
    import tensorflow as tf

    return tf.keras.Sequential(
        [
            tf.keras.Input((8, 8, 1)),
            tf.keras.layers.Conv2D(8, 3, activation="relu"),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(4),
        ]
    )


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    """One small CNN as every file people pass instead of an int8 .tflite, plus its int8 conversion with float I/O."""
    import tensorflow as tf

    d = tmp_path_factory.mktemp("keras")
    tf.keras.utils.set_random_seed(0)
    model = _cnn()
    (d / "float.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    hybrid = tf.lite.TFLiteConverter.from_keras_model(model)
    hybrid.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: int8 weights, float activations
    (d / "hybrid.tflite").write_bytes(hybrid.convert())
    model.save(d / "model.keras")
    model.save(d / "model.h5")
    model.save_weights(d / "only.weights.h5")
    model.export(str(d / "saved"))
    convert(_cnn, [(8, 8, 1)], d / "float_edges.tflite", float_io=True)

    def partly():  # SIN has no int8 kernel in the converter: without TFLITE_BUILTINS_INT8 it stays float
        x = tf.keras.Input((8,))
        y = tf.keras.layers.Lambda(tf.math.sin)(tf.keras.layers.Dense(8)(x))
        return tf.keras.Model(x, tf.keras.layers.Dense(3)(y))

    tf.keras.utils.set_random_seed(0)
    conv = tf.lite.TFLiteConverter.from_keras_model(partly())
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([np.full((1, 8), v, np.float32)] for v in np.linspace(-1, 1, 16))
    (d / "partly.tflite").write_bytes(conv.convert())
    return d


def _assert_quantize_advice(proc, tmp_path, *words):
    """Exit 11, one line naming what the file is and how to quantize it, nothing internal, no output left."""
    assert proc.returncode == 11, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinyml: error: "), proc.stderr
    for w in (*words, "int8", "tinyml quantize", "--calib DATA"):
        assert w in lines[0], (w, lines[0])
    for internal in ("examples/", ".py", "TINYML_", "unsupported operator"):
        assert internal not in lines[0], (internal, lines[0])
    assert not (tmp_path / "out").exists()


# float models take calibration data; files with int8 parts are converted again from their float source
CALIB = "(fix: add --calib DATA"
RECIPE = ("representative_dataset", "TFLITE_BUILTINS_INT8")
CASES = {
    "float.tflite": ("float model", CALIB),
    "hybrid.tflite": ("float model", *RECIPE),
    "model.keras": ("Keras model", ".keras archive", "model.keras", CALIB),
    "model.h5": ("Keras model", "HDF5", "model.h5", CALIB),
    "saved": ("SavedModel directory", CALIB),
    "saved/saved_model.pb": ("SavedModel", CALIB),
    "partly.tflite": ("partly quantized", "SIN", *RECIPE),
}


@pytest.mark.parametrize("command", ["compile", "report"])
@pytest.mark.parametrize("name", list(CASES))
def test_float_and_keras_models_say_how_to_quantize(keras_files, name, command, tmp_path):
    out = ("-o", str(tmp_path / "out")) if command == "compile" else ()
    proc = tinyml(command, str(keras_files / name), "--board", "host", *out)
    _assert_quantize_advice(proc, tmp_path, *CASES[name])


def test_hybrid_model_has_int8_weights(keras_files):
    """The hybrid case is really dynamic-range quantized (int8 weights), not a second float model."""
    assert (keras_files / "hybrid.tflite").stat().st_size < (keras_files / "float.tflite").stat().st_size * 0.6


def test_keras_files_are_recognised_by_content_not_name(keras_files, tmp_path):
    for src, words in (("model.keras", (".keras archive",)), ("model.h5", ("HDF5",))):
        renamed = tmp_path / "model.tflite"
        renamed.write_bytes((keras_files / src).read_bytes())
        _assert_quantize_advice(
            tinyml("compile", str(renamed), "--board", "host", "-o", str(tmp_path / "out")),
            tmp_path,
            "Keras model",
            *words,
        )


def test_files_that_only_look_like_keras(keras_files, tmp_path):
    weights = tmp_path / "model.h5"  # HDF5, but weights without the model
    weights.write_bytes((keras_files / "only.weights.h5").read_bytes())
    with pytest.raises(ModelFileError, match="HDF5 file without a Keras model"):
        load_model(weights)
    archive = tmp_path / "model.keras"  # a zip, but not a Keras archive
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("notes.txt", "hello")
    with pytest.raises(ModelFileError, match="not a TensorFlow Lite model"):
        load_model(archive)
    truncated = tmp_path / "cut.keras"
    truncated.write_bytes(b"PK\x03\x04")
    with pytest.raises(ModelFileError, match="not a TensorFlow Lite model"):
        load_model(truncated)


def test_int8_model_with_float_edges_compiles(keras_files, tmp_path):
    """Float inputs and outputs with QUANTIZE/DEQUANTIZE at the edges are an int8 model, not a float one."""
    g = load_model(keras_files / "float_edges.tflite")
    assert g.inputs[0].type == FLOAT32 and g.outputs[0].type == FLOAT32
    assert g.ops[0].type == "QUANTIZE" and g.ops[-1].type == "DEQUANTIZE"
    proc = tinyml("compile", str(keras_files / "float_edges.tflite"), "--board", "host", "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "app").is_file()


def test_unsupported_op_fix_points_at_tinyml_ops():
    """The fix names the command that lists what is supported (read from the definitions), not internal ops."""
    q = Quantization((0.1,), (0,))
    x, y = Tensor("x", (1, 4), "int8", q), Tensor("y", (1, 4), "int8", q)
    graph = Graph("g", [x], [y], [Operator("FLOOR", [x], [y], index=0)])
    with pytest.raises(UnsupportedOpError, match="op #0 FLOOR") as e:
        check_supported(graph)
    assert "`tinyml ops`" in e.value.fix and "COPY" not in e.value.fix and "TINYML" not in e.value.fix
