"""Planning time per MLPerf Tiny model: the portable kernels against the CMSIS-NN backend of each core.

Planning (`tinyml.plan.memory.plan_model`: kernel choice per op, patch stage and
grid, buffer placement) runs on every `compile`, `run`, `bench` and `report`.
The CMSIS-NN backend plans longest: each op has up to three kernels, and every
candidate patch stage and grid is priced with each. Times are the median of
`--runs` plans, with the default options (`--prefer balanced`, `--patches
auto`) or the `--prefer` given. Planning needs no CMSIS files (only the Python
side of the kernels), so this runs without the packs. Exit status 1 when VWW
on the DSP backend (what `tinyml report vww_96_int8.tflite --board mps2-an500`
plans) takes 1.5 s or more (issue #10).

    python benchmarks/planner_speed.py [--models DIR] [--runs 3] [--prefer balanced]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from tinyml.frontend.tflite import load_model
from tinyml.ir.graph import Graph
from tinyml.kernels.backends import PORTABLE, Backend, CoreFeatures
from tinyml.kernels.cmsis_nn import cmsis_kernels
from tinyml.passes import optimize
from tinyml.plan import PREFERENCES, PlanOptions, plan_model

REPO = Path(__file__).resolve().parent.parent
MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8", "str_ww_ref_model"]
#: the backends by the cores they serve (CMSIS paths are only needed to build, not to plan)
BACKENDS = {
    "portable": PORTABLE,
    "CMSIS-NN M4/M7 (DSP)": Backend("cmsis-nn", cmsis_kernels(CoreFeatures(dsp=True)), None),
    "CMSIS-NN M55 (MVE)": Backend("cmsis-nn", cmsis_kernels(CoreFeatures(dsp=True, mve=True)), None),
}
#: issue #10: VWW's planning with the DSP backend, in seconds
TARGET = ("vww_96_int8", "CMSIS-NN M4/M7 (DSP)", 1.5)


def plan_seconds(graph: Graph, backend: Backend, options: PlanOptions, runs: int) -> float:
    """Median wall time of `runs` plans (the first included: the planner caches nothing between calls)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        plan_model(graph, backend, options)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_models = os.environ.get("TINYML_MODELS", REPO.parent / "shared" / "models" / "mlperf-tiny")
    parser.add_argument("--models", type=Path, default=Path(default_models))
    parser.add_argument("--runs", type=int, default=3, help="plans per model and backend (the median is shown)")
    parser.add_argument("--prefer", choices=PREFERENCES, default="balanced")
    args = parser.parse_args()
    options = PlanOptions(prefer=args.prefer)
    print(f"planning time in seconds (median of {args.runs}), --prefer {args.prefer}, --patches auto")
    print(f"{'model':<24}" + "".join(f" {name:>22}" for name in BACKENDS))
    seconds: dict[tuple[str, str], float] = {}
    for model in MODELS:
        graph = optimize(load_model(args.models / f"{model}.tflite"))
        for name, backend in BACKENDS.items():
            seconds[model, name] = plan_seconds(graph, backend, options, args.runs)
        print(f"{model:<24}" + "".join(f" {seconds[model, name]:>22.3f}" for name in BACKENDS))
    model, backend, limit = TARGET
    took = seconds[model, backend]
    verdict = "met" if took < limit else "MISSED"
    print(f"\ntarget: {model} with {backend} plans in under {limit} s: {took:.2f} s, {verdict}")
    return 0 if took < limit else 1


if __name__ == "__main__":
    raise SystemExit(main())
