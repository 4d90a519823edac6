"""The library API (tinyml.pipeline): the stages one by one give what compile_model gives, and a compiled model
builds, runs, and reports as the command line does."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from support import mlperf_dir, tinyml

from tinyml import pipeline
from tinyml.errors import InputDataError, UsageError
from tinyml.plan import PlanOptions
from tinyml.reference.inputs import random_inputs

AD = "ad01_int8.tflite"


@pytest.fixture(scope="module")
def ad() -> pipeline.Compiled:
    return pipeline.compile_model(mlperf_dir() / AD, "host", pipeline.CompileOptions(kernels="portable"))


def _inputs(model, seeds=(0, 1)) -> list[bytes]:
    return [b"".join(x.tobytes() for x in random_inputs(model, seed)) for seed in seeds]


def test_stages_one_by_one_give_the_same_code(ad):
    board = pipeline.target("HOST")  # names are case-insensitive
    backend = pipeline.backend_for(board, ad.options)
    planned = pipeline.plan(pipeline.load(ad.model), board, backend, ad.options.plan)
    code = pipeline.render(planned, board, backend)
    assert code.files == ad.code.files
    assert planned.plan.peak == ad.plan.peak


def test_run_is_bit_exact_with_tflm_and_the_reference(ad):
    inputs = _inputs(ad.model)
    outputs = pipeline.run(ad, inputs)
    assert outputs == pipeline.tflm_expected(ad, inputs)
    assert outputs == pipeline.run_reference(ad.graph, inputs)
    [arrays] = [pipeline.tensors_of(ad.graph.outputs, outputs[0])]
    assert [a.shape for a in arrays] == [t.shape for t in ad.graph.outputs]


def test_build_into_a_directory_and_the_cache(ad, tmp_path):
    app = pipeline.build(ad, tmp_path / "app")
    assert app == tmp_path / "app" / "app" and app.is_file()
    assert (tmp_path / "app" / "model.c").is_file()
    cached = pipeline.build(ad)
    assert cached.parent == pipeline.cache_dir(ad) and cached.is_file()


def test_report_matches_the_command_line(ad):
    report = pipeline.report(ad)
    cli = json.loads(tinyml("report", str(ad.model), "--board", "host", "--kernels", "portable", "--json").stdout)
    for key in ("schema", "macs", "sram", "latency", "layers"):
        assert report[key] == cli[key], key
    assert report["latency"]["cycles"] > 0
    assert pipeline.smallest_peak(ad) <= ad.plan.peak


def test_an_sram_budget_shapes_the_plan():
    model = mlperf_dir() / "vww_96_int8.tflite"
    fast = pipeline.compile_model(model, "host", pipeline.CompileOptions(kernels="portable"))
    budget = replace(fast.options, plan=PlanOptions(sram_budget=fast.plan.peak - 4096))
    small = pipeline.compile_model(model, "host", budget)
    assert small.plan.peak <= fast.plan.peak - 4096
    assert small.planned.patches is not None or small.plan.peak < fast.plan.peak


def test_inputs_of_the_wrong_size_are_refused(ad):
    need = sum(t.nbytes for t in ad.graph.inputs)
    assert len(pipeline.split_inputs(ad.graph, bytes(3 * need))) == 3
    with pytest.raises(InputDataError, match=f"one inference needs {need} bytes"):
        pipeline.split_inputs(ad.graph, bytes(need + 1))


def test_a_hardware_board_runs_only_emulated():
    with pytest.raises(UsageError, match="stm32f746 is hardware"):
        pipeline.require_emulated(pipeline.target("stm32f746"), "running")
    assert pipeline.target("stm32f746", emulate=True).raw.get("emulated")
