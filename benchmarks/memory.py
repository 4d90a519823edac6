"""Peak SRAM per MLPerf Tiny model: TFLite Micro's arena against tinyml's plans, technique by technique.

All figures are all-inclusive (model input and output resident in the arena).
Columns: TFLM's planned arena (its interpreter's allocation report); the
layer-by-layer live-set bound (the busiest op's live bytes, no tricks); tinyml's
peak with only the planners, then adding in-place ops, then patches instead,
then everything; and the MAC overhead patches cost. Exit status 1 if any
model needs more than TFLM or misses the issue's targets.

    python benchmarks/memory.py [--models DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tinyml.frontend import load_model
from tinyml.optimize import optimize
from tinyml.planner import PlanOptions, plan_memory, plan_model
from tinyml.reference import tflm_arena_bytes

REPO = Path(__file__).resolve().parent.parent
MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8", "str_ww_ref_model"]
#: the targets from issue #5 (bytes, all-inclusive)
TARGETS = {"vww_96_int8": 48_000, "pretrainedResnet_quant": 36_000, "kws_ref_model": 12_000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_models = os.environ.get("TINYML_MODELS", REPO.parent / "shared" / "models" / "mlperf-tiny")
    parser.add_argument("--models", type=Path, default=Path(default_models))
    args = parser.parse_args()
    head = f"{'model':<24} {'TFLM':>8} {'live-set':>9} {'planners':>9} {'+in-place':>10} {'+patches':>9} {'all':>8}"
    print(head + f" {'patch stage':<32} {'MACs':>6}")
    failed = []
    for name in MODELS:
        path = args.models / f"{name}.tflite"
        graph = optimize(load_model(path))
        plain = plan_memory(graph, options=PlanOptions(in_place=False))
        in_place = plan_memory(graph)
        patches = plan_model(graph, options=PlanOptions(in_place=False))
        full = plan_model(graph)
        tflm = tflm_arena_bytes(path)
        stage = str(full.patches) if full.patches else "-"
        print(
            f"{name:<24} {tflm:>8,} {plain.live_set_bound:>9,} {plain.peak:>9,} {in_place.peak:>10,} "
            f"{patches.plan.peak:>9,} {full.plan.peak:>8,} {stage:<32} {full.mac_overhead:>5.2f}x"
        )
        if full.plan.peak > tflm or full.plan.peak > TARGETS.get(name, tflm):
            failed.append(name)
    if failed:
        print(f"over TFLM or over target: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
