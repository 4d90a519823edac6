"""The op definitions' NumPy references and the IR interpreter against TFLite Micro, byte for byte.

Graphs run as loaded, optimised and patch-expanded. Where TFLM can run the
same model, every tensor it computes is compared, not just the outputs. The
per-op models are the ones the C kernel tests build (imported from
kernels/portable/test_*.py), so the reference and the kernels face the same corners; no C
is compiled here except for the one test of the host program's byte format.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import kernels.portable.test_conv as conv_cases
import kernels.portable.test_elementwise as elementwise_cases
import kernels.portable.test_pooling as pooling_cases
import kernels.portable.test_shape as shape_cases
import kernels.portable.test_softmax as softmax_cases
import numpy as np
import pytest
from keras_models import convert
from support import compile_host, mlperf_dir

from tinyml.errors import InputDataError, UnsupportedOpError
from tinyml.frontend.tflite import load_model
from tinyml.ir.graph import Graph, Operator, Quantization, Tensor
from tinyml.ir.types import INT8
from tinyml.kernels import REGISTRY
from tinyml.kernels.fast import tflm_requantize
from tinyml.ops import DEFINITIONS
from tinyml.ops.arith import multiply_by_quantized_multiplier
from tinyml.ops.fixedpoint import quantize_multiplier
from tinyml.passes import optimize
from tinyml.plan import PlanOptions, plan_model
from tinyml.plan.patches import PatchConfig, stage_candidates
from tinyml.reference import run, run_bytes
from tinyml.reference.inputs import random_inputs
from tinyml.reference.tflm import tflm_outputs
from tinyml.target.build import run_host

MLPERF = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8", "str_ww_ref_model"]


# --- oracle and comparison ---


def tflm_tensors(model: Path, inputs: list[np.ndarray]) -> dict[int, np.ndarray]:
    """Every tensor TFLM computes for these inputs, by model tensor index (it keeps them all when asked)."""
    from tflite_micro.python.tflite_micro import runtime

    graph = load_model(model)
    # nothing is reused, so the arena holds every activation besides what TFLM's default size allows for
    arena = 10 * model.stat().st_size + sum(t.nbytes + 16 for t in graph.activations()) + (1 << 16)
    interp = runtime.Interpreter.from_file(
        str(model), arena_size=arena, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
    )
    for i, x in enumerate(inputs):
        interp.set_input(x, i)
    interp.invoke()
    indices = {t.index for t in graph.activations()}
    return {i: np.array(interp.GetTensor(i, 0)["tensor_data"]) for i in indices}


def assert_same_bytes(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    """Equal dtype, shape and bytes (so float -0.0 differs from 0.0)."""
    assert (got.dtype, got.shape) == (ref.dtype, ref.shape), (
        f"{what}: {got.dtype}{got.shape}, TFLM {ref.dtype}{ref.shape}"
    )
    g, r = got.reshape(-1).view(np.uint8), ref.reshape(-1).view(np.uint8)
    bad = np.flatnonzero(g != r) // got.itemsize
    if bad.size:
        raise AssertionError(
            f"{what}: {np.unique(bad).size} of {ref.size} values differ, first at {bad[0]}: "
            f"got {got.reshape(-1)[bad[0]]}, TFLM {ref.reshape(-1)[bad[0]]}"
        )


def run_all(graph: Graph, inputs: list[np.ndarray]) -> dict[int, np.ndarray]:
    """Every activation the interpreter computes, by tensor identity (the graph with all of them as outputs)."""
    everything = graph.activations()
    values = run(dataclasses.replace(graph, outputs=everything), inputs)
    return {id(t): v for t, v in zip(everything, values, strict=True)}


def assert_matches_tflm(
    model: Path,
    graphs: dict[str, Graph],
    seeds: range = range(3),
    inputs: list[list[np.ndarray]] | None = None,
    oracle: Path | None = None,
) -> None:
    """Each graph's outputs equal TFLM's (`tflm_outputs`) on seeded random inputs (or the given ones).

    Unless the oracle is another model, every tensor that keeps its source shape
    (patch-sized copies do not) must equal the one TFLM computed too.
    """
    cases = inputs if inputs is not None else [random_inputs(model, seed) for seed in seeds]
    for n, x in enumerate(cases):
        ref = tflm_outputs(oracle or model, x)
        every = tflm_tensors(model, x) if oracle is None else {}
        for name, graph in graphs.items():
            got = run(graph, x)
            for k, (g, r) in enumerate(zip(got, ref, strict=True)):
                assert_same_bytes(g, r, f"{model.name} {name} input {n} output {k}")
            if not every:
                continue
            values, compared = run_all(graph, x), 0
            for t in graph.activations():
                if t.index in every and every[t.index].shape == t.shape:
                    assert_same_bytes(values[id(t)], every[t.index], f"{model.name} {name} input {n} {t.name!r}")
                    compared += 1
            # only patch-sized copies of tensors go unchecked
            expanded = any(op.type == "TINYML_COPY_REGION" for op in graph.ops)
            assert compared == len(graph.activations()) or (expanded and compared > 0), (name, compared)


def stages(model: Path, loaded: bool = True) -> dict[str, Graph]:
    """The model as optimised and, unless Keras computes shapes at run time in it (SHAPE, which only the
    optimiser folds), as loaded."""
    graphs = {"optimized": optimize(load_model(model))}
    if loaded:
        graphs["loaded"] = load_model(model)
    else:
        assert "SHAPE" in types(load_model(model))
    return graphs


def check(model: Path, seeds: range = range(3), loaded: bool = True) -> Graph:
    """`assert_matches_tflm` on the optimised and loaded graphs; returns the optimised one."""
    graphs = stages(model, loaded)
    assert_matches_tflm(model, graphs, seeds)
    return graphs["optimized"]


def types(graph: Graph) -> list[str]:
    return [op.type for op in graph.ops]


# --- registry and arithmetic ---


def test_every_supported_op_has_a_definition():
    assert set(REGISTRY) <= set(DEFINITIONS)


def test_requantize_matches_the_scalar_model():
    """The vectorised MultiplyByQuantizedMultiplier against the scalar Python twin of the C, corners included."""
    rng = np.random.default_rng(0)
    xs = np.concatenate(
        [rng.integers(-(1 << 31), 1 << 31, 4000), [-(1 << 31), (1 << 31) - 1, 0, 1, -1, 1 << 20, -(1 << 20)]]
    )
    reals = [1e-9, 3e-5, 0.0123, 0.4999, 0.5, 0.75, 1.0, 1.7, 3.0, 250.0, 2.0**20]
    for real in reals:
        m, s = quantize_multiplier(real)
        got = multiply_by_quantized_multiplier(xs, m, s)
        assert got.tolist() == [tflm_requantize(int(x), m, s) for x in xs], real
    # INT32_MIN times INT32_MIN saturates rather than overflowing
    assert multiply_by_quantized_multiplier(-(1 << 31), -(1 << 31), 0) == (1 << 31) - 1


# --- the MLPerf Tiny models: loaded, optimised, planned for the least memory, and forced patch grids ---


def mlperf_graphs(name: str) -> dict[str, Graph]:
    path = mlperf_dir() / f"{name}.tflite"
    graphs = stages(path)
    lean = plan_model(optimize(load_model(path)), options=PlanOptions(prefer="memory"))
    assert (lean.patches is not None) == (name in ("vww_96_int8", "pretrainedResnet_quant"))
    graphs[f"planned ({lean.patches or 'no patches'})"] = lean.graph
    splits = stage_candidates(graphs["optimized"])
    for config in [PatchConfig(max(splits), 3, 2), PatchConfig(min(splits), 2, 5)] if splits else []:
        forced = plan_model(optimize(load_model(path)), options=PlanOptions(patches=config))
        assert any(op.type == "TINYML_COPY_REGION" for op in forced.graph.ops)
        graphs[str(config)] = forced.graph
    return graphs


@pytest.mark.parametrize("name", MLPERF)
def test_mlperf_model(name):
    assert_matches_tflm(mlperf_dir() / f"{name}.tflite", mlperf_graphs(name))


# --- per-op corners, on the models the C kernel tests use ---


def _keras(build, shapes, tmp_path, **kw) -> Path:
    return convert(build, shapes, tmp_path / "m.tflite", **kw)


@pytest.mark.parametrize("case", sorted(conv_cases.CONV_CASES))
def test_conv2d(case, tmp_path):
    import tensorflow as tf

    shape, filters, kernel, strides, padding, dilation, act = conv_cases.CONV_CASES[case]
    layer = tf.keras.layers.Conv2D

    def build():
        conv = layer(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation, activation=act)
        return tf.keras.Sequential([tf.keras.Input(shape), conv])

    assert types(check(_keras(build, [shape], tmp_path))) == ["CONV_2D"]


@pytest.mark.parametrize("per_tensor", [False, True], ids=["per_channel", "per_tensor"])
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_conv2d_weights_and_groups(groups, per_tensor, tmp_path):
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((7, 6, 8)), tf.keras.layers.Conv2D(8, 3, groups=groups)])

    graph = check(_keras(build, [(7, 6, 8)], tmp_path, per_tensor=per_tensor))
    conv = graph.ops[0]
    assert conv.input(0).shape[3] // conv.input(1).shape[3] == groups
    assert conv.input(1).quant.per_channel != per_tensor


@pytest.mark.parametrize("case", sorted(conv_cases.DW_CASES))
def test_depthwise_conv2d(case, tmp_path):
    import tensorflow as tf

    shape, kernel, strides, padding, mult, dilation, act = conv_cases.DW_CASES[case]

    def build():
        dw = tf.keras.layers.DepthwiseConv2D(
            kernel, strides=strides, padding=padding, depth_multiplier=mult, dilation_rate=dilation, activation=act
        )
        return tf.keras.Sequential([tf.keras.Input(shape), dw])

    assert types(check(_keras(build, [shape], tmp_path))) == ["DEPTHWISE_CONV_2D"]


@pytest.mark.parametrize(
    "depthwise,padding,rate",
    [(False, "SAME", (2, 2)), (False, "VALID", (2, 3)), (True, "SAME", (2, 2)), (True, "VALID", (3, 2))],
    ids=["conv_same", "conv_valid", "dw_same", "dw_valid"],
)
def test_dilation(depthwise, padding, rate, tmp_path):
    import tensorflow as tf

    layer = conv_cases._dilated_layers()

    def build():
        return tf.keras.Sequential([tf.keras.Input((13, 12, 4)), layer(5, (3, 3), rate, padding, depthwise)])

    graph = check(_keras(build, [(13, 12, 4)], tmp_path))
    assert graph.ops[0].attrs.dilation[0] == rate[0]


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "dw"])
def test_space_to_batch_dilation_as_explicit_padding(depthwise, tmp_path):
    """Keras' dilated SAME conv becomes one dilated conv with EXPLICIT padding; its bytes are TFLM's for the
    direct dilated conv with the same weights. The graph as loaded still holds SPACE_TO_BATCH_ND, which has
    no reference semantics: a clear error."""
    import tensorflow as tf

    shape = (12, 12, 4)
    keras_layer = (
        tf.keras.layers.DepthwiseConv2D(3, dilation_rate=2, padding="same", use_bias=False)
        if depthwise
        else tf.keras.layers.Conv2D(5, 3, dilation_rate=2, padding="same", use_bias=False)
    )
    direct_layer = conv_cases._dilated_layers()(5, (3, 3), (2, 2), "SAME", depthwise)

    def build_direct():
        model = tf.keras.Sequential([tf.keras.Input(shape), direct_layer])
        direct_layer.set_weights(keras_layer.get_weights())
        return model

    s2b = convert(lambda: tf.keras.Sequential([tf.keras.Input(shape), keras_layer]), [shape], tmp_path / "s2b.tflite")
    direct = convert(build_direct, [shape], tmp_path / "direct.tflite")
    graph = optimize(load_model(s2b))
    assert graph.ops[0].attrs.padding == "EXPLICIT"
    assert_matches_tflm(s2b, {"optimized": graph}, oracle=direct)
    with pytest.raises(UnsupportedOpError, match="SPACE_TO_BATCH_ND has no reference implementation"):
        run(load_model(s2b), random_inputs(s2b, 0))


@pytest.mark.parametrize("per_tensor", [False, True], ids=["per_channel", "per_tensor"])
@pytest.mark.parametrize("act", [None, "relu", "relu6"])
def test_fully_connected(act, per_tensor, tmp_path):
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((37,)), tf.keras.layers.Dense(13, activation=act)])

    assert types(check(_keras(build, [(37,)], tmp_path, per_tensor=per_tensor))) == ["FULLY_CONNECTED"]


def test_fully_connected_with_weight_zero_point(tmp_path):
    """A per-tensor weight zero point, which TFLite allows but converters do not emit (set in the flatbuffer)."""
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((21,)), tf.keras.layers.Dense(6)])

    def edit(model) -> None:  # type: ignore[no-untyped-def]
        graph = model.subgraphs[0]
        weights = graph.tensors[graph.operators[0].inputs[1]]
        weights.quantization.zeroPoint = np.array([5], dtype=np.int64)

    path = softmax_cases.edited(_keras(build, [(21,)], tmp_path, per_tensor=True), edit)
    graph = check(path)
    assert graph.ops[0].input(1).quant.zero_point == 5


def test_dense_on_3d_input(tmp_path):
    """keep_num_dims with a fixed batch; with a free batch Keras computes reshape targets at run time (SHAPE,
    GATHER, ...), which only the optimised graph can run, to the bytes TFLM gives for the static form."""
    import tensorflow as tf

    dense = tf.keras.layers.Dense(4)

    def build_static():
        model = tf.keras.Sequential([tf.keras.Input((5, 12), batch_size=1), tf.keras.layers.Dense(4)])
        model.layers[-1].set_weights(dense.get_weights())
        return model

    dynamic = convert(lambda: tf.keras.Sequential([tf.keras.Input((5, 12)), dense]), [(5, 12)], tmp_path / "d.tflite")
    static = convert(build_static, [(5, 12)], tmp_path / "s.tflite")
    assert load_model(static).ops[0].attrs.keep_num_dims
    check(static)
    optimized = optimize(load_model(dynamic))
    assert "FULLY_CONNECTED" in types(optimized) and "SHAPE" not in types(optimized)
    inputs = [random_inputs(static, seed) for seed in range(3)]
    assert_matches_tflm(dynamic, {"optimized": optimized}, inputs=inputs, oracle=static)
    with pytest.raises(UnsupportedOpError, match="SHAPE has no reference implementation"):
        run(load_model(dynamic), inputs[0])


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("case", sorted(pooling_cases.POOL_CASES))
def test_pool2d(case, kind, tmp_path):
    import tensorflow as tf

    shape, pool, strides, padding = pooling_cases.POOL_CASES[case]
    layer = tf.keras.layers.AveragePooling2D if kind == "avg" else tf.keras.layers.MaxPooling2D

    def build():
        return tf.keras.Sequential([tf.keras.Input(shape), layer(pool, strides=strides, padding=padding)])

    check(_keras(build, [shape], tmp_path))


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize("act", ["relu", "relu6"])
def test_pool2d_fused_activation(kind, act, tmp_path):
    import tensorflow as tf

    layer = tf.keras.layers.AveragePooling2D if kind == "avg" else tf.keras.layers.MaxPooling2D

    def build():
        return tf.keras.Sequential(
            [
                tf.keras.Input((9, 9, 3)),
                tf.keras.layers.Conv2D(4, 3),
                layer(3, strides=2, padding="same"),
                tf.keras.layers.Activation(act),
            ]
        )

    graph = check(_keras(build, [(9, 9, 3)], tmp_path))
    assert graph.ops[-1].attrs.activation == act.upper()


def test_patch_stage_of_every_windowed_op(tmp_path):
    """A stage of strided, dilated and depthwise convs and clipped pools, expanded over several grids:
    explicit padding at patch borders and region copies must give the unexpanded bytes."""
    import tensorflow as tf

    layers = tf.keras.layers
    dilated = conv_cases._dilated_layers()

    def build():
        return tf.keras.Sequential(
            [
                tf.keras.Input((23, 19, 3)),
                layers.Conv2D(6, 3, strides=2, padding="same", activation="relu"),
                dilated(6, (3, 3), (2, 2), "SAME", True),
                layers.AveragePooling2D(3, strides=1, padding="same"),
                layers.DepthwiseConv2D((3, 2), depth_multiplier=2, padding="same", activation="relu6"),
                layers.MaxPooling2D(3, strides=2, padding="same"),
                layers.Conv2D(5, (2, 3), padding="valid"),
                layers.GlobalAveragePooling2D(),
                layers.Dense(4),
            ]
        )

    path = _keras(build, [(23, 19, 3)], tmp_path)
    optimized = optimize(load_model(path))
    splits = stage_candidates(optimized)
    assert max(splits) == 6
    graphs: dict[str, Graph] = {}
    for config in [PatchConfig(6, 2, 3), PatchConfig(6, 4, 4), PatchConfig(3, 3, 2), PatchConfig(4, 5, 1)]:
        expanded = plan_model(optimize(load_model(path)), options=PlanOptions(patches=config)).graph
        assert "EXPLICIT" in {getattr(op.attrs, "padding", None) for op in expanded.ops}
        graphs[str(config)] = expanded
    assert_matches_tflm(path, graphs)


@pytest.mark.parametrize("case", sorted(elementwise_cases.BINARY_SHAPES))
@pytest.mark.parametrize("op", ["ADD", "MUL"])
def test_binary_broadcasting(op, case, tmp_path):
    s1, s2 = elementwise_cases.BINARY_SHAPES[case]
    fn = (lambda a, b: a + b) if op == "ADD" else (lambda a, b: a * b)
    path = elementwise_cases.convert_two(fn, s1, s2, tmp_path / "m.tflite")
    assert types(check(path)) == [op]


@pytest.mark.parametrize("op", ["ADD", "MUL"])
@pytest.mark.parametrize("act", ["RELU", "RELU6"])
def test_binary_fused_activation(op, act, tmp_path):
    import tensorflow as tf

    def fn(a, b):
        y = tf.keras.layers.Add()([a, b]) if op == "ADD" else tf.keras.layers.Multiply()([a, b])
        return tf.keras.layers.ReLU(6.0 if act == "RELU6" else None)(y)

    path = _keras(elementwise_cases.two_inputs(fn, (6, 5, 8), (6, 5, 8)), [(6, 5, 8)] * 2, tmp_path)
    assert elementwise_cases.op_summary(path) == [(op, act)]
    check(path)


def test_binary_constants_and_scales(tmp_path):
    """Unequal operand scales, per-channel and scalar constants, one tensor used twice."""
    import tensorflow as tf

    bias = tf.constant(np.linspace(-1.0, 2.0, 6).astype(np.float32))
    gain = tf.constant(np.linspace(0.5, -3.0, 6).astype(np.float32))

    def fn(a):
        return 0.3 + (-0.7) * ((a * 20.0 + a * a + bias) * gain)

    graph = check(_keras(elementwise_cases.one_input(fn, (5, 5, 6)), [(5, 5, 6)], tmp_path))
    assert set(types(graph)) == {"ADD", "MUL"}


@pytest.mark.parametrize("act", ["RELU", "RELU6"])
@pytest.mark.parametrize("float_io", [False, True], ids=["int8_io", "float_io"])
def test_standalone_activation(act, float_io, tmp_path):
    import tensorflow as tf

    layer = tf.keras.layers.ReLU(6.0 if act == "RELU6" else None)
    path = _keras(elementwise_cases.one_input(layer, (7, 6, 5)), [(7, 6, 5)], tmp_path, float_io=float_io)
    assert act in types(check(path))


@pytest.mark.parametrize("act", ["RELU", "RELU6"])
def test_standalone_activation_offset_input(act, tmp_path):
    """A zero point far from 0 and, for RELU6, an output scale unlike the input's (which TFLM ignores)."""
    import tensorflow as tf

    def fn(a):
        y = tf.keras.layers.Reshape((30,))(a * 4.0 + 3.0)
        return tf.keras.layers.ReLU(6.0 if act == "RELU6" else None)(y)

    assert act in types(check(_keras(elementwise_cases.one_input(fn, (5, 6)), [(5, 6)], tmp_path), loaded=False))


@pytest.mark.parametrize("units", [2, 10, 37])
def test_softmax_rows(units, tmp_path):
    check(_keras(softmax_cases.dense_softmax(units), [(16,)], tmp_path), seeds=range(20))


@pytest.mark.parametrize("shape", [(5, 6, 7), (4, 9), (300,)], ids=["4d", "3d", "long_row"])
def test_softmax_shapes(shape, tmp_path):
    check(_keras(softmax_cases.softmax_only(shape), [shape], tmp_path), seeds=range(20))


@pytest.mark.parametrize("gain", [0.05, 60.0], ids=["fine_scale", "saturating"])
def test_softmax_input_scales(gain, tmp_path):
    graph = check(_keras(softmax_cases.dense_softmax(12, gain=gain), [(16,)], tmp_path), seeds=range(20))
    softmax_scale = graph.ops[1].input(0).quant.scale
    assert softmax_scale > 1.0 if gain > 1 else softmax_scale < 0.05


@pytest.mark.parametrize("beta", [0.3, 2.5, 1e4])
def test_softmax_beta(beta, tmp_path):
    path = softmax_cases.edited(
        _keras(softmax_cases.dense_softmax(10), [(16,)], tmp_path), softmax_cases.set_beta(beta)
    )
    check(path, seeds=range(20))


# scale 1/16 with 256 values covers [-8, 8); 0.5 and 3.0 saturate most inputs
@pytest.mark.parametrize(
    ("scale", "zero_point"), [(None, None), (0.002, 0), (1 / 16, -3), (0.5, 40), (3.0, -128)], ids=str
)
def test_logistic_input_scales(scale, zero_point, tmp_path):
    """Every int8 input value at several input quantizations (the input holds each value once per run)."""
    path = _keras(softmax_cases.sigmoid_only((256,)), [(256,)], tmp_path)
    if scale is not None:
        softmax_cases.edited(path, softmax_cases.set_input_quant(scale, zero_point))
    every_value = [[np.roll(np.arange(-128, 128, dtype=np.int8), k).reshape(1, 256)] for k in range(3)]
    graphs = stages(path)
    assert types(graphs["optimized"]) == ["LOGISTIC"]
    assert_matches_tflm(path, graphs, inputs=every_value)


def test_dense_sigmoid(tmp_path):
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((16,)), tf.keras.layers.Dense(9, activation="sigmoid")])

    assert types(check(_keras(build, [(16,)], tmp_path), seeds=range(10))) == ["FULLY_CONNECTED", "LOGISTIC"]


@pytest.mark.parametrize("case", sorted(shape_cases.MEAN_CASES))
def test_mean(case, tmp_path):
    shape, axes, keepdims = shape_cases.MEAN_CASES[case]
    assert types(check(_keras(shape_cases._mean_model(shape, axes, keepdims), [shape], tmp_path))) == ["MEAN"]


@pytest.mark.parametrize("scale_factor", [1.0, 1 / 3, 40.0], ids=["same_quant", "finer_output", "coarser_output"])
def test_mean_output_quantization(scale_factor, tmp_path):
    def edit(model) -> None:  # type: ignore[no-untyped-def]
        graph = model.subgraphs[0]
        op = graph.operators[0]
        src = graph.tensors[op.inputs[0]].quantization
        dst = graph.tensors[op.outputs[0]].quantization
        dst.scale = np.array([np.float32(src.scale[0]) * np.float32(scale_factor)], dtype=np.float32)
        dst.zeroPoint = np.array(src.zeroPoint if scale_factor == 1.0 else [17], dtype=np.int64)

    path = _keras(shape_cases._mean_model((6, 9, 5), [1, 2], False), [(6, 9, 5)], tmp_path)
    check(softmax_cases.edited(path, edit))


@pytest.mark.parametrize("case", sorted(shape_cases.PAD_CASES))
def test_pad(case, tmp_path):
    import keras
    import tensorflow as tf

    shape, pads, constant = shape_cases.PAD_CASES[case]
    full = [[0, 0], *pads]
    kwargs = {} if constant is None else {"constant_values": constant}
    layers = lambda: [tf.keras.layers.Lambda(lambda x: keras.ops.pad(x, full, **kwargs))]  # noqa: E731
    graph = check(_keras(shape_cases._sequential(shape, layers), [shape], tmp_path))
    assert types(graph) == ["PAD" if constant is None else "PADV2"]


def test_pad_with_nonzero_zero_point(tmp_path):
    import tensorflow as tf

    def layers():
        return [tf.keras.layers.Conv2D(4, 1, activation="relu"), tf.keras.layers.ZeroPadding2D(((1, 2), (3, 0)))]

    graph = check(_keras(shape_cases._sequential((5, 7, 3), layers), [(5, 7, 3)], tmp_path))
    assert graph.ops[-1].outputs[0].quant.zero_point == -128


@pytest.mark.parametrize("axis", [1, 2, 3, -1])
def test_concatenate(axis, tmp_path):
    """Branches of different origin (conv, input, pool) joined along each axis."""
    import tensorflow as tf

    def build():
        x = tf.keras.Input((6, 5, 3))
        conv = tf.keras.layers.Conv2D(3, 3, padding="same", activation="relu")(x)
        pool = tf.keras.layers.MaxPooling2D(3, strides=1, padding="same")(x)
        return tf.keras.Model(x, tf.keras.layers.Concatenate(axis=axis)([conv, x, pool]))

    graph = check(_keras(build, [(6, 5, 3)], tmp_path))
    assert types(graph)[-1] == "CONCATENATION"


def test_concatenate_dense_rows(tmp_path):
    import tensorflow as tf

    def build():
        x = tf.keras.Input((7,))
        return tf.keras.Model(
            x, tf.keras.layers.Concatenate()([tf.keras.layers.Dense(3)(x), tf.keras.layers.Dense(5)(x)])
        )

    check(_keras(build, [(7,)], tmp_path))


def test_float_io(tmp_path):
    """QUANTIZE from float32 and DEQUANTIZE to float32 around a conv, two inputs meeting in an ADD."""
    import tensorflow as tf

    def build():
        a, b = tf.keras.Input((6, 5, 4)), tf.keras.Input((6, 5, 4))
        y = tf.keras.layers.Add()([tf.keras.layers.Conv2D(4, 3, padding="same")(a), b * 2.0])
        return tf.keras.Model([a, b], y)

    graph = check(_keras(build, [(6, 5, 4)] * 2, tmp_path, float_io=True))
    assert types(graph).count("QUANTIZE") == 2 and types(graph)[-1] == "DEQUANTIZE"


def test_quantize_rounding_corners(tmp_path):
    """Inputs at and next to every rounding tie x / scale = k + 1/2 that int8 reaches, signed zeros, tiny and
    large values. Quotients beyond int32 (and NaN) are undefined behaviour in TFLM's cast; the reference
    saturates there, as the C kernel does."""
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((24, 32)), tf.keras.layers.Reshape((768,))])

    path = _keras(build, [(24, 32)], tmp_path, float_io=True)
    graphs = stages(path, loaded=False)
    assert types(graphs["optimized"]) == ["QUANTIZE", "RESHAPE", "DEQUANTIZE"]
    scale = np.float32(graphs["optimized"].ops[0].outputs[0].quant.scale)
    ties = ((np.arange(-130, 126) + np.float32(0.5)) * scale).astype(np.float32)
    up, down = np.nextafter(ties, np.float32(np.inf)), np.nextafter(ties, np.float32(-np.inf))
    extra = np.array([0.0, -0.0, 1e-30, -1e-30, 1e6, -1e6, 2.5, -2.5], dtype=np.float32)
    corners = [np.concatenate([ties, up, down]).reshape(1, 24, 32), np.resize(extra, (1, 24, 32))]
    assert_matches_tflm(path, graphs, inputs=[[x] for x in corners])
    wild = np.resize(np.array([np.inf, 3e30, -np.inf, -3e30, np.nan], np.float32), (1, 24, 32))
    quantized = run(dataclasses.replace(graphs["optimized"], outputs=[graphs["optimized"].ops[0].outputs[0]]), [wild])
    assert quantized[0].reshape(-1)[:5].tolist() == [127, 127, -128, -128, -128]


def test_dequantize_quantize_chain(tmp_path):
    """Fake-quant layers: every int8 value through DEQUANTIZE and QUANTIZE at two scales."""
    import tensorflow as tf

    def fake_quant(lo, hi):
        return tf.keras.layers.Lambda(lambda t: tf.quantization.fake_quant_with_min_max_args(t, lo, hi))

    def build():
        x = tf.keras.Input((16, 16))
        return tf.keras.Model(x, fake_quant(-3.0, 5.0)(fake_quant(-1.0, 1.0)(x)))

    path = _keras(build, [(16, 16)], tmp_path)
    graphs = stages(path)
    assert types(graphs["optimized"]) == ["DEQUANTIZE", "QUANTIZE", "DEQUANTIZE", "QUANTIZE"]
    assert_matches_tflm(path, graphs, inputs=[[np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16)]])


@pytest.mark.parametrize("case", ["times3", "third", "offset"])
def test_requantize(case, tmp_path):
    """int8 -> int8 QUANTIZE with multipliers about 3 (saturating), 1/3, and 0.37 from a non-zero zero point."""
    import tensorflow as tf

    layers = tf.keras.layers

    def build():
        a, b = tf.keras.Input((4, 4, 3)), tf.keras.Input((4, 4, 3))
        if case == "offset":
            x = layers.Conv2D(3, 1)(a)
            return tf.keras.Model([a, b], [layers.Concatenate()([x, b]), layers.Concatenate()([x, b * 4.0])])
        wide, narrow = layers.Concatenate()([a, b * 3.0]), layers.Concatenate()([a, b * 0.1])
        return tf.keras.Model([a, b], [narrow, wide] if case == "third" else [wide, narrow])

    graph = check(_keras(build, [(4, 4, 3)] * 2, tmp_path))
    requant = [op for op in graph.ops if op.type == "QUANTIZE"]
    assert len(requant) == 1 and requant[0].input(0).type == INT8


# --- the interpreter's interface ---


def test_run_bytes_speaks_the_host_format(tmp_path):
    """Two float inputs, two outputs, three inferences back to back: the same bytes as the built host program
    and as TFLM."""
    import tensorflow as tf

    def build():
        a, b = tf.keras.Input((5, 4, 3)), tf.keras.Input((5, 4, 3))
        s = tf.keras.layers.Add()([a, b * 3.0])
        return tf.keras.Model([a, b], [tf.keras.layers.Conv2D(2, 3)(s), tf.keras.layers.GlobalAveragePooling2D()(s)])

    path = _keras(build, [(5, 4, 3)] * 2, tmp_path, float_io=True)
    graph = optimize(load_model(path))
    runs = [random_inputs(path, seed) for seed in range(3)]
    data = b"".join(x.tobytes() for inputs in runs for x in inputs)
    expected = b"".join(y.tobytes() for inputs in runs for y in tflm_outputs(path, inputs))
    assert run_bytes(graph, data) == expected
    app, _ = compile_host(path, tmp_path / "project")
    assert run_host(app, data) == expected


def test_run_bytes_rejects_partial_inferences():
    path = mlperf_dir() / "ad01_int8.tflite"
    graph = load_model(path)
    one = random_inputs(path, 0)[0].tobytes()
    for data in (b"", one[:-1], one + one[:10]):
        with pytest.raises(InputDataError, match=f"{len(data)} bytes of input; one inference needs 640 bytes"):
            run_bytes(graph, data)


def test_run_rejects_wrong_inputs():
    path = mlperf_dir() / "kws_ref_model.tflite"
    graph = load_model(path)
    x = random_inputs(path, 0)[0]
    with pytest.raises(InputDataError, match="2 input arrays for a model with 1 inputs"):
        run(graph, [x, x])
    with pytest.raises(InputDataError, match=r"input 0 .* is float32\[1, 49, 10, 1\]; the model expects int8"):
        run(graph, [x.astype(np.float32)])
    assert np.array_equal(run(graph, [x.reshape(-1)])[0], run(graph, [x])[0])


def test_op_without_semantics_is_named():
    q = Quantization((0.1,), (0,))
    x, y = Tensor("x", (1, 4), "int8", q), Tensor("y", (1, 4), "int8", q)
    graph = Graph("g", [x], [y], [Operator("EXP", [x], [y], index=7)])
    with pytest.raises(UnsupportedOpError, match=r"op #7 EXP \(output 'y'\): operator EXP has no reference"):
        run(graph, [np.zeros((1, 4), np.int8)])
