"""`tinyml ops`: the operator list comes from the definitions and kernels, the check pass holds ops to the types it
lists, and the README's table is its output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from support import mlperf_dir, tinyml

from tinyml.frontend.tflite import load_model
from tinyml.ir.builder import GraphBuilder
from tinyml.ir.types import INT16
from tinyml.kernels import REGISTRY
from tinyml.kernels.catalog import as_markdown, catalog
from tinyml.ops import DEFINITIONS, Unsupported
from tinyml.passes import check_op

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_table_is_what_tinyml_ops_prints():
    text = README.read_text()
    block = re.search(r"<!-- tinyml ops --markdown -->\n(.*?)<!-- end of tinyml ops -->", text, re.S)
    assert block, "README.md has lost its operator table markers"
    assert block.group(1) == as_markdown(catalog()), (
        "README.md's operator table is out of date: replace it with the output of `tinyml ops --markdown`"
    )


def test_every_op_with_a_definition_and_a_kernel_is_listed_once():
    listed = [e.op for e in catalog()]
    assert len(listed) == len(set(listed))
    for op_type in listed:
        assert op_type in DEFINITIONS and op_type in REGISTRY
    # tinyml's own ops (the patch stage's region copy) are not TFLite operators: a model cannot hold them
    assert "CONV_2D" in listed and not any(t.startswith("TINYML") for t in listed)


def test_the_kernel_libraries_are_the_ones_the_backends_offer():
    from tinyml.kernels.backends import CoreFeatures
    from tinyml.kernels.cmsis_nn import cmsis_kernels

    dsp = cmsis_kernels(CoreFeatures(dsp=True))
    for e in catalog():
        libraries = {"portable"} | {k.library for k in dsp.get(e.op, ())}
        named = {"portable": "portable", "fast": "DSP (tinyml)", "cmsis-nn": "CMSIS-NN"}
        assert set(e.kernels) == {named[lib] for lib in libraries}, e


def test_the_check_refuses_a_type_the_definition_does_not_list(monkeypatch):
    """A definition whose validate lets a type through that its `types` do not list cannot reach the compiler:
    `tinyml ops` never promises less than the compiler takes."""
    b = GraphBuilder()
    b.relu(b.input((1, 4, 4, 2), scale=0.1, type="int8"))
    check_op(b.ops[-1])
    monkeypatch.setattr(type(DEFINITIONS["RELU"]), "types", (INT16,))
    with pytest.raises(Unsupported, match=r"tensor 't1' is int8; RELU takes int16 data"):
        check_op(b.ops[-1])


def test_mlperf_models_use_listed_ops_only():
    listed = {e.op for e in catalog()}
    models = sorted(mlperf_dir().glob("*.tflite"))
    assert models
    for path in models:
        ops = {op.type for op in load_model(path).ops}
        assert ops - listed <= {"STRIDED_SLICE", "SHAPE", "PACK"}, path  # folded at compile time


def test_tinyml_ops_prints_the_table_and_json(tmp_path):
    text = tinyml("ops")
    assert text.returncode == 0 and "CONV_2D" in text.stdout and "int4" in text.stdout
    assert f"{len(catalog())} operators" in text.stdout
    data = json.loads(tinyml("ops", "--json").stdout)
    assert data["schema"] == "tinyml.ops/1"
    conv = next(o for o in data["ops"] if o["op"] == "CONV_2D")
    assert conv["weights"] == ["int8", "int4", "int2"] and conv["in_place"] and conv["patches"]
    assert np.all([o["kernels"][0] == "portable" for o in data["ops"]])
