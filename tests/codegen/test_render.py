"""Code generation: deterministic output, strict C99, weights in flash, the plan's offsets in the code."""

from __future__ import annotations

import re
import subprocess

import pytest
from keras_models import convert
from support import assert_bit_exact, mlperf_dir, tinyml

from tinyml.codegen.project import write_project
from tinyml.codegen.render import render_model
from tinyml.frontend.tflite import load_model
from tinyml.ir.types import INT8
from tinyml.passes import optimize
from tinyml.plan import PlanOptions, plan_memory, plan_model
from tinyml.plan.patches import PatchConfig
from tinyml.target.boards import load_board


def _render(name: str):
    graph = optimize(load_model(mlperf_dir() / f"{name}.tflite"))
    plan = plan_memory(graph)
    return graph, plan, render_model(graph, plan, load_board("host"))


def _tree(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_model_gives_byte_identical_files(tmp_path):
    for i in range(2):
        _, _, code = _render("kws_ref_model")
        (tmp_path / str(i)).mkdir()
        write_project(code, tmp_path / str(i))
    first, second = _tree(tmp_path / "0"), _tree(tmp_path / "1")
    assert first.keys() == second.keys() and "model.c" in first
    assert first == second


@pytest.mark.parametrize("name", ["kws_ref_model", "pretrainedResnet_quant", "str_ww_ref_model"])
def test_generated_c_is_strict_c99(name, tmp_path):
    _, _, code = _render(name)
    write_project(code, tmp_path)
    sources = ["model.c", "main.c", *sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("tinyml/kernels/*.c"))]
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wshadow", "-Wstrict-prototypes"]
    proc = subprocess.run(
        ["gcc", *flags, "-fsyntax-only", "-Itinyml/include", "-I.", *sources],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_model_api_and_plan_agree(tmp_path):
    graph, plan, code = _render("vww_96_int8")
    header, source = code.files["model.h"], code.files["model.c"]
    assert f"#define MODEL_ARENA_SIZE {plan.peak}\n" in header
    assert f"#define MODEL_NUM_LAYERS {len(graph.ops)}\n" in header
    assert "#define MODEL_INPUT_BYTES 27648\n" in header and "#define MODEL_OUTPUT_BYTES 2\n" in header
    assert f"return &model_arena[{plan.offset(graph.inputs[0])}];" in source
    assert f"return &model_arena[{plan.offset(graph.outputs[0])}];" in source
    assert "static uint8_t model_arena[MODEL_ARENA_SIZE]" in source


def test_weights_live_in_model_c_as_const(tmp_path):
    graph, _, code = _render("vww_96_int8")
    header, source = code.files["model.h"], code.files["model.c"]
    assert len(header) < 4000, "model.h must hold the API, not data"
    arrays = re.findall(r"static const (\w+) (\w+)\[(\d+)\]", source)
    flash = sum(int(n) * {"int8_t": 1, "int32_t": 4}[t] for t, _, n in arrays)
    assert flash == code.const_bytes
    weights = sum(t.nbytes for op in graph.ops for t in op.inputs if t is not None and t.is_const and t.type == INT8)
    assert code.const_bytes > weights  # weights plus folded biases and multipliers


def test_sub_byte_constants_are_emitted_packed():
    """An int4 weight tensor goes to flash as TFLite and CMSIS-NN's _s4 kernels pack it: two values a byte, the
    first in the low nibble; the array is as big as the tensor's packed size and counted as weights."""
    import numpy as np

    from tinyml.codegen.render import _Emitter
    from tinyml.ir.graph import Operator, Quantization, Tensor
    from tinyml.ir.types import INT4
    from tinyml.ops import Role
    from tinyml.ops.conv import ConvAttrs

    q = Quantization((0.1,), (0,))
    values = np.random.default_rng(0).integers(-8, 8, (3, 3, 3, 2)).astype(np.int8)
    x, w, y = (
        Tensor("x", (1, 5, 5, 2), INT8, q),
        Tensor("w", (3, 3, 3, 2), INT4, q, values),
        Tensor("y", (1, 3, 3, 3), INT8, q),
    )
    emitter = _Emitter(None, "model")  # type: ignore[arg-type]  # constants need no memory plan
    emitter.op = Operator("CONV_2D", [x, w], [y], ConvAttrs(padding="VALID"))
    assert emitter.tensor(w) == "model_op0_w"
    (array,) = emitter.all_consts
    assert array.ctype == "int8_t" and array.role is Role.WEIGHTS and array.nbytes == w.nbytes == 27
    assert INT4.unpack(array.values.tobytes(), w.num_elements).tolist() == values.reshape(-1).tolist()
    low, high = int(array.rows[0].split(", ")[0]) & 0xF, (int(array.rows[0].split(", ")[0]) >> 4) & 0xF
    assert (low, high) == (values.flat[0] & 0xF, values.flat[1] & 0xF)


def test_no_allocation_anywhere(tmp_path):
    _, _, code = _render("kws_ref_model")
    write_project(code, tmp_path)
    for path in [tmp_path / "model.c", *tmp_path.glob("tinyml/**/*.[ch]")]:
        text = path.read_text()
        assert not re.search(r"\b(malloc|calloc|realloc|free)\s*\(", text), path


def _dense():
    import tensorflow as tf

    return tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(3)])


def _add():
    import tensorflow as tf

    a, b = tf.keras.Input((2, 2, 4)), tf.keras.Input((2, 2, 4))
    return tf.keras.Model([a, b], tf.keras.layers.Add()([a, b]))


@pytest.fixture(scope="module")
def single_op_models(tmp_path_factory):
    """One op whose inputs and outputs are the model's: under --io external nothing is left for the arena."""
    d = tmp_path_factory.mktemp("single")
    return {
        "dense": convert(_dense, [(8,)], d / "dense.tflite"),
        "add": convert(_add, [(2, 2, 4), (2, 2, 4)], d / "add.tflite"),
    }


@pytest.mark.parametrize("name", ["dense", "add"])
def test_empty_arena_under_io_external_builds_and_is_bit_exact(single_op_models, name, tmp_path):
    planned = assert_bit_exact(single_op_models[name], tmp_path, options=PlanOptions(io_external=True))
    assert planned.plan.peak == 0 and len(planned.graph.ops) == 1
    header, source = ((tmp_path / "project" / f).read_text() for f in ("model.h", "model.c"))
    assert "#define MODEL_ARENA_SIZE 0\n" in header
    assert "model_arena" not in source and "model_io0" in source


def test_empty_arena_firmware_builds_and_runs(single_op_models, tmp_path):
    """The board image (bench server included, which reports the arena size) builds and runs without an arena."""
    from tinyml.reference.inputs import random_inputs
    from tinyml.reference.tflm import tflm_outputs

    model = single_op_models["dense"]
    inputs = random_inputs(model, 0)
    (tmp_path / "in.bin").write_bytes(b"".join(x.tobytes() for x in inputs))
    files = ("--input", str(tmp_path / "in.bin"), "--output", str(tmp_path / "out.bin"))
    proc = tinyml("run", str(model), "--board", "mps2-an500", "--io", "external", *files, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.bin").read_bytes() == b"".join(o.tobytes() for o in tflm_outputs(model, inputs))
    proc = tinyml("compile", str(model), "--board", "stm32f746", "--io", "external", "-o", str(tmp_path / "fw"))
    assert proc.returncode == 0, proc.stderr
    assert "#define MODEL_ARENA_SIZE 0\n" in (tmp_path / "fw" / "model.h").read_text()


def test_generated_code_names_no_internal_op(tmp_path):
    """Patch copies are tinyml's own ops: layer names and comments call them what they do."""
    graph = optimize(load_model(mlperf_dir() / "vww_96_int8.tflite"))
    planned = plan_model(graph, options=PlanOptions(patches=PatchConfig(3, 2, 2)))
    assert any(op.type == "TINYML_COPY_REGION" for op in planned.graph.ops)
    code = render_model(planned.graph, planned.plan, load_board("host"))
    source = code.files["model.c"]
    assert "TINYML_COPY_REGION" not in source and '"patch copy",' in source
