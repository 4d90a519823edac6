"""Instructions per inference, portable kernels against the CMSIS-NN backend, on each emulated core.

QEMU `-icount shift=0` makes the counts deterministic (SysTick ticks x 10^9 / clock).
Patch-based inference is switched off here: it trades recomputed MACs for SRAM,
and this compares kernels. Both backends run with `--prefer speed` (the default:
the fastest plan that fits, and the emulated boards' 4 MB hold every model, so
every op on its fastest kernel by the cost model) unless `--prefer memory` asks
for the smallest arena (slower in-place kernels where they save SRAM).
TFLite Micro at -O2 with CMSIS-NN, measured the same
way on mps2-an500, is the reference (issue #4). Needs CMSIS-NN and CMSIS_6
(`tinyml packs install`, or CMSIS_NN_ROOT and CMSIS_ROOT); without them only
the portable column is printed.

    python benchmarks/kernels_speed.py [--boards mps2-an500,mps3-an547] [--models DIR] [--prefer memory]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from tinyml.target.packs import find_cmsis

REPO = Path(__file__).resolve().parent.parent
MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8", "str_ww_ref_model"]
#: TFLite Micro -O2 + CMSIS-NN, instructions per inference on mps2-an500 (issue #4)
TFLM_CMSIS_M7 = {
    "kws_ref_model": 7.64e6,
    "vww_96_int8": 24.03e6,
    "pretrainedResnet_quant": 30.03e6,
    "ad01_int8": 0.583e6,
}


def instructions(model: Path, board: str, kernels: str, prefer: str) -> int:
    cmd = [sys.executable, "-m", "tinyml", "bench", str(model), "--board", board, "--kernels", kernels]
    cmd += ["--prefer", prefer, "--patches", "off", "--runs", "2", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"tinyml bench failed for {model.name} on {board} ({kernels}): {proc.stderr.strip()}")
    report = json.loads(proc.stdout)
    if report["matched"] != report["runs"]:
        raise SystemExit(f"{model.name} on {board} ({kernels}): outputs differ from TFLite Micro")
    return int(report["instructions"]["median"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", default="mps2-an500,mps2-an386,mps3-an547")
    default_models = os.environ.get("TINYML_MODELS", REPO.parent / "shared" / "models" / "mlperf-tiny")
    parser.add_argument("--models", type=Path, default=Path(default_models))
    parser.add_argument("--prefer", choices=["speed", "memory"], default="speed")
    args = parser.parse_args()
    cmsis, where = find_cmsis()
    if cmsis is None:
        print(f"CMSIS-NN not found ({where}): portable kernels only")
    print(f"--prefer {args.prefer}")
    head = f"{'model':<24} {'board':<12} {'portable':>12} {'CMSIS-NN':>12} {'speed-up':>9}"
    print(head + f" {'TFLM+CMSIS':>11} {'vs TFLM':>8}")
    slower = []
    for board in args.boards.split(","):
        for name in MODELS:
            model = args.models / f"{name}.tflite"
            portable = instructions(model, board, "portable", args.prefer)
            line = f"{name:<24} {board:<12} {portable:>12,}"
            if cmsis is not None:
                fast = instructions(model, board, "cmsis-nn", args.prefer)
                line += f" {fast:>12,} {portable / fast:>8.2f}x"
                ref = TFLM_CMSIS_M7.get(name) if board == "mps2-an500" else None
                if ref is not None:
                    line += f" {ref:>11,.0f} {fast / ref:>7.2f}x"
                    if fast > ref:
                        slower.append(name)
            print(line)
    if slower:
        print(f"slower than TFLite Micro with CMSIS-NN: {', '.join(slower)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
