"""The search's finalists, taken from a trained float model to a checked deployable one.

Each finalist is quantized with the quantization pipeline (int8 post-training quantization, or mixed precision
under the budgets), fine-tuned with fake quantization when that wins back accuracy the conversion lost, compiled
for the board and built, checked bit-exact against TFLite Micro on the host, and measured: top-1 of the compiled
C on the held-out images (what `tinyml eval` prints), memory and latency as `tinyml report` gives them. These are
the figures the search reports and chooses the best model by, not the supernet's estimates.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.nas.space import Arch

#: times mixed precision chooses again under a flash budget tightened by what the built image overshot
MIXED_RETRIES = 3
#: quantization-aware training is tried when post-training quantization loses more top-1 than this
QAT_THRESHOLD = 0.01


@dataclass(frozen=True)
class FinalData:
    """The files quantization, fine-tuning and evaluation read (.npz of float32 pixels in 0..1 and labels, at the
    candidates' resolution), and a few held-out images for the bit-exact check."""

    calib: Path
    train: Path
    test: Path
    check: np.ndarray


@dataclass
class Finalist:
    """A finalist as deployed: its files, how it was quantized, and what it measures."""

    key: str
    arch: dict[str, Any]
    keras: str
    tflite: str
    #: "int8", "int8 QAT", "mixed" or "mixed QAT"
    quantization: str
    #: top-1 on the held-out split: the float model (TensorFlow) and the compiled int8 C on the host
    float_accuracy: float
    accuracy: float
    test_samples: int
    #: outputs compared with TFLite Micro, and whether every byte matched
    checked: int
    bit_exact: bool
    #: `tinyml report`'s figures on the board: arena peak, all RAM, all flash, weights, estimated latency
    peak_sram: int
    ram: int
    flash: int
    weights: int
    latency_ms: float | None
    #: what exceeds the budgets ([] when it fits)
    failures: list[str]
    firmware: str

    def record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Finalist:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in record.items() if k in names})


def write_atomic(path: Path, data: bytes) -> None:
    """`path` written whole or not at all: a sibling temporary file renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def finish(
    arch: Arch,
    keras_path: Path,
    folder: Path,
    board: Any,
    budgets: Any,
    bits: str,
    data: FinalData,
    qat_epochs: int,
    seed: int,
) -> Finalist:
    """Quantize, check and measure the trained float model at `keras_path` (see the module's docstring); its
    .tflite goes beside it in `folder`."""
    from tinyml import pipeline
    from tinyml.quant import QuantOptions

    quant = QuantOptions(seed=seed)
    tflite = folder / "model.tflite"
    chosen, q = _within_built_flash(keras_path, board, budgets, bits, data, quant)
    write_atomic(tflite, q.raw)
    how = "mixed" if bits == "mixed" else "int8"
    host = pipeline.compile_model(tflite, "host", pipeline.CompileOptions(progress=False))
    result = pipeline.evaluate(host, data.test, float_model=keras_path, progress=False)
    float_acc = result.float_accuracy.rate if result.float_accuracy else 0.0
    acc = result.accuracy.rate
    if qat_epochs and float_acc - acc > QAT_THRESHOLD:
        qat = _quantize(keras_path, board, chosen, bits, data, quant, qat_epochs)
        trial = folder / ".qat.tflite"
        write_atomic(trial, qat.raw)
        trial_host = pipeline.compile_model(trial, "host", pipeline.CompileOptions(progress=False))
        trial_acc = pipeline.evaluate(trial_host, data.test, progress=False).accuracy.rate
        if trial_acc > acc:
            trial.replace(tflite)
            host = pipeline.compile_model(tflite, "host", pipeline.CompileOptions(progress=False))
            acc, how = trial_acc, f"{how} QAT"
        else:
            trial.unlink()
    bit_exact, checked = _bit_exact(host, data.check)
    return _measure_on_board(arch, keras_path, tflite, board, budgets, how, float_acc, acc, result, bit_exact, checked)


def _within_built_flash(
    keras_path: Path, board: Any, budgets: Any, bits: str, data: FinalData, quant: Any
) -> tuple[Any, Any]:
    """The quantized model, and the budgets its bits were chosen under. Mixed precision prices code by the report's
    estimate; the image is built, and while it needs more flash than the budget, the bits are chosen again under a
    budget tightened by the overshoot (the estimate's error), at most MIXED_RETRIES times."""
    from dataclasses import replace

    from tinyml import pipeline
    from tinyml.errors import BudgetExceededError
    from tinyml.plan import PlanOptions

    q = _quantize(keras_path, board, budgets, bits, data, quant, None)
    if bits != "mixed" or budgets.flash is None:
        return budgets, q
    chosen = budgets
    options = pipeline.CompileOptions(plan=PlanOptions(sram_budget=budgets.sram), progress=False)
    for _ in range(MIXED_RETRIES):
        with tempfile.TemporaryDirectory(prefix="tinyml-mixed-") as d:
            model = Path(d) / "model.tflite"
            model.write_bytes(q.raw)
            compiled = pipeline.compile_model(model, board, options)
            pipeline.build(compiled)
            over = pipeline.report(compiled)["flash"]["total_bytes"] - budgets.flash
        if over <= 0:
            break
        tighter = replace(chosen, flash=chosen.flash - over)
        try:
            q = _quantize(keras_path, board, tighter, bits, data, quant, None)
        except BudgetExceededError:  # no bits fit the tighter budget: the finalist's failures will say it is over
            break
        chosen = tighter
    return chosen, q


def _quantize(
    keras_path: Path, board: Any, budgets: Any, bits: str, data: FinalData, quant: Any, qat_epochs: int | None
) -> Any:
    """int8 (or mixed precision under the budgets), calibrated on the training images; with `qat_epochs`,
    fine-tuned with fake quantization first."""
    from tinyml import pipeline
    from tinyml.quant.options import QatOptions

    qat = QatOptions(epochs=qat_epochs) if qat_epochs else None
    if bits == "mixed":
        from tinyml.quant.mixed import MixedOptions

        mixed = MixedOptions(board=board.name, sram_budget=budgets.sram, flash_budget=budgets.flash)
        return pipeline.quantize_mixed(
            keras_path, mixed, quant, calib=data.calib, train=data.train if qat else None, qat=qat, progress=False
        )
    if qat is not None:
        return pipeline.train_quantized(keras_path, data.train, qat, quant, calib=data.calib, progress=False)
    return pipeline.quantize(keras_path, data.calib, quant, progress=False)


def _bit_exact(host: Any, images: np.ndarray) -> tuple[bool, int]:
    """The compiled C on the host against TFLite Micro, on held-out images: every output byte equal?"""
    from tinyml import pipeline
    from tinyml.measure.eval import encode

    inputs = [encode(host.graph.inputs[0], x) for x in images]
    return pipeline.run(host, inputs) == pipeline.tflm_expected(host, inputs), len(inputs)


def _measure_on_board(
    arch: Arch,
    keras_path: Path,
    tflite: Path,
    board: Any,
    budgets: Any,
    how: str,
    float_acc: float,
    acc: float,
    result: Any,
    bit_exact: bool,
    checked: int,
) -> Finalist:
    """Compile and build for the board (within the SRAM budget), and read `tinyml report`'s figures."""
    from tinyml import pipeline
    from tinyml.plan import PlanOptions

    options = pipeline.CompileOptions(plan=PlanOptions(sram_budget=budgets.sram), progress=False)
    compiled = pipeline.compile_model(tflite, board, options)
    firmware = pipeline.build(compiled)
    report = pipeline.report(compiled, flash_budget=budgets.flash)
    latency = report["latency"]["ms"]
    failures = [f["message"] for f in report["failures"]]
    if budgets.latency_ms is not None and latency is not None and latency > budgets.latency_ms:
        failures.append(f"latency {latency:g} ms over {budgets.latency_ms:g} ms")
    return Finalist(
        key=arch.key,
        arch=arch.to_dict(),
        keras=str(keras_path),
        tflite=str(tflite),
        quantization=how,
        float_accuracy=float_acc,
        accuracy=acc,
        test_samples=len(result.labels),
        checked=checked,
        bit_exact=bit_exact,
        peak_sram=int(report["sram"]["peak_bytes"]),
        ram=int(report["ram"]["total_bytes"]),
        flash=int(report["flash"]["total_bytes"]),
        weights=int(report["flash"]["weights_bytes"]),
        latency_ms=latency,
        failures=failures,
        firmware=str(firmware),
    )
