"""Code generation: deterministic output, strict C99, weights in flash, the plan's offsets in the code."""

from __future__ import annotations

import re
import subprocess

import pytest
from support import mlperf_dir

from tinyml.boards import load_board
from tinyml.codegen import render_model, write_project
from tinyml.frontend import load_model
from tinyml.optimize import optimize
from tinyml.planner import plan_memory


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
    weights = sum(t.nbytes for op in graph.ops for t in op.inputs if t is not None and t.is_const and t.dtype == "int8")
    assert code.const_bytes > weights  # weights plus folded biases and multipliers


def test_no_allocation_anywhere(tmp_path):
    _, _, code = _render("kws_ref_model")
    write_project(code, tmp_path)
    for path in [tmp_path / "model.c", *tmp_path.glob("tinyml/**/*.[ch]")]:
        text = path.read_text()
        assert not re.search(r"\b(malloc|calloc|realloc|free)\s*\(", text), path
