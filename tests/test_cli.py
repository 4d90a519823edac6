"""The command line as users meet it: help, compile/run/report, and one clear line for every bad input."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from keras_models import convert
from support import mlperf_dir, tinyml

from tinyml.reference.inputs import random_inputs
from tinyml.reference.tflm import tflm_arena_bytes, tflm_outputs

COMMANDS = ["compile", "run", "report", "boards"]


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *words: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tinyml: error: ") and "(fix: " in lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_help_lists_every_command():
    proc = tinyml("--help")
    assert proc.returncode == 0
    for command in COMMANDS:
        assert command in proc.stdout
        sub = tinyml(command, "--help")
        assert sub.returncode == 0 and f"usage: tinyml {command}" in sub.stdout


def test_boards_lists_host():
    proc = tinyml("boards")
    assert proc.returncode == 0 and any(line.startswith("host ") for line in proc.stdout.splitlines())


def test_unknown_board(tmp_path):
    proc = tinyml("report", str(mlperf_dir() / "ad01_int8.tflite"), "--board", "no-such-board")
    assert_one_line_error(proc, 2, "no-such-board", "host")


def test_compile_writes_a_working_project(tmp_path):
    model = mlperf_dir() / "kws_ref_model.tflite"
    out = tmp_path / "kws"
    proc = tinyml("compile", str(model), "--board", "host", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "app").is_file() and (out / "model.c").is_file() and (out / ".tinyml-project").is_file()
    x = random_inputs(model, 7)
    got = subprocess.run([str(out / "app")], input=x[0].tobytes(), capture_output=True, check=True).stdout
    assert got == tflm_outputs(model, x)[0].tobytes()
    # compiling again replaces tinyml's own output, and says so
    again = tinyml("compile", str(model), "-o", str(out))
    assert again.returncode == 0 and "replacing" in again.stderr


def test_compile_never_clobbers_foreign_files(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    proc = tinyml("compile", str(mlperf_dir() / "ad01_int8.tflite"), "-o", str(out))
    assert_one_line_error(proc, 14, str(out), "--force")
    assert (out / "notes.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    forced = tinyml("compile", str(mlperf_dir() / "ad01_int8.tflite"), "-o", str(out), "--force")
    assert forced.returncode == 0 and (out / "app").is_file() and not (out / "notes.txt").exists()


def test_failed_compile_leaves_no_output(tmp_path, unsupported_model):
    out = tmp_path / "proj"
    proc = tinyml("compile", str(unsupported_model), "-o", str(out))
    assert proc.returncode == 12
    assert list(tmp_path.iterdir()) == []


def test_run_streams_several_inferences(tmp_path):
    model = mlperf_dir() / "str_ww_ref_model.tflite"
    inputs = [random_inputs(model, seed) for seed in range(4)]
    (tmp_path / "in.bin").write_bytes(b"".join(x[0].tobytes() for x in inputs))
    proc = tinyml(
        "run",
        str(model),
        "--input",
        str(tmp_path / "in.bin"),
        "--output",
        str(tmp_path / "out.bin"),
        cache=tmp_path / "cache",
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.bin").read_bytes() == b"".join(tflm_outputs(model, x)[0].tobytes() for x in inputs)
    # a second run is served from the cache and says it overwrote the output
    again = tinyml(
        "run",
        str(model),
        "--input",
        str(tmp_path / "in.bin"),
        "--output",
        str(tmp_path / "out.bin"),
        cache=tmp_path / "cache",
    )
    assert again.returncode == 0 and "overwriting" in again.stderr
    assert len(list((tmp_path / "cache" / "builds").iterdir())) == 1


def test_run_rejects_wrong_input_size(tmp_path):
    (tmp_path / "in.bin").write_bytes(b"\x00" * 100)
    proc = tinyml(
        "run",
        str(mlperf_dir() / "ad01_int8.tflite"),
        "--input",
        str(tmp_path / "in.bin"),
        "--output",
        str(tmp_path / "out.bin"),
        cache=tmp_path / "cache",
    )
    assert_one_line_error(proc, 13, "100 bytes", "640 bytes")
    assert not (tmp_path / "out.bin").exists()


def test_run_missing_input_file(tmp_path):
    proc = tinyml(
        "run",
        str(mlperf_dir() / "ad01_int8.tflite"),
        "--input",
        str(tmp_path / "none.bin"),
        "--output",
        str(tmp_path / "out.bin"),
    )
    assert_one_line_error(proc, 2, "none.bin")


@pytest.mark.parametrize("name", ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant"])
def test_report_json(name):
    model = mlperf_dir() / f"{name}.tflite"
    proc = tinyml("report", str(model), "--board", "host", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["schema"] == "tinyml.report/3"
    for key in ("sram", "ram", "flash", "budget", "macs", "layers"):
        assert key in report
    assert report["sram"]["peak_bytes"] <= tflm_arena_bytes(model)
    assert report["macs"] == sum(layer["macs"] for layer in report["layers"]) > 0
    assert max(layer["live_bytes"] for layer in report["layers"]) <= report["sram"]["peak_bytes"]
    text = tinyml("report", str(model))
    assert text.returncode == 0 and "peak SRAM" in text.stdout and "<- peak" in text.stdout


def test_report_macs_of_kws():
    report = json.loads(tinyml("report", str(mlperf_dir() / "kws_ref_model.tflite"), "--json").stdout)
    first = report["layers"][0]
    assert first["op"] == "CONV_2D" and first["macs"] == 25 * 5 * 64 * 10 * 4 * 1


# --- bad input: one line, a distinct exit code, never a traceback ---


def test_truncated_model(tmp_path):
    raw = (mlperf_dir() / "vww_96_int8.tflite").read_bytes()
    bad = tmp_path / "cut.tflite"
    bad.write_bytes(raw[: len(raw) // 2])
    assert_one_line_error(tinyml("report", str(bad)), 10, "truncated or corrupt")


def test_not_a_model(tmp_path):
    bad = tmp_path / "photo.tflite"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert_one_line_error(tinyml("compile", str(bad), "-o", str(tmp_path / "out")), 10, "not a TensorFlow Lite model")
    assert not (tmp_path / "out").exists()


def test_missing_model(tmp_path):
    assert_one_line_error(tinyml("report", str(tmp_path / "absent.tflite")), 10, "no such file")


@pytest.fixture(scope="module")
def unsupported_model(tmp_path_factory):
    import tensorflow as tf

    def build():
        x = tf.keras.Input((6, 6, 3))
        y = tf.keras.layers.Conv2D(4, 3, padding="same", activation="tanh")(x)
        y = tf.keras.layers.Activation("hard_silu")(y)
        return tf.keras.Model(x, y)

    return convert(build, [(6, 6, 3)], tmp_path_factory.mktemp("unsupported") / "u.tflite")


def test_unsupported_ops_are_all_named(unsupported_model):
    proc = tinyml("report", str(unsupported_model))
    assert proc.returncode == 12 and "Traceback" not in proc.stderr
    assert "TANH" in proc.stderr and "HARD_SWISH" in proc.stderr
    assert "op #" in proc.stderr and "output '" in proc.stderr


def test_float_model(tmp_path):
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
    path = tmp_path / "float.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    assert_one_line_error(tinyml("report", str(path)), 11, "float model", "representative_dataset")


def test_several_subgraphs(tmp_path):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def f(x):
        return tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2.0), [0, x])[1]

    path = tmp_path / "loop.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f).convert())
    assert_one_line_error(tinyml("report", str(path)), 11, "subgraphs")
