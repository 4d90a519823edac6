"""Front end: real models parse into the IR quickly; bad files give one clear ModelFileError."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from support import mlperf_dir

from tinyml.errors import ModelFileError, UnsupportedModelError
from tinyml.frontend import load_model, parse_model

MODELS = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "str_ww_ref_model", "vww_96_int8"]


@pytest.mark.parametrize("name", MODELS)
def test_mlperf_models_parse(name):
    g = load_model(mlperf_dir() / f"{name}.tflite")
    assert g.ops and len(g.inputs) == 1 and len(g.outputs) == 1
    assert g.inputs[0].dtype == "int8" and g.inputs[0].quant is not None
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
    assert conv.attrs["padding"] == "SAME" and conv.attrs["stride_h"] == 2 and conv.attrs["activation"] == "RELU"
    weights = conv.input(1)
    assert weights.shape == (64, 10, 4, 1) and weights.bits == 8
    assert weights.quant is not None and weights.quant.per_channel and len(weights.quant.scales) == 64
    assert conv.input(2).dtype == "int32"
    assert g.ops[1].type == "DEPTHWISE_CONV_2D" and g.ops[1].attrs["depth_multiplier"] == 1


def test_reading_does_not_import_tensorflow():
    code = (
        "import sys\nfrom tinyml.frontend import load_model\n"
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


def test_keras_file_gets_a_clear_message(tmp_path):
    path = tmp_path / "m.keras"
    path.write_bytes(b"PK")
    with pytest.raises(ModelFileError, match="Keras"):
        load_model(path)
