"""Peak SRAM per MLPerf Tiny model: TFLite Micro's arena against tinyml's plans, technique by technique.

All figures are all-inclusive (model input and output resident in the arena).
Columns: TFLM's planned arena (its interpreter's allocation report); the
layer-by-layer live-set bound (the busiest op's live bytes, no tricks); tinyml's
peak with only the planners, then adding in-place ops, then patches instead,
then everything (all with `--prefer memory`: the smallest arena); and the MAC
overhead patches cost. When CMSIS-NN is found, a second table plans each model
with the CMSIS-NN backend of a board's core, for each `--prefer`, with the
estimated cycles of an inference on that core: `memory` (the smallest arena) and
`speed` (the default: the fastest plan that fits; the board's RAM holds every
MLPerf Tiny model, so it is the fastest plan). Exit status 1 if any model's
smallest plan needs more than TFLM or misses the issue's targets.

    python benchmarks/memory.py [--models DIR] [--board mps2-an500]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tinyml import pipeline
from tinyml.frontend.tflite import load_model
from tinyml.ir.graph import Graph
from tinyml.kernels.backends import select_backend
from tinyml.passes import optimize
from tinyml.plan import PREFERENCES, PlanOptions, plan_memory, plan_model
from tinyml.reference.tflm import tflm_arena_bytes
from tinyml.target.boards import load_board
from tinyml.target.packs import find_cmsis

REPO = Path(__file__).resolve().parent.parent
MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8", "str_ww_ref_model"]
#: the targets from issue #5 (bytes, all-inclusive)
TARGETS = {"vww_96_int8": 48_000, "pretrainedResnet_quant": 36_000, "kws_ref_model": 12_000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_models = os.environ.get("TINYML_MODELS", REPO.parent / "shared" / "models" / "mlperf-tiny")
    parser.add_argument("--models", type=Path, default=Path(default_models))
    parser.add_argument("--board", default="mps2-an500", help="the core whose CMSIS-NN backend the second table uses")
    args = parser.parse_args()
    head = f"{'model':<24} {'TFLM':>8} {'live-set':>9} {'planners':>9} {'+in-place':>10} {'+patches':>9} {'all':>8}"
    print(head + f" {'patch stage':<32} {'MACs':>6}")
    failed = []
    models: dict[str, tuple[Graph, int]] = {}
    for name in MODELS:
        path = args.models / f"{name}.tflite"
        graph = optimize(load_model(path))
        models[name] = graph, tflm_arena_bytes(path)
        plain = plan_memory(graph, options=PlanOptions(in_place=False, prefer="memory"))
        in_place = plan_memory(graph, options=PlanOptions(prefer="memory"))
        patches = plan_model(graph, options=PlanOptions(in_place=False, prefer="memory"))
        full = plan_model(graph, options=PlanOptions(prefer="memory"))
        tflm = models[name][1]
        stage = str(full.patches) if full.patches else "-"
        print(
            f"{name:<24} {tflm:>8,} {plain.live_set_bound:>9,} {plain.peak:>9,} {in_place.peak:>10,} "
            f"{patches.plan.peak:>9,} {full.plan.peak:>8,} {stage:<32} {full.mac_overhead:>5.2f}x"
        )
        if full.plan.peak > tflm or full.plan.peak > TARGETS.get(name, tflm):
            failed.append(name)
    cmsis, where = find_cmsis()
    if cmsis is None:
        print(f"\nCMSIS-NN not found ({where}): portable kernels only")
    else:
        board = load_board(args.board)
        backend = select_backend(board, "cmsis-nn", str(cmsis.nn), str(cmsis.core))
        print(f"\nCMSIS-NN backend on {args.board}: peak and estimated cycles by --prefer")
        print(f"{'model':<24} {'TFLM':>8}" + "".join(f" {p:>9} {'cycles':>11}" for p in PREFERENCES))
        for name, (graph, tflm) in models.items():
            plans = {p: pipeline.plan(graph, board, backend, PlanOptions(prefer=p)) for p in PREFERENCES}
            row = "".join(f" {plans[p].plan.peak:>9,} {plans[p].cycles:>11,}" for p in PREFERENCES)
            print(f"{name:<24} {tflm:>8,}{row}")
            if plans["memory"].plan.peak > min(tflm, TARGETS.get(name, tflm)):
                failed.append(f"{name} (CMSIS-NN)")
    if failed:
        print(f"over TFLM or over target: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
