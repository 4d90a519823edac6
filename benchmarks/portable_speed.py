"""Instructions per inference of tinyml's portable kernels on the emulated Cortex-M7 (mps2-an500).

QEMU runs with `-icount shift=0` (one instruction per virtual nanosecond), so
SysTick ticks times 10^9 / clock are deterministic instruction counts. The
TFLite Micro figures are the same measurement of TFLM built at -O2 with its
reference kernels (from issue #3). Prints the ratio; below 1.00 is faster.

    python benchmarks/portable_speed.py [--board mps2-an500] [--models DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: TFLM -O2, reference kernels, instructions per inference on mps2-an500
TFLM_REFERENCE = {
    "kws_ref_model": 44.2e6,
    "vww_96_int8": 103.2e6,
    "pretrainedResnet_quant": 109.4e6,
    "ad01_int8": 1.96e6,
}
STREAMING = "str_ww_ref_model"


def instructions(model: Path, board: str) -> int:
    proc = subprocess.run(
        [sys.executable, "-m", "tinyml", "bench", str(model), "--board", board, "--runs", "2", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"tinyml bench failed for {model.name}: {proc.stderr.strip()}")
    report = json.loads(proc.stdout)
    assert report["matched"] == report["runs"], "outputs differ from TFLite Micro"
    return int(report["instructions"]["median"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="mps2-an500")
    default_models = os.environ.get("TINYML_MODELS", REPO.parent / "shared" / "models" / "mlperf-tiny")
    parser.add_argument("--models", type=Path, default=Path(default_models))
    args = parser.parse_args()
    print(f"{'model':<24} {'tinyml':>14} {'TFLM ref':>14} {'ratio':>7}")
    slower = []
    for name in [*TFLM_REFERENCE, STREAMING]:
        count = instructions(args.models / f"{name}.tflite", args.board)
        ref = TFLM_REFERENCE.get(name)
        if ref is None:
            print(f"{name:<24} {count:>14,} {'-':>14} {'-':>7}")
            continue
        print(f"{name:<24} {count:>14,} {ref:>14,.0f} {count / ref:>7.2f}")
        if count > ref:
            slower.append(name)
    if slower:
        print(f"slower than TFLite Micro's reference kernels: {', '.join(slower)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
