"""4-bit weights from an int8 .tflite alone (`tinyml quantize MODEL_int8.tflite -o OUT.tflite --bits w4a8`).

On the published MLPerf Tiny AD model (int8 only) and on a small conv/depthwise/dense CNN tinyml quantized to int8:
the requantized file holds TFLite INT4 weights (per channel for convolutions, per tensor for FULLY_CONNECTED) and
everything else as it was; TFLite Micro runs it, and tinyml's compiled C is bit-exact with it on the host (portable
and CMSIS-NN kernels) and on the emulated Cortex-M7. AD's flash at 4-bit weights is measured against its int8 flash,
and its reconstruction error on the real sample (mean squared error of the output against the input, as the AD
benchmark scores it) against int8's. `--board` with a flash budget lets Rusci's rule choose the layers. Bad input is
refused with one line, its own status, and no file written.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from quant_checks import assert_one_line_error
from support import CMSIS, assert_bit_exact, cmsis_args, compile_host, host_outputs, mlperf_dir, needs_cmsis, tinyml

from tinyml import pipeline
from tinyml.kernels import Kernel
from tinyml.kernels.backends import Backend, CoreFeatures
from tinyml.quant import QuantOptions, metadata
from tinyml.quant.flatbuf import read_model, unpack_int4
from tinyml.quant.requant import _round, requantize
from tinyml.reference.tflm import tflm_outputs
from tinyml.target.boards import load_board

#: TFLite's TensorType numbers
INT8, INT4 = 9, 17
BOARD = "stm32f746"
WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def ad(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> SimpleNamespace:
    """The published AD model, requantized by the CLI; the real sample as the model's 196 input vectors (5
    consecutive frames of 128 log-mel bands each, as the MLPerf Tiny AD benchmark slices a clip)."""
    d = tmp_path_factory.mktemp("ad")
    int8 = mlperf_dir() / "ad01_int8.tflite"
    out = d / "ad01_w4.tflite"
    proc = tinyml("quantize", str(int8), "-o", str(out), "--bits", "w4a8", cache=cache)
    assert proc.returncode == 0, proc.stderr
    raw = np.fromfile(mlperf_dir() / "ad01_sample_normal_id_01_00000000.bin", dtype=np.float32)
    frames = raw.reshape(-1, 128)
    vectors = np.stack([frames[i : i + 5].reshape(-1) for i in range(len(frames) - 4)])
    return SimpleNamespace(int8=int8, w4=out, stdout=proc.stdout, vectors=vectors, dir=d)


@pytest.fixture(scope="module")
def cnn(float_models: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory, cache: Path) -> SimpleNamespace:
    """The conv/depthwise/dense CNN of conftest quantized to int8 by tinyml (per-channel convolutions), and that file
    requantized by the CLI."""
    d = tmp_path_factory.mktemp("cnn")
    int8 = d / "cnn_int8.tflite"
    int8.write_bytes(pipeline.quantize(float_models.dir / "cnn.keras", float_models.dir / "calib.npz").raw)
    out = d / "cnn_w4.tflite"
    proc = tinyml("quantize", str(int8), "-o", str(out), "--bits", "w4a8", cache=cache)
    assert proc.returncode == 0, proc.stderr
    return SimpleNamespace(int8=int8, w4=out, stdout=proc.stdout, dir=d)


def _weights(path: Path) -> dict[str, tuple[int, int, list[float], int]]:
    """Each weighted op's weight tensor by name: type, bias tensor's scale count, weight scales, quantized axis."""
    model = read_model(path.read_bytes())
    sub = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    found = {}
    for op in sub.operators:
        if codes[op.opcodeIndex] in (3, 4, 9):
            t = sub.tensors[op.inputs[1]]
            kind = {3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 9: "FULLY_CONNECTED"}[codes[op.opcodeIndex]]
            found[kind + ":" + t.name.decode()] = (
                t.type,
                len(t.quantization.scale),
                list(t.quantization.scale),
                t.quantization.quantizedDimension,
            )
    return found


def _reconstruction_error(model: Path, vectors: np.ndarray, app: Path | None = None) -> tuple[float, bool]:
    """The AD score of the real sample: the mean over its vectors of the mean squared difference between the
    dequantized output and the input. Computed from TFLite Micro's outputs; with `app` (tinyml's build) also
    whether every output byte equals TFLite Micro's."""
    from tinyml.frontend import load_model

    graph = load_model(model)
    i, o = graph.inputs[0], graph.outputs[0]
    errors, exact = [], True
    for v in vectors:
        q = np.clip(np.round(v / float(i.quant.scale)) + int(i.quant.zero_point), -128, 127).astype(np.int8)
        x = [q.reshape(i.shape)]
        ref = tflm_outputs(model, x)
        if app is not None:
            exact &= bool(np.array_equal(host_outputs(app, x, ref)[0], ref[0]))
        out = (ref[0].astype(np.float64).reshape(-1) - int(o.quant.zero_point)) * float(o.quant.scale)
        errors.append(np.mean((out - v) ** 2))
    return float(np.mean(errors)), exact


# --- the file written ----------------------------------------------------------------------------------------------


def test_ad_weights_become_int4_per_tensor_and_the_rest_stays(ad: SimpleNamespace) -> None:
    """Every FULLY_CONNECTED weight tensor is INT4 with one scale (TFLite Micro's only int4 FC form), packed two per
    byte; its values dequantize within a step of the int8 ones, or to +-7 beyond the range its scale covers; the
    biases hold the same real values at the new scale; activations and their quantization are untouched."""
    before, after = read_model(ad.int8.read_bytes()), read_model(ad.w4.read_bytes())
    sb, sa = before.subgraphs[0], after.subgraphs[0]
    assert len(sb.operators) == len(sa.operators) == 10
    for ob, oa in zip(sb.operators, sa.operators, strict=True):
        assert list(ob.inputs) == list(oa.inputs) and list(ob.outputs) == list(oa.outputs)
        wb, wa = sb.tensors[ob.inputs[1]], sa.tensors[oa.inputs[1]]
        assert (wb.type, wa.type) == (INT8, INT4)
        assert len(wa.quantization.scale) == 1 and list(wa.quantization.zeroPoint) == [0]
        n = int(np.prod(wa.shape))
        data = after.buffers[wa.buffer].data
        assert len(data) == (n + 1) // 2
        q4 = unpack_int4(data, n).astype(np.float64)
        assert q4.min() >= -7 and q4.max() <= 7
        q8 = np.frombuffer(before.buffers[wb.buffer].data.tobytes(), np.int8).astype(np.float64)
        s8, s4 = float(wb.quantization.scale[0]), float(wa.quantization.scale[0])
        w = q8 * s8
        inside = np.abs(w) <= 7 * s4
        assert np.max(np.abs(q4 * s4 - w)[inside]) < s4  # under one step (nearest, or the next to keep a row's sum)
        assert np.all(q4[~inside] == 7 * np.sign(w[~inside]))  # beyond the range the scale chose: clipped
        bb, ba = sb.tensors[ob.inputs[2]], sa.tensors[oa.inputs[2]]
        b8 = np.frombuffer(before.buffers[bb.buffer].data.tobytes(), np.int32) * float(bb.quantization.scale[0])
        b4 = np.frombuffer(after.buffers[ba.buffer].data.tobytes(), np.int32) * float(ba.quantization.scale[0])
        assert np.allclose(b4, b8, rtol=0, atol=float(ba.quantization.scale[0]))
        x = sa.tensors[oa.inputs[0]]
        assert np.isclose(float(ba.quantization.scale[0]), float(x.quantization.scale[0]) * s4, rtol=1e-6)
    for tb, ta in zip(sb.tensors, sa.tensors, strict=True):
        if tb.type == INT8 and tb.buffer and before.buffers[tb.buffer].data is None:  # activations
            assert ta.type == INT8 and list(ta.quantization.scale) == list(tb.quantization.scale)
            assert list(ta.quantization.zeroPoint) == list(tb.quantization.zeroPoint)
    entry = metadata.read(ad.w4.read_bytes())
    assert entry is not None and entry["method"] == "requant"
    assert {x["weights"] for x in entry["requant"]["layers"].values()} == {4}
    assert sum(t["bits"] == 4 for t in entry["tensors"]) == 10


def test_cnn_convolutions_per_channel_dense_per_tensor(cnn: SimpleNamespace) -> None:
    """Convolution and depthwise weights keep one scale per output channel (on the same axis); the dense layer's
    become per tensor; all INT4."""
    before, after = _weights(cnn.int8), _weights(cnn.w4)
    assert {k.split(":")[0] for k in after} == {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    for name, (kind, count, _, axis) in after.items():
        assert kind == INT4, name
        if name.startswith("FULLY_CONNECTED"):
            assert count == 1
        else:
            assert before[name][1] > 1 and count == before[name][1] and axis == before[name][3], name
    assert "3 of 3 at 4 bits" in cnn.stdout or "4 of 4 at 4 bits" in cnn.stdout, cnn.stdout


def test_rounding_keeps_each_rows_sum() -> None:
    """Each row's sum stays within half a step of the exact one, and the values within -7..7 and one step of the
    exact ones."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-7.4, 7.4, (64, 200))
    q = _round(x)
    assert np.all(np.abs(q.sum(axis=1) - x.sum(axis=1)) <= 0.5 + 1e-9)
    assert q.min() >= -7 and q.max() <= 7 and np.max(np.abs(q - x)) < 1.0
    plain = np.clip(np.round(x), -7, 7)
    assert np.max(np.abs(plain.sum(axis=1) - x.sum(axis=1))) > 1  # what rounding to nearest alone would leave


def _bias_values(model: object, op: object) -> np.ndarray:
    """An operator's bias as real values (int32 times its scale)."""
    t = model.subgraphs[0].tensors[op.inputs[2]]
    scale = np.asarray(t.quantization.scale, dtype=np.float64)
    return np.frombuffer(model.buffers[t.buffer].data.tobytes(), np.int32) * scale


def test_per_channel_dense_becomes_per_tensor_and_zero_channels_keep_their_bias(
    ad: SimpleNamespace, cnn: SimpleNamespace, tmp_path: Path
) -> None:
    """A FULLY_CONNECTED with per-channel int8 weights (AD's first layer given one scale per output channel) gets
    one int4 scale, biases rescaled per channel, and stays bit-exact with TFLite Micro; a convolution channel whose
    int8 weights are all zero keeps its bias's real value instead of losing it to a huge scale."""
    from tinyml.quant.flatbuf import write_model

    model = read_model(ad.int8.read_bytes())
    sub = model.subgraphs[0]
    op = sub.operators[0]
    w, b = sub.tensors[op.inputs[1]], sub.tensors[op.inputs[2]]
    rows = w.shape[0]
    w.quantization.scale = np.linspace(0.5, 1.5, rows).astype(np.float32) * w.quantization.scale[0]
    w.quantization.zeroPoint = np.zeros(rows, dtype=np.int64)
    b.quantization.scale = (w.quantization.scale * sub.tensors[op.inputs[0]].quantization.scale[0]).astype(np.float32)
    b.quantization.zeroPoint = np.zeros(rows, dtype=np.int64)
    per_channel = tmp_path / "ad_per_channel.tflite"
    per_channel.write_bytes(write_model(model))
    out = requantize(per_channel.read_bytes(), per_channel)
    after = read_model(out.raw)
    t = after.subgraphs[0].tensors[after.subgraphs[0].operators[0].inputs[1]]
    assert t.type == INT4 and len(t.quantization.scale) == 1 and out.layers[0].per_channel is False
    step = float(t.quantization.scale[0]) * float(sub.tensors[op.inputs[0]].quantization.scale[0])
    assert np.allclose(_bias_values(after, after.subgraphs[0].operators[0]), _bias_values(model, op), atol=step)
    (tmp_path / "w4.tflite").write_bytes(out.raw)
    assert_bit_exact(tmp_path / "w4.tflite", tmp_path, seeds=range(2))

    model = read_model(cnn.int8.read_bytes())
    sub = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    position = next(i for i, o in enumerate(sub.operators) if codes[o.opcodeIndex] == 3)
    op = sub.operators[position]
    w = sub.tensors[op.inputs[1]]
    data = np.frombuffer(model.buffers[w.buffer].data.tobytes(), np.int8).reshape(w.shape).copy()
    data[0] = 0
    model.buffers[w.buffer].data = data.reshape(-1).view(np.uint8)
    assert _bias_values(model, op)[0] != 0
    zeroed = tmp_path / "cnn_zero_channel.tflite"
    zeroed.write_bytes(write_model(model))
    after = read_model(requantize(zeroed.read_bytes(), zeroed).raw)
    new = after.subgraphs[0].operators[position]
    scale = float(after.subgraphs[0].tensors[new.inputs[2]].quantization.scale[0])
    assert abs(_bias_values(after, new)[0] - _bias_values(model, op)[0]) <= scale / 2 + 1e-12


# --- bit-exact with TFLite Micro ------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["ad", "cnn"])
def test_bit_exact_on_the_host_portable(which: str, ad: SimpleNamespace, cnn: SimpleNamespace, tmp_path: Path) -> None:
    model = (ad if which == "ad" else cnn).w4
    assert_bit_exact(model, tmp_path, seeds=range(4))


def _cmsis_first() -> Backend:
    """CMSIS-NN's kernels for the host, priced to win wherever they take an op (the cost model may prefer the
    portable kernel for some), so that the int4 layers run on CMSIS-NN's _s4 kernels."""
    from tinyml.kernels import cmsis_nn as cn

    def first(kernel: Kernel) -> Kernel:
        base = type(kernel)
        return type(base.__name__, (base,), {"cost": lambda self, op, core, in_place=False: 0})(kernel.core)

    kernels = cn.cmsis_kernels(CoreFeatures.of(load_board("host")), fast=False)
    return Backend("cmsis-nn", {t: tuple(map(first, ks)) for t, ks in kernels.items()}, CMSIS)


@needs_cmsis
@pytest.mark.parametrize("which", ["ad", "cnn"])
def test_bit_exact_on_the_host_cmsis_nn(which: str, ad: SimpleNamespace, cnn: SimpleNamespace, tmp_path: Path) -> None:
    from tinyml.kernels import cmsis_nn as cn

    planned = assert_bit_exact((ad if which == "ad" else cnn).w4, tmp_path, seeds=range(4), backend=_cmsis_first())
    weighted = [k for op, k in zip(planned.graph.ops, planned.plan.kernels, strict=True) if op.type in WEIGHTED]
    assert weighted and all(isinstance(k, cn.CmsisKernel) for k in weighted)


@pytest.mark.parametrize("kernels", ["portable", "cmsis-nn"])
def test_ad_on_the_emulated_cortex_m7(kernels: str, ad: SimpleNamespace, tmp_path: Path, cache: Path) -> None:
    """`tinyml run` on mps2-an500 (QEMU) with 8 of the real sample's vectors: every output byte is TFLite Micro's."""
    if kernels == "cmsis-nn" and CMSIS is None:
        pytest.skip("CMSIS-NN not found (tinyml packs install)")
    from tinyml.frontend import load_model

    i = load_model(ad.w4).inputs[0]
    picked = ad.vectors[::25][:8]
    inputs = [np.clip(np.round(v / float(i.quant.scale)) + int(i.quant.zero_point), -128, 127) for v in picked]
    inputs = [x.astype(np.int8).reshape(i.shape) for x in inputs]
    (tmp_path / "in.bin").write_bytes(b"".join(x.tobytes() for x in inputs))
    extra = cmsis_args(CMSIS) if kernels == "cmsis-nn" and CMSIS is not None else ["--kernels", "portable"]
    files = ("--input", str(tmp_path / "in.bin"), "--output", str(tmp_path / "out.bin"))
    proc = tinyml("run", str(ad.w4), "--board", "mps2-an500", *extra, *files, cache=cache)
    assert proc.returncode == 0, proc.stderr
    expected = b"".join(tflm_outputs(ad.w4, [x])[0].tobytes() for x in inputs)
    assert (tmp_path / "out.bin").read_bytes() == expected


# --- what it saves and what it costs --------------------------------------------------------------------------------


def test_ad_flash_at_most_055x_int8(ad: SimpleNamespace) -> None:
    """The issue's requirement, by tinyml's report for the board: flash (weights, code, constants) at 4-bit weights
    <= 0.55x int8's; the weights alone half."""
    options = pipeline.CompileOptions(progress=False)
    r8 = pipeline.report(pipeline.compile_model(ad.int8, BOARD, options))["flash"]
    r4 = pipeline.report(pipeline.compile_model(ad.w4, BOARD, options))["flash"]
    ratio = r4["total_bytes"] / r8["total_bytes"]
    print(
        f"\nAD flash on {BOARD}: int8 {r8['total_bytes']:,} bytes (weights {r8['weights_bytes']:,}), 4-bit weights "
        f"{r4['total_bytes']:,} (weights {r4['weights_bytes']:,}): {ratio:.3f}x"
    )
    assert r4["weights_bytes"] * 2 == r8["weights_bytes"]
    assert ratio <= 0.55


def test_ad_reconstruction_error_on_the_real_sample(ad: SimpleNamespace, tmp_path: Path) -> None:
    """The real sample's AD score (196 vectors) through tinyml's C on the host, bit-exact with TFLite Micro: int8,
    the 4-bit weights as written, and the brief's scale rule (max|q8| * s8 / 7, rounded to nearest) for comparison.
    The written model's error stays within 2x int8's and below the plain rule's."""
    app8, _ = compile_host(ad.int8, tmp_path / "int8")
    app4, _ = compile_host(ad.w4, tmp_path / "w4")
    int8, exact8 = _reconstruction_error(ad.int8, ad.vectors, app8)
    w4, exact4 = _reconstruction_error(ad.w4, ad.vectors, app4)
    plain = tmp_path / "plain.tflite"
    plain.write_bytes(requantize(ad.int8.read_bytes(), ad.int8, rule="max", sums=False).raw)
    baseline, _ = _reconstruction_error(plain, ad.vectors)
    print(
        f"\nAD reconstruction error (MSE) on the real sample, {len(ad.vectors)} vectors: int8 {int8:.3f}, "
        f"4-bit weights {w4:.3f} ({w4 / int8:.2f}x); max-scale rounded to nearest {baseline:.3f}"
    )
    assert exact8 and exact4
    assert w4 <= 2.0 * int8
    assert w4 < baseline


def test_board_and_flash_budget_let_rusci_choose(ad: SimpleNamespace, tmp_path: Path, cache: Path) -> None:
    """With --board and a --flash-budget, Rusci's rule gives 4-bit weights to the layers holding the most weights
    until the model fits, by tinyml's report of the written file; `tinyml report` shows the choice."""
    out = tmp_path / "ad_fit.tflite"
    proc = tinyml(
        "quantize", str(ad.int8), "-o", str(out), "--bits", "w4a8", "--board", BOARD, "--flash-budget", "200K",
        cache=cache,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    entry = metadata.read(out.read_bytes())
    assert entry is not None
    chosen = {name for name, layer in entry["mixed"]["layers"].items() if layer["weights"] == 4}
    assert chosen == {"functional_1/dense/MatMul", "functional_1/dense_9/MatMul"}  # the two 640x128 layers
    report = json.loads(tinyml("report", str(out), "--board", BOARD, "--json", cache=cache).stdout)
    assert report["flash"]["total_bytes"] <= 200 * 1024
    assert entry["mixed"]["chosen"]["flash_bytes"] == report["flash"]["total_bytes"]
    assert_bit_exact(out, tmp_path, seeds=range(2))
    roomy = tmp_path / "ad_roomy.tflite"  # the board's own flash: int8 fits, so no layer changes
    proc = tinyml("quantize", str(ad.int8), "-o", str(roomy), "--bits", "w4a8", "--board", BOARD, cache=cache)
    assert proc.returncode == 0, proc.stderr
    assert "0 of 10 at 4 bits" in proc.stdout and "the model fits at 8 bits" in proc.stdout, proc.stdout


# --- bad input ------------------------------------------------------------------------------------------------------


def test_float_model_without_calib_is_refused(float_models: SimpleNamespace, tmp_path: Path, cache: Path) -> None:
    out = tmp_path / "out.tflite"
    proc = tinyml("quantize", str(float_models.dir / "float.tflite"), "-o", str(out), "--bits", "w4a8", cache=cache)
    assert_one_line_error(proc, 2, "float TFLite model", "--qat", "--calib")
    assert not out.exists()


def test_corrupt_file_is_refused(tmp_path: Path, cache: Path) -> None:
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(mlperf_dir().joinpath("ad01_int8.tflite").read_bytes()[:5000])
    out = tmp_path / "out.tflite"
    proc = tinyml("quantize", str(bad), "-o", str(out), "--bits", "w4a8", cache=cache)
    assert_one_line_error(proc, 10, "broken", "corrupt")
    assert not out.exists()


def test_model_without_convertible_layer_is_refused(
    float_models: SimpleNamespace, ad: SimpleNamespace, tmp_path: Path, cache: Path
) -> None:
    """An int8 model with no convolution or dense layer, and one whose weights are 4-bit already."""
    import keras

    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.AveragePooling2D(2), keras.layers.ReLU()])
    net.save(tmp_path / "pool.keras")
    np.savez(tmp_path / "calib.npz", np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 3)).astype(np.float32))
    pool = tmp_path / "pool_int8.tflite"
    pool.write_bytes(pipeline.quantize(tmp_path / "pool.keras", tmp_path / "calib.npz", QuantOptions()).raw)
    for model, words in ((pool, ("no convolution",)), (ad.w4, ("4-bit already",))):
        out = tmp_path / "out.tflite"
        proc = tinyml("quantize", str(model), "-o", str(out), "--bits", "w4a8", cache=cache)
        assert_one_line_error(proc, 11, *words)
        assert not out.exists()


def test_other_bits_and_rules_are_refused(ad: SimpleNamespace, tmp_path: Path, cache: Path) -> None:
    """Only 4-bit weights with int8 activations come from an int8 file; the sensitivity rule needs the float model;
    a flash budget that even 4-bit weights everywhere miss exits 3."""
    out = tmp_path / "out.tflite"
    cases = [
        (["--bits", "w2a8"], 2, ("w4a8",)),
        (["--bits", "w4a8", "--board", BOARD, "--mixed", "sensitivity"], 2, ("float model", "rusci")),
        (["--bits", "w4a8", "--flash-budget", "100K"], 2, ("--board",)),
        (["--bits", "w4a8", "--board", BOARD, "--flash-budget", "100K"], 3, ("4-bit weights in every layer",)),
    ]
    for extra, code, words in cases:
        proc = tinyml("quantize", str(ad.int8), "-o", str(out), *extra, cache=cache)
        assert_one_line_error(proc, code, *words)
        assert not out.exists()
