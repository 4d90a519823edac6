"""The command line as users meet it: help, compile/run/report, and one clear line for every bad input."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
from keras_models import convert
from support import mlperf_dir, tinyml

from tinyml.reference.inputs import random_inputs
from tinyml.reference.tflm import tflm_arena_bytes, tflm_outputs

COMMANDS = ["compile", "run", "bench", "deploy", "export", "report", "quantize", "eval", "info", "packs", "boards"]


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
    again = tinyml("compile", str(model), "--board", "host", "-o", str(out))
    assert again.returncode == 0 and "replacing" in again.stderr


def test_compile_never_clobbers_foreign_files(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    proc = tinyml("compile", str(mlperf_dir() / "ad01_int8.tflite"), "--board", "host", "-o", str(out))
    assert_one_line_error(proc, 14, str(out), "--force")
    assert (out / "notes.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    forced = tinyml("compile", str(mlperf_dir() / "ad01_int8.tflite"), "--board", "host", "-o", str(out), "--force")
    assert forced.returncode == 0 and (out / "app").is_file() and not (out / "notes.txt").exists()


def test_failed_compile_leaves_no_output(tmp_path, unsupported_model):
    out = tmp_path / "proj"
    proc = tinyml("compile", str(unsupported_model), "--board", "host", "-o", str(out))
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
    assert report["schema"] == "tinyml.report/4"
    for key in ("sram", "ram", "flash", "budget", "macs", "latency", "layers"):
        assert key in report
    assert report["sram"]["peak_bytes"] <= tflm_arena_bytes(model)
    assert report["macs"] == sum(layer["macs"] for layer in report["layers"]) > 0
    assert max(layer["live_bytes"] for layer in report["layers"]) <= report["sram"]["peak_bytes"]
    text = tinyml("report", str(model), "--board", "host")
    assert text.returncode == 0 and "peak SRAM" in text.stdout and "<- peak" in text.stdout


def test_report_macs_of_kws():
    report = json.loads(
        tinyml("report", str(mlperf_dir() / "kws_ref_model.tflite"), "--board", "host", "--json").stdout
    )
    first = report["layers"][0]
    assert first["op"] == "CONV_2D" and first["macs"] == 25 * 5 * 64 * 10 * 4 * 1


# --- bad input: one line, a distinct exit code, never a traceback ---


def test_truncated_model(tmp_path):
    raw = (mlperf_dir() / "vww_96_int8.tflite").read_bytes()
    bad = tmp_path / "cut.tflite"
    bad.write_bytes(raw[: len(raw) // 2])
    assert_one_line_error(tinyml("report", str(bad), "--board", "host"), 10, "truncated or corrupt")


def test_not_a_model(tmp_path):
    bad = tmp_path / "photo.tflite"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    proc = tinyml("compile", str(bad), "--board", "host", "-o", str(tmp_path / "out"))
    assert_one_line_error(proc, 10, "not a TensorFlow Lite model")
    assert not (tmp_path / "out").exists()


def test_missing_model(tmp_path):
    assert_one_line_error(tinyml("report", str(tmp_path / "absent.tflite"), "--board", "host"), 10, "no such file")


@pytest.fixture(scope="module")
def unsupported_model(tmp_path_factory):
    import tensorflow as tf

    def build():
        x = tf.keras.Input((6, 6, 3))
        y = tf.keras.layers.Conv2D(4, 3, padding="same")(x)
        y = tf.keras.layers.Lambda(tf.exp)(y)  # EXP: TFLite Micro runs it on float only
        y = tf.keras.layers.Lambda(tf.abs)(y)  # ABS: tinyml has no kernel for it
        return tf.keras.Model(x, y)

    return convert(build, [(6, 6, 3)], tmp_path_factory.mktemp("unsupported") / "u.tflite")


def test_unsupported_ops_are_all_named(unsupported_model):
    proc = tinyml("report", str(unsupported_model), "--board", "host")
    assert proc.returncode == 12 and "Traceback" not in proc.stderr
    assert "EXP" in proc.stderr and "ABS" in proc.stderr
    assert "op #" in proc.stderr and "output '" in proc.stderr


def test_float_model(tmp_path):
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
    path = tmp_path / "float.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    assert_one_line_error(tinyml("report", str(path), "--board", "host"), 11, "float model", "--calib DATA")


def test_several_subgraphs(tmp_path):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def f(x):
        return tf.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2.0), [0, x])[1]

    path = tmp_path / "loop.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f).convert())
    assert_one_line_error(tinyml("report", str(path), "--board", "host"), 11, "subgraphs")


# --- options are checked while parsing: a mistake costs no work, is one line, exits 2 (never 70) ---

AD01 = "ad01_int8.tflite"


def bad_value_cases() -> list[tuple[list[str], list[str]]]:
    """(command line, words its one-line message must hold); {m} is the AD model, {t} a scratch directory."""
    run = ["run", "{m}", "--input", "{t}/in.bin", "--output"]
    bench = ["bench", "{m}", "--board", "mps2-an500"]
    comp = ["compile", "{m}", "--board", "host", "-o", "{t}/proj"]
    return [
        ([*bench, "--runs", "-3"], ["--runs", "-3", "at least 1"]),
        ([*bench, "--runs", "0"], ["--runs", "at least 1"]),
        ([*bench, "--runs", "2.5"], ["--runs", "whole number"]),
        ([*bench, "--inputs", "{t}/none"], ["--inputs", "no directory"]),
        ([*bench, "--inputs", "{t}/empty"], ["--inputs", "no .bin files"]),
        ([*bench, "--inputs", "{t}/in.bin"], ["--inputs", "not a directory"]),
        ([*bench, "--port", "socket://localhost"], ["--port", "HOST:PORT"]),
        ([*bench, "--port", ""], ["--port", "empty"]),
        ([*bench, "--emulator", "bochs"], ["--emulator", "renode"]),
        (["bench", "{m}", "--board", "host"], ["microcontroller", "tinyml run"]),
        ([*run, "{t}/missing_dir/out.bin"], ["--output", "no directory", "missing_dir"]),
        ([*run, "{t}/empty"], ["--output", "is a directory"]),
        ([*run, "{t}/in.bin"], ["--output", "input file"]),
        (["run", "{m}", "--input", "{t}/none.bin", "--output", "{t}/out.bin"], ["--input", "no file", "none.bin"]),
        (["run", "{m}", "--input", "{t}/empty", "--output", "{t}/out.bin"], ["--input", "is a directory"]),
        (["run", "{m}", "--input", "{t}/in.bin", "--output", ""], ["--output", "empty"]),
        (
            ["run", "{m}", "--board", "stm32f746", "--input", "{t}/in.bin", "--output", "{t}/o"],
            ["hardware", "--emulate"],
        ),
        (["compile", "{m}", "--board", "host", "-o", "{t}/in.bin"], ["-o/--output", "not a directory"]),
        (["compile", "{m}", "--board", "host", "-o", "{t}/in.bin/proj"], ["-o/--output", "is a file"]),
        (["compile", "{m}", "--board", "host"], ["required", "-o/--output"]),
        ([*comp, "--max-mac-overhead", "0.5"], ["--max-mac-overhead", "at least 1"]),
        ([*comp, "--max-mac-overhead", "nan"], ["--max-mac-overhead", "at least 1"]),
        ([*comp, "--max-mac-overhead", "lots"], ["--max-mac-overhead", "at least 1"]),
        ([*comp, "--patches", "banana"], ["--patches", "ROWSxCOLS@OPS"]),
        ([*comp, "--patches", "0x2@3"], ["--patches", "ROWSxCOLS@OPS"]),
        ([*comp, "--kernels", "cmsis"], ["--kernels", "cmsis-nn", "portable"]),
        ([*comp, "--prefer", "fast"], ["--prefer", "speed", "memory"]),
        ([*comp, "--prefer", "balanced"], ["--prefer", "speed", "memory"]),
        ([*comp, "--sram-budget", "lots"], ["--sram-budget", "'lots' is not a memory size", "256K"]),
        ([*bench, "--sram-budget", "0"], ["--sram-budget", "'0' is not a memory size"]),
        ([*comp, "--io", "ext"], ["--io", "external"]),
        ([*comp, "--cmsis-nn", "{t}/none"], ["--cmsis-nn", "no directory"]),
        ([*comp, "--board", "stm32f74"], ["unknown board", "did you mean stm32f746"]),
        (["deploy", "{m}", "--board", "mps2-an500", "-o", "{t}/in.bin"], ["-o/--output", "not a directory"]),
        (["deploy", "{m}", "--board", "host"], ["microcontroller"]),
        (["deploy", "{m}", "--board", "mps2-an500", "--flasher", "jlink"], ["--flasher", "openocd"]),
        (["export", "{m}", "--board", "stm32f746", "--platformio", "{t}/in.bin"], ["--platformio", "not a directory"]),
        (["report", "{m}", "--board", "host", "--json", "--markdown"], ["--markdown", "--json"]),
        (["packs", "list", "--cmsis", "{t}/none"], ["--cmsis", "no directory"]),
        (["packs", "remove"], ["invalid choice", "install"]),
        (["info"], ["required", "MODEL"]),
        (["frobnicate"], ["invalid choice", "compile"]),
        ([], ["required", "COMMAND"]),
    ]


@pytest.mark.parametrize(("argv", "words"), bad_value_cases(), ids=lambda v: " ".join(v) if v else "none")
def test_bad_option_values_fail_at_once(tmp_path, argv, words):
    (tmp_path / "in.bin").write_bytes(bytes(640))
    (tmp_path / "empty").mkdir()
    args = [a.format(m=mlperf_dir() / AD01, t=tmp_path) for a in argv]
    cache = tmp_path / "cache"
    proc = tinyml(*args, cache=cache)
    assert_one_line_error(proc, 2, *words)
    assert not cache.exists(), "nothing may be compiled or cached before the options are checked"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "in.bin"]


@pytest.mark.parametrize("command", ["compile", "report", "bench", "deploy", "export"])
def test_board_is_required(command):
    """Only `run` defaults to the host: elsewhere a silent host build would surprise a firmware developer."""
    assert_one_line_error(tinyml(command, str(mlperf_dir() / AD01)), 2, "required", "--board")


def test_board_names_in_any_case_with_suggestions():
    from tinyml.errors import UsageError
    from tinyml.target.boards import load_board

    assert load_board("STM32F746").name == "stm32f746"
    assert load_board("Stm32F746G-Disco").name == "stm32f746"  # an alias
    assert load_board("MPS2-AN500").name == "mps2-an500"
    with pytest.raises(UsageError, match=r"did you mean stm32f746g-disco\?"):
        load_board("stm32f746g-disko")
    with pytest.raises(UsageError, match=r"did you mean mps2-an500"):
        load_board("MPS2_AN500")
    with pytest.raises(UsageError) as e:
        load_board("raspberry-pi")
    assert "did you mean" not in e.value.message and "nucleo-l4r5zi" in e.value.fix

    proc = tinyml("report", str(mlperf_dir() / AD01), "--board", "NUCLEO-L4R5ZI", "--kernels", "portable", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["board"]["name"] == "nucleo-l4r5zi"


# --- help ---


def test_version():
    from tinyml import __version__

    proc = tinyml("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"tinyml {__version__}"


def help_section(text: str, title: str) -> str:
    """The body of one `title:` group of argparse's help."""
    return text.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0]


@pytest.mark.parametrize("command", ["compile", "run", "bench", "deploy", "export", "report"])
def test_help_groups_the_shared_options(command):
    text = tinyml(command, "--help").stdout
    assert "--board" in help_section(text, "target")
    kernels = help_section(text, "kernels")
    assert all(o in kernels for o in ("--kernels", "--cmsis-nn", "--cmsis"))
    planning = help_section(text, "memory planning")
    options = ("--prefer", "--sram-budget", "--no-in-place", "--io", "--patches", "--max-mac-overhead")
    assert all(o in planning for o in options)
    assert "--patches" not in kernels and "--prefer" not in kernels and "--kernels" not in planning


@pytest.mark.parametrize("command", COMMANDS)
def test_help_examples_are_valid_command_lines(command, tmp_path, monkeypatch):
    """Every command's help ends with examples, and each one parses (in a directory holding the files it names)."""
    import shlex

    from tinyml.cli import _parser

    text = tinyml(command, "--help").stdout
    examples = [line for line in text.split("\nexamples:\n", 1)[1].splitlines() if line.startswith("  tinyml ")]
    assert len(examples) >= (1 if command == "boards" else 2), text
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.bin").write_bytes(b"")
    for d in ("samples", "CMSIS-NN", "CMSIS_6", "images", "calib", "test_images", "tensors", "saved_model"):
        (tmp_path / d).mkdir()
    (tmp_path / "samples" / "0.bin").write_bytes(b"")
    for f in ("calib.npz", "test.npz", "model.keras"):  # data and --float models are looked at when parsed
        (tmp_path / f).write_bytes(b"")
    for line in examples:
        argv = shlex.split(line.split("&&")[0], comments=True)
        assert argv[:2] == ["tinyml", command]
        args = _parser().parse_args(argv[1:])
        assert args.command == command


# --- tinyml info ---

MLPERF = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "str_ww_ref_model", "vww_96_int8"]


@pytest.mark.parametrize("name", MLPERF)
def test_info_matches_tflite_micro(name):
    """Shapes, types, scales and zero points as TFLM's interpreter reports them; the ops as TFLite's lists them."""
    import tensorflow as tf
    from tflite_micro.python.tflite_micro import runtime

    model = mlperf_dir() / f"{name}.tflite"
    proc = tinyml("info", str(model), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["schema"] == "tinyml.info/1" and info["model"]["bytes"] == model.stat().st_size

    lite = tf.lite.Interpreter(model_path=str(model))
    assert len(info["inputs"]) == len(lite.get_input_details())
    assert len(info["outputs"]) == len(lite.get_output_details())
    assert [op["type"] for op in info["ops"]] == [op["op_name"] for op in lite._get_ops_details()]
    assert sum(info["op_counts"].values()) == len(info["ops"])

    micro = runtime.Interpreter.from_file(str(model))
    for kind, details in (("inputs", micro.get_input_details), ("outputs", micro.get_output_details)):
        for i, t in enumerate(info[kind]):
            d = details(i)
            dtype = np.dtype(d["dtype"])
            q = d["quantization_parameters"]
            assert t["shape"] == d["shape"].tolist() and t["dtype"] == dtype.name
            assert t["quantization"] == {"scale": float(q["scales"][0]), "zero_point": int(q["zero_points"][0])}
            assert t["bytes"] == int(np.prod(d["shape"])) * dtype.itemsize
        assert info["bytes_per_inference"][kind] == sum(t["bytes"] for t in info[kind])

    text = tinyml("info", str(model))
    assert text.returncode == 0, text.stderr
    t = info["inputs"][0]
    scale = str(np.float32(t["quantization"]["scale"]))  # float32 in its shortest form, as printed
    assert f"{t['dtype']}{t['shape']}" in text.stdout
    assert f"scale {scale}, zero point {t['quantization']['zero_point']}" in text.stdout
    assert f"{info['bytes_per_inference']['inputs']:,} bytes per inference" in text.stdout
    assert f"ops ({len(info['ops'])}): " in text.stdout


def recipe(text: str, first: str, last: str) -> str:
    """The numpy lines `tinyml info` prints from `first` up to the line starting with `last`, as a program."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(first))
    end = next(i for i in range(start, len(lines)) if lines[i].strip().startswith(last))
    body = [line[2:] for line in lines[start : end + 1]]
    return "\n".join(line for line in body if " = ...  #" not in line)  # the user's data is given by the test


def run_recipe(code: str, where, **data):
    scope = {"np": np, **data}
    cwd = os.getcwd()
    os.chdir(where)
    try:
        exec(code, scope)
    finally:
        os.chdir(cwd)
    return scope


def test_info_numpy_recipe_writes_the_input_file_run_reads(tmp_path):
    """The printed recipe, run on real data, quantizes as TFLite does and reads `run`'s outputs back."""
    model = mlperf_dir() / "kws_ref_model.tflite"
    text = tinyml("info", str(model)).stdout
    info = json.loads(tinyml("info", str(model), "--json").stdout)
    qin, qout = info["inputs"][0]["quantization"], info["outputs"][0]["quantization"]
    q = random_inputs(model, 3)[0]
    x = np.float32(qin["scale"]) * (q.astype(np.float32) - qin["zero_point"])
    run_recipe(recipe(text, "import numpy", "q.tofile"), tmp_path, x=x)
    assert (tmp_path / "in.bin").read_bytes() == q.tobytes()

    proc = tinyml(
        "run", str(model), "--input", str(tmp_path / "in.bin"), "--output", str(tmp_path / "out.bin"), cache=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    got = run_recipe(recipe(text, "y = np.fromfile", "real ="), tmp_path)
    expected = tflm_outputs(model, [q])[0]
    assert np.array_equal(got["y"][0], expected)
    assert np.allclose(got["real"][0], qout["scale"] * (expected.astype(np.float64) - qout["zero_point"]))


@pytest.fixture(scope="module")
def two_in_two_out(tmp_path_factory):
    import tensorflow as tf

    def build():
        a, b = tf.keras.Input((6,), name="a"), tf.keras.Input((6,), name="b")
        return tf.keras.Model([a, b], [tf.keras.layers.Add()([a, b]), tf.keras.layers.Dense(3)(a)])

    return convert(build, [(6,), (6,)], tmp_path_factory.mktemp("two") / "two.tflite")


def test_info_recipe_with_several_inputs_and_outputs(tmp_path, two_in_two_out):
    model = two_in_two_out
    text = tinyml("info", str(model)).stdout
    info = json.loads(tinyml("info", str(model), "--json").stdout)
    assert [t["shape"] for t in info["inputs"]] == [[1, 6], [1, 6]] and len(info["outputs"]) == 2
    q = random_inputs(model, 1)
    data = {}
    for i, (t, qi) in enumerate(zip(info["inputs"], q, strict=True)):
        s, zp = t["quantization"]["scale"], t["quantization"]["zero_point"]
        data[f"x{i}"] = np.float32(s) * (qi.astype(np.float32) - zp)
    run_recipe(recipe(text, "import numpy", "q1.tofile"), tmp_path, **data)
    assert (tmp_path / "in.bin").read_bytes() == q[0].tobytes() + q[1].tobytes()

    proc = tinyml(
        "run", str(model), "--input", str(tmp_path / "in.bin"), "--output", str(tmp_path / "out.bin"), cache=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    got = run_recipe(recipe(text, "data = np.fromfile", "y1 ="), tmp_path)
    for i, expected in enumerate(tflm_outputs(model, q)):
        assert np.array_equal(got[f"y{i}"], expected)


def test_info_lists_ops_tinyml_cannot_compile(unsupported_model):
    """info reads the file as it is: a model with unsupported ops still shows its interface and every op."""
    proc = tinyml("info", str(unsupported_model), "--json")
    assert proc.returncode == 0, proc.stderr
    ops = [op["type"] for op in json.loads(proc.stdout)["ops"]]
    assert "EXP" in ops and "ABS" in ops


@pytest.mark.parametrize("problem", ["missing", "truncated", "not a model", "directory"])
def test_info_bad_files(tmp_path, problem):
    path = tmp_path / "m.tflite"
    if problem == "truncated":
        raw = (mlperf_dir() / "kws_ref_model.tflite").read_bytes()
        path.write_bytes(raw[: len(raw) // 3])
    elif problem == "not a model":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    elif problem == "directory":
        path.mkdir()
    words = {"missing": "no such file", "truncated": "truncated", "not a model": "not a TensorFlow Lite model"}
    assert_one_line_error(tinyml("info", str(path)), 10, str(path.stem), words.get(problem, "directory"))


# --- the CMSIS-NN warning, once per cache ---


def test_cmsis_nn_warning_once_per_cache(tmp_path):
    """Without CMSIS-NN (no packs in this cache, no CMSIS_NN_ROOT), a Cortex-M board warns the first time only;
    -v repeats it, and another cache warns afresh. The host never needs CMSIS-NN, so it never warns."""
    env = {"CMSIS_NN_ROOT": "", "CMSIS_ROOT": ""}
    args = ("report", str(mlperf_dir() / AD01), "--board", "mps2-an500", "--json")
    warning = "tinyml: warning: CMSIS-NN not found, using the portable kernels"
    cache = tmp_path / "cache"
    runs = [
        tinyml(*args, cache=cache, env=env),
        tinyml(*args, cache=cache, env=env),
        tinyml(*args, "--verbose", cache=cache, env=env),
        tinyml(*args, cache=cache, env=env),
        tinyml(*args, cache=tmp_path / "other", env=env),
        tinyml("report", str(mlperf_dir() / AD01), "--board", "host", cache=tmp_path / "host", env=env),
    ]
    assert [p.returncode for p in runs] == [0] * 6, [p.stderr for p in runs]
    assert [p.stderr.count(warning) for p in runs] == [1, 0, 1, 0, 1, 0]
    assert all(json.loads(p.stdout)["kernels"] == "portable" for p in runs[:5])


# --- deploy prints the outputs by their type ---


@pytest.fixture(scope="module")
def float_io_model(tmp_path_factory):
    import tensorflow as tf

    def build():
        x = tf.keras.Input((8,))
        return tf.keras.Model(x, tf.keras.layers.Dense(5)(x))

    return convert(build, [(8,)], tmp_path_factory.mktemp("float_io") / "float_io.tflite", float_io=True)


def test_deploy_prints_float_outputs_as_numbers(tmp_path, float_io_model):
    proc = tinyml(
        "deploy", str(float_io_model), "--board", "mps2-an500", "--kernels", "portable", cache=tmp_path / "cache"
    )
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("  output "))
    assert "float32[1, 5] [" in line
    values = [float(v) for v in line.rsplit("[", 1)[1].rstrip("]").split(", ")]
    expected = tflm_outputs(float_io_model, random_inputs(float_io_model, 0))[0].reshape(-1)
    assert values == pytest.approx(expected.tolist(), rel=1e-5, abs=1e-6)
    assert "identical output" in proc.stdout
