"""Model search on CIFAR-10 (real JPEG photos): the searched model against ResNet-8 and a scaled MobileNetV2.

`tinyml search` runs through the library API on CIFAR-10 training photos with the budgets of an STM32F746 for a 64 KB
arena and 256 KB of flash (the search holds RAM on the board, stack and runtime included, to the SRAM budget, so
the arena it allows is smaller still). Then the model it found and two baselines are trained from scratch with
the same recipe and the same number of epochs, quantized to int8 and compiled:

- ResNet-8, the MLPerf Tiny image-classification topology (a 16-channel stem, residual stacks of 16, 32 and 64
  channels), which fits these budgets as it is;
- MobileNetV2 (its seven stages of inverted bottlenecks, a stride-1 stem for 32x32 photos), scaled by width and
  input resolution to the largest that fits the same budgets, by the same exact figures the search uses.

All three are described as search-space candidates (tinyml.nas.space), so they are built, trained and measured by
the same code. For each the table gives top-1 on the test photos through the compiled C on the host (what `tinyml
eval` runs), peak SRAM, RAM on the board and flash from `tinyml report`, the cost model's latency estimate at
216 MHz, and the latency measured on the emulated board (`tinyml bench --emulate`: QEMU's instruction count at the
board's clock), with the first photos' outputs compared byte for byte with TFLite Micro. It also reports how much
of the 90 minutes each stage took.

    python benchmarks/search.py [--cifar DIR] [--train-per-class 1000] [--epochs 15] [--quick]

Everything is cached in tinyml's cache folder (benchmarks/search), keyed by the settings; the search resumes from
its log. `--quick` runs every step at toy sizes (a few minutes) to check the benchmark itself. The exit status is
1 when the searched model is not more accurate than both baselines within the budgets.

First full run (2 cores, other work niced beside it): 54 minutes. Stage 1 1.6 min, supernet 14.2, evolution 5.5,
rank check 5.8, finalists 6.9, then training from scratch: searched 9.3, ResNet-8 2.4, MobileNetV2 8.1 (reading
the photos, about a minute, was cached). Top-1: searched 68.2%, ResNet-8 64.0%, MobileNetV2 (w0.25 r28) 58.4%;
searched peak SRAM 41,088 B, RAM 49,576 B, flash 195,728 B (built), Spearman rho of the estimates 0.80.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from cifar import cifar_dir, photos, write_atomic

from tinyml import pipeline
from tinyml.nas.cost import Budgets, measure
from tinyml.nas.search import SearchOptions, run_search
from tinyml.nas.space import Arch, Stage, scaled_channels
from tinyml.plan import PlanOptions
from tinyml.quant import QuantOptions
from tinyml.resources import cache_root

BOARD = "stm32f746"
BUDGETS = Budgets(sram=64 * 1024, flash=256 * 1024)
#: bump when the recipe or a baseline changes: part of every cache key
VERSION = 2
#: bump when the way a trained row is measured changes (the trained model is kept)
MEASURED = 2


def resnet8() -> Arch:
    """MLPerf Tiny's ResNet-8: residual blocks of two 3x3 convolutions, a 1x1 shortcut where the stride is 2."""
    stages = tuple(Stage("res", c, 1, s, 3) for c, s in ((16, 1), (32, 2), (64, 2)))
    return Arch(32, 1.0, 16, 1, stages)


#: MobileNetV2's stages (expansion, channels, depth, stride), with the second stage's stride 1 for 32x32 photos
MOBILENET_V2 = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def mobilenet_v2(width: float, resolution: int) -> Arch:
    """MobileNetV2 at a width multiplier and input resolution (no 1x1 head: at these widths it alone would
    take most of the flash)."""
    stages = tuple(Stage("mb", scaled_channels(c, width), n, s, 3, t) for t, c, n, s in MOBILENET_V2)
    return Arch(resolution, width, scaled_channels(32, width), 1, stages)


def fitting_mobilenet_v2() -> tuple[Arch, list[str]]:
    """The MobileNetV2 with the most MACs that fits the budgets, over widths 0.1 to 1.0 and resolutions 16 to 32,
    and what was tried (for the printout)."""
    board = pipeline.target(BOARD)
    best: tuple[int, Arch] | None = None
    tried = []
    for width in [w / 20 for w in range(20, 1, -1)]:
        for resolution in (32, 28, 24, 20, 16):
            arch = mobilenet_v2(width, resolution)
            fp = measure(arch, board, 3, 10, sram_budget=BUDGETS.sram, patches=False)
            if fp.fits(BUDGETS):
                tried.append(f"w{width:g} r{resolution}: {fp.macs / 1e6:.1f} M MACs, fits")
                if best is None or fp.macs > best[0]:
                    best = (fp.macs, arch)
                break  # smaller resolutions at this width compute less
            tried.append(f"w{width:g} r{resolution}: {fp.excess(BUDGETS)}")
    if best is None:
        raise SystemExit("no MobileNetV2 width and resolution fits the budgets")
    return best[1], tried


@dataclass
class Row:
    name: str
    arch: str
    top1: float
    peak_sram: int
    ram: int
    flash: int
    estimated_ms: float
    emulated_ms: float | None
    exact: tuple[int, int]
    train_seconds: float
    fits: bool


def trained_row(name: str, arch: Arch, data: dict[str, Path], args: argparse.Namespace, cache: Path) -> Row:
    """`arch` trained from scratch with the shared recipe, quantized to int8, compiled and measured. The trained
    model and the measurement are cached apart, so a change in how rows are measured does not train again."""
    key = hashlib.sha256(json.dumps([VERSION, arch.to_dict(), vars_of(args)]).encode()).hexdigest()[:12]
    record = cache / f"{name}-{key}-measured{MEASURED}.json"
    if record.is_file():
        saved = json.loads(record.read_text())
        return Row(**{**saved, "exact": tuple(saved["exact"])})
    tflite, trained = cache / f"{name}-{key}.tflite", cache / f"{name}-{key}.train.json"
    if not (tflite.is_file() and trained.is_file()):
        from tinyml.nas.data import load_labelled
        from tinyml.nas.model import build_keras
        from tinyml.nas.train import Recipe, train

        started = time.monotonic()
        train_data = load_labelled(data["train"], size=arch.resolution, seed=0)
        model = build_keras(arch, 3, 10, seed=0)
        train(model, train_data, None, Recipe(epochs=args.epochs, batch_size=64, lr=0.05, seed=0), progress=True)
        seconds = time.monotonic() - started
        keras_path = cache / f"{name}-{key}.keras"
        write_atomic(keras_path, lambda tmp: model.save(tmp))
        calib = at_resolution(data["calib"], arch.resolution)
        quantized = pipeline.quantize(keras_path, calib, QuantOptions(samples=500), progress=False)
        write_atomic(tflite, lambda tmp: tmp.write_bytes(quantized.raw))
        write_atomic(trained, lambda tmp: tmp.write_text(json.dumps({"seconds": seconds})))
    seconds = json.loads(trained.read_text())["seconds"]
    row = measured(name, arch, tflite, at_resolution(data["test"], arch.resolution), args, seconds)
    write_atomic(record, lambda tmp: tmp.write_text(json.dumps(asdict(row))))
    return row


def at_resolution(npz: Path, resolution: int) -> Path:
    """The photos of `npz` resized (bilinear) to the model's input, as floats in 0..1 (cached beside it): .npz data
    must have the input's shape, and the search's candidates may take other sizes than the photos'."""
    import numpy as np

    from tinyml.nas.data import load_labelled

    target = npz.with_name(f"{npz.stem}-r{resolution}.npz")
    if not target.is_file():
        data = load_labelled(npz, size=resolution)
        write_atomic(target, lambda tmp: np.savez(tmp, x=data.x.astype(np.float32), y=data.y.astype(np.int64)))
    return target


def vars_of(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if k in ("train_per_class", "epochs", "quick")}


def measured(name: str, arch: Arch, tflite: Path, test: Path, args: argparse.Namespace, seconds: float) -> Row:
    """Top-1 through the compiled C on the host, the first photos against TFLite Micro, the report's memory (of the
    built image) and latency estimate on the board, and the latency `tinyml bench` measures on the emulated board."""
    import numpy as np

    from tinyml.measure.eval import encode

    host = pipeline.compile_model(tflite, "host", pipeline.CompileOptions(progress=False))
    top1 = pipeline.evaluate(host, test, progress=False).accuracy.rate
    with np.load(test) as t:
        check = t["x"][: args.check]
    inputs = [encode(host.graph.inputs[0], x) for x in check]
    ours, theirs = pipeline.run(host, inputs), pipeline.tflm_expected(host, inputs)
    exact = (sum(a == b for a, b in zip(ours, theirs, strict=True)), len(inputs))
    within = pipeline.CompileOptions(plan=PlanOptions(sram_budget=BUDGETS.sram), progress=False)
    on_board = pipeline.compile_model(tflite, BOARD, within)
    pipeline.build(on_board)  # the report then reads code and RAM from the built image, not an estimate
    report = pipeline.report(on_board)
    ram = report["ram"]["total_bytes"]
    flash = report["flash"]["total_bytes"]
    bench = subprocess.run(
        [
            sys.executable,
            "-m",
            "tinyml",
            "bench",
            str(tflite),
            "--board",
            BOARD,
            "--sram-budget",
            str(BUDGETS.sram),
            "--emulate",
            "--runs",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    emulated = None
    if bench.returncode == 0:
        b = json.loads(bench.stdout)
        emulated = b["instructions"]["median"] * 1000 / b["estimate"]["clock_hz"]
    else:
        print(f"{name}: emulated bench failed: {bench.stderr.strip()}", file=sys.stderr)
    fits = (BUDGETS.sram is None or ram <= BUDGETS.sram) and (BUDGETS.flash is None or flash <= BUDGETS.flash)
    return Row(
        name,
        arch.describe(),
        top1,
        report["sram"]["peak_bytes"],
        ram,
        flash,
        report["latency"]["ms"],
        emulated,
        exact,
        seconds,
        fits,
    )


class StageClock:
    """The search's stages timed from what it says as each one ends (its log has no clocks)."""

    MARKS = (
        ("chosen:", "stage 1"),
        ("supernet:", "supernet"),
        ("evolution:", "evolution"),
        ("rank check", "rank check"),
    )

    def __init__(self) -> None:
        self.start = self.last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def say(self, text: str) -> None:
        print(text)
        for mark, stage in self.MARKS:
            if mark in text and stage not in self.seconds:
                now = time.monotonic()
                self.seconds[stage] = now - self.last
                self.last = now

    def finish(self) -> None:
        self.seconds["finalists"] = time.monotonic() - self.last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", type=Path, default=cifar_dir(), help="the CIFAR-10 JPEG tars (train.tar, test.tar)")
    parser.add_argument("--train-per-class", type=int, default=1000, help="training photos per class (of 5,000)")
    parser.add_argument("--test", type=int, default=2000, help="test photos, the same number per class")
    parser.add_argument("--epochs", type=int, default=15, help="epochs for the searched model and both baselines")
    parser.add_argument("--check", type=int, default=20, help="photos per model compared with TFLite Micro")
    parser.add_argument("--quick", action="store_true", help="toy sizes: check that every step runs")
    args = parser.parse_args()
    if not (args.cifar / "train.tar").is_file() or not (args.cifar / "test.tar").is_file():
        raise SystemExit(f"no CIFAR-10 train.tar and test.tar in {args.cifar}: pass --cifar DIR or set TINYML_CIFAR10")
    if args.quick:
        args.train_per_class, args.test, args.epochs, args.check = 40, 200, 1, 4
    cache = cache_root() / "benchmarks" / "search"
    cache.mkdir(parents=True, exist_ok=True)
    everything = time.monotonic()
    times: dict[str, float] = {}

    started = time.monotonic()
    data = {
        "train": photos(args.cifar / "train.tar", args.train_per_class, cache / f"train-{args.train_per_class}.npz"),
        "test": photos(args.cifar / "test.tar", args.test // 10, cache / f"test-{args.test // 10}.npz"),
        "calib": photos(args.cifar / "train.tar", 50, cache / "calib-50.npz"),
    }
    times["data"] = time.monotonic() - started

    # sized for 90 minutes on 2 cores: the supernet sees the training photos twice (four sub-networks a batch),
    # and --budget-hours stops evolution and the rank check early should a slower machine need it
    options = SearchOptions(
        seed=0,
        test_fraction=0.1,
        val_fraction=0.1,
        supernet_epochs=2,
        population=16,
        generations=5,
        rank_check=4,
        rank_epochs=2,
        finalists=2,
        finalist_epochs=5,
        qat_epochs=1,
        test_samples=1000,
        budget_hours=1.0,
    )
    if args.quick:
        options = replace(
            options,
            stage1_samples=4,
            supernet_epochs=1,
            population=4,
            generations=1,
            parents=2,
            rank_check=3,
            rank_epochs=1,
            finalists=1,
            finalist_epochs=1,
            qat_epochs=0,
            test_samples=40,
        )
    out = cache / f"search-{hashlib.sha256(json.dumps(vars_of(args)).encode()).hexdigest()[:12]}"
    clock = StageClock()
    result = run_search(data["train"], BOARD, BUDGETS, out, options, progress=True, say=clock.say)
    clock.finish()
    times.update({f"search: {k}": v for k, v in clock.seconds.items()})
    found = Arch.from_dict(result.best.arch)

    started = time.monotonic()
    mobilenet, tried = fitting_mobilenet_v2()
    times["sizing MobileNetV2"] = time.monotonic() - started
    fitting = [t for t in tried if t.endswith("fits")]
    print(
        f"MobileNetV2: {len(tried)} (width, resolution) pairs tried; the largest resolution that fits at each width: "
        + "; ".join(fitting)
    )
    rows = []
    for name, arch in (("searched", found), ("ResNet-8", resnet8()), ("MobileNetV2", mobilenet)):
        started = time.monotonic()
        rows.append(trained_row(name, arch, data, args, cache))
        times[f"train + measure {name}"] = time.monotonic() - started

    print(
        f"\nOn {BOARD}, budgets {BUDGETS.sram:,} B SRAM (RAM on the board) and {BUDGETS.flash:,} B flash; "
        f"{args.train_per_class * 10:,} training photos, {args.epochs} epochs each, top-1 on {args.test:,} test photos "
        "through the compiled int8 C on the host"
    )
    print(f"{'model':<12} {'top-1':>6} {'peak':>8} {'RAM':>8} {'flash':>9} {'est. ms':>8} {'emul. ms':>9} {'exact':>6}")
    for r in rows:
        emulated = f"{r.emulated_ms:.1f}" if r.emulated_ms is not None else "-"
        print(
            f"{r.name:<12} {100 * r.top1:>5.1f}% {r.peak_sram:>8,} {r.ram:>8,} {r.flash:>9,} {r.estimated_ms:>8.1f} "
            f"{emulated:>9} {r.exact[0]:>3}/{r.exact[1]:<2}  {r.arch}"
        )
    print(
        f"search's own finalist (fine-tuned from the supernet, {result.best.quantization}): "
        f"{100 * result.best.accuracy:.1f}% on its held-out split; Spearman rho of the estimates: "
        f"{f'{result.spearman:.2f}' if result.spearman is not None else '-'}"
    )
    total = time.monotonic() - everything
    print("\nTime (this run; cached steps take none)")
    for stage, seconds in times.items():
        print(f"  {stage:<28} {seconds / 60:6.1f} min  {100 * seconds / (90 * 60):5.1f}% of 90 min")
    print(f"  {'total':<28} {total / 60:6.1f} min")

    searched, others = rows[0], rows[1:]
    ok = searched.fits and all(searched.top1 > r.top1 for r in others)
    print(
        f"\nRequired: searched model more accurate than ResNet-8 and MobileNetV2 within the budgets: "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
