"""Planning time per MLPerf Tiny model: the portable kernels against the CMSIS-NN backend of each core.

Planning (`tinyml.plan.plan_model`: each op's kernel, patch stage and grid,
buffer placement) runs on every `compile`, `run`, `bench` and `report`. Times
are the median of `--runs` plans, for the emulated board of each backend's core
(its RAM and core decide the plan), with `--patches auto` and each `--prefer`:
`speed` (the default: the fastest plan that fits; these boards hold every model,
so no patch stage is tried) and `memory` (the smallest arena: every candidate
patch stage and grid is priced, with up to three kernels per op, in place or not).
`--sram-budget` times a budget instead of the board's RAM (a tight one makes the
default plan search patch stages too). Planning needs no CMSIS files (only the
Python side of the kernels), so this runs without the packs. Exit status 1 when
VWW on the DSP backend (what `tinyml report vww_96_int8.tflite --board
mps2-an500` plans) takes 1.5 s or more under any `--prefer` (issue #10).

    python benchmarks/planner_speed.py [--models DIR] [--runs 3] [--prefer speed] [--sram-budget BYTES]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from tinyml import pipeline
from tinyml.frontend.tflite import load_model
from tinyml.ir.graph import Graph
from tinyml.kernels.backends import PORTABLE, Backend, CoreFeatures
from tinyml.kernels.cmsis_nn import cmsis_kernels
from tinyml.passes import optimize
from tinyml.plan import PREFERENCES, PlanOptions, PlanTarget, plan_model
from tinyml.target.boards import load_board

REPO = Path(__file__).resolve().parent.parent
MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8", "str_ww_ref_model"]
#: the backends by the cores they serve, and the emulated board of that core (CMSIS paths are only needed to build)
BACKENDS = {
    "portable": (PORTABLE, "mps2-an500"),
    "CMSIS-NN M4/M7 (DSP)": (Backend("cmsis-nn", cmsis_kernels(CoreFeatures(dsp=True)), None), "mps2-an500"),
    "CMSIS-NN M55 (MVE)": (Backend("cmsis-nn", cmsis_kernels(CoreFeatures(dsp=True, mve=True)), None), "mps3-an547"),
}
#: issue #10: VWW's planning with the DSP backend, in seconds
TARGET = ("vww_96_int8", "CMSIS-NN M4/M7 (DSP)", 1.5)


def plan_seconds(graph: Graph, backend: Backend, options: PlanOptions, target: PlanTarget, runs: int) -> float:
    """Median wall time of `runs` plans (the first included: the planner caches nothing between calls)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        plan_model(graph, backend, options, target)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_models = os.environ.get("TINYML_MODELS", REPO.parent / "shared" / "models" / "mlperf-tiny")
    parser.add_argument("--models", type=Path, default=Path(default_models))
    parser.add_argument("--runs", type=int, default=3, help="plans per model and backend (the median is shown)")
    parser.add_argument("--prefer", choices=PREFERENCES, action="append", help="default: each of them")
    parser.add_argument("--sram-budget", type=int, metavar="BYTES", help="plan for this RAM instead of the board's")
    args = parser.parse_args()
    graphs = {model: optimize(load_model(args.models / f"{model}.tflite")) for model in MODELS}
    targets = {name: pipeline.plan_target(load_board(board)) for name, (_, board) in BACKENDS.items()}
    took: list[float] = []
    for prefer in args.prefer or PREFERENCES:
        options = PlanOptions(prefer=prefer, sram_budget=args.sram_budget)
        budget = f"--sram-budget {args.sram_budget}" if args.sram_budget else "the board's RAM"
        print(f"planning time in seconds (median of {args.runs}), --prefer {prefer}, --patches auto, {budget}")
        print(f"{'model':<24}" + "".join(f" {name:>22}" for name in BACKENDS))
        for model, graph in graphs.items():
            seconds = {
                name: plan_seconds(graph, backend, options, targets[name], args.runs)
                for name, (backend, _) in BACKENDS.items()
            }
            print(f"{model:<24}" + "".join(f" {seconds[name]:>22.3f}" for name in BACKENDS))
            if (model, TARGET[1]) == TARGET[:2]:
                took.append(seconds[TARGET[1]])
        print()
    model, backend, limit = TARGET
    verdict = "met" if max(took) < limit else "MISSED"
    print(f"target: {model} with {backend} plans in under {limit} s: at most {max(took):.2f} s, {verdict}")
    return 0 if max(took) < limit else 1


if __name__ == "__main__":
    raise SystemExit(main())
