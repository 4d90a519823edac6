"""SOFTMAX and LOGISTIC against TFLite Micro: row lengths, ranks, beta, saturating inputs, many random inputs.

TensorFlow's converter always writes beta = 1 (a multiplication of the logits
is folded into the layer before), and LOGISTIC's input scale follows the
representative data; to reach other values we edit the converted flatbuffer,
which TFLM then runs as it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from keras_models import convert
from support import assert_bit_exact, mlperf_dir

from tinyml.frontend.tflite import load_model
from tinyml.ir.types import INT16
from tinyml.ops import Unsupported
from tinyml.passes import check_op


def edited(src: Path, edit: Callable[[object], None]) -> Path:
    """Rewrite a .tflite in place after `edit(model)` changes its object tree (ModelT)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(src))
    edit(model)
    flatbuffer_utils.write_model(model, str(src))
    return src


def set_beta(beta: float) -> Callable[[object], None]:
    def edit(model) -> None:  # type: ignore[no-untyped-def]
        opts = [op.builtinOptions for op in model.subgraphs[0].operators if hasattr(op.builtinOptions, "beta")]
        assert len(opts) == 1
        opts[0].beta = beta

    return edit


def set_input_quant(scale: float, zero_point: int) -> Callable[[object], None]:
    def edit(model) -> None:  # type: ignore[no-untyped-def]
        graph = model.subgraphs[0]
        q = graph.tensors[graph.inputs[0]].quantization
        q.scale, q.zeroPoint = [scale], [zero_point]

    return edit


def dense_softmax(units: int, gain: float = 1.0) -> Callable[[], object]:
    """Dense -> softmax; `gain` scales the weights so logits span a wide range."""

    def build():  # type: ignore[no-untyped-def]
        import tensorflow as tf

        model = tf.keras.Sequential([tf.keras.Input((16,)), tf.keras.layers.Dense(units), tf.keras.layers.Softmax()])
        dense = model.layers[0]
        dense.kernel.assign(dense.kernel * gain)
        return model

    return build


def softmax_only(shape: tuple[int, ...]) -> Callable[[], object]:
    def build():  # type: ignore[no-untyped-def]
        import tensorflow as tf

        return tf.keras.Sequential([tf.keras.Input(shape), tf.keras.layers.Softmax()])

    return build


def sigmoid_only(shape: tuple[int, ...]) -> Callable[[], object]:
    def build():  # type: ignore[no-untyped-def]
        import tensorflow as tf

        return tf.keras.Sequential([tf.keras.Input(shape), tf.keras.layers.Activation("sigmoid")])

    return build


def op_types(path: Path) -> list[str]:
    return [op.type for op in load_model(path).ops]


@pytest.mark.parametrize("units", [2, 3, 10, 12, 37])
def test_dense_softmax(units, tmp_path):
    model = convert(dense_softmax(units), [(16,)], tmp_path / "m.tflite")
    assert op_types(model) == ["FULLY_CONNECTED", "SOFTMAX"]
    assert_bit_exact(model, tmp_path)


@pytest.mark.parametrize("shape", [(5, 6, 7), (4, 9)], ids=["4d_channels", "3d_rows"])
def test_softmax_last_axis_of_higher_rank(shape, tmp_path):
    model = convert(softmax_only(shape), [shape], tmp_path / "m.tflite")
    assert op_types(model) == ["SOFTMAX"]
    assert_bit_exact(model, tmp_path)


def test_softmax_saturating_logits(tmp_path):
    """Weights x60: a large input scale, so most differences fall below diff_min and give exactly 0."""
    model = convert(dense_softmax(12, gain=60.0), [(16,)], tmp_path / "m.tflite")
    assert load_model(model).ops[1].input(0).quant.scale > 1.0
    assert_bit_exact(model, tmp_path, seeds=range(10))


# 1e4 * scale exceeds 2^5: the multiplier is capped and only the row maximum survives
@pytest.mark.parametrize("beta", [0.3, 2.5, 1e4])
def test_softmax_beta(beta, tmp_path):
    model = edited(convert(dense_softmax(10), [(16,)], tmp_path / "m.tflite"), set_beta(beta))
    assert load_model(model).ops[1].attrs.beta == pytest.approx(beta)
    assert_bit_exact(model, tmp_path, seeds=range(10))


def test_softmax_many_inputs(tmp_path):
    """A 1-D softmax on 50 random inputs, to hit rounding corners of exp and the reciprocal."""
    model = convert(softmax_only((37,)), [(37,)], tmp_path / "m.tflite")
    assert_bit_exact(model, tmp_path, seeds=range(50))


def test_streaming_wake_word(tmp_path):
    """MLPerf Tiny's streaming wake word model: CONV/DEPTHWISE/FC ending in a 3-way SOFTMAX."""
    assert_bit_exact(mlperf_dir() / "str_ww_ref_model.tflite", tmp_path, seeds=range(20))


def test_dense_sigmoid(tmp_path):
    def build():  # type: ignore[no-untyped-def]
        import tensorflow as tf

        return tf.keras.Sequential([tf.keras.Input((16,)), tf.keras.layers.Dense(9, activation="sigmoid")])

    model = convert(build, [(16,)], tmp_path / "m.tflite")
    assert op_types(model) == ["FULLY_CONNECTED", "LOGISTIC"]
    assert_bit_exact(model, tmp_path)


# scale 1/16 with 256 values covers [-8, 8); 0.5 and 3.0 saturate most inputs (radius 15 and 3)
@pytest.mark.parametrize(
    ("scale", "zero_point"), [(None, None), (0.002, 0), (1 / 16, -3), (0.5, 40), (3.0, -128)], ids=str
)
def test_sigmoid_input_scales(scale, zero_point, tmp_path):
    """Every int8 input value (256 per run, 20 runs) through LOGISTIC at several input quantizations."""
    model = convert(sigmoid_only((256,)), [(256,)], tmp_path / "m.tflite")
    if scale is not None:
        edited(model, set_input_quant(scale, zero_point))
    assert op_types(model) == ["LOGISTIC"]
    assert_bit_exact(model, tmp_path, seeds=range(20))


def test_sigmoid_4d(tmp_path):
    model = convert(sigmoid_only((3, 5, 7)), [(3, 5, 7)], tmp_path / "m.tflite")
    assert_bit_exact(model, tmp_path, seeds=range(50))


def test_unsupported_variants(tmp_path):
    """What TFLM rejects (or would compute in the wrong units) is refused with a reason."""
    model = convert(dense_softmax(4), [(16,)], tmp_path / "m.tflite")
    softmax = load_model(model).ops[1]
    check_op(softmax)

    softmax.attrs = dataclasses.replace(softmax.attrs, beta=1e-9)
    with pytest.raises(Unsupported, match="too small"):
        check_op(softmax)

    softmax = load_model(model).ops[1]
    softmax.outputs[0].type = INT16
    with pytest.raises(Unsupported, match="int16 output"):
        check_op(softmax)

    sigmoid = load_model(convert(sigmoid_only((4,)), [(4,)], tmp_path / "s.tflite")).ops[0]
    check_op(sigmoid)
    out = sigmoid.outputs[0]
    out.quant = type(out.quant)((1 / 128,), (-128,))
    with pytest.raises(Unsupported, match="scale 1/256"):
        check_op(sigmoid)
