"""The planning stage: each op's kernel, a patch stage where one is needed, and one static arena for everything.

`plan_model` is the entry point; `PlanOptions` says what it may do to save SRAM and what it aims for, and
`PlanTarget` what it must know of the board (the core kernels are priced on, the RAM a plan must fit).
"""

from tinyml.plan.allocators import ALIGNMENT, align
from tinyml.plan.memory import MemoryPlan, check_plan
from tinyml.plan.options import PREFERENCES, PlanOptions, PlanTarget
from tinyml.plan.patches import PatchConfig
from tinyml.plan.planner import Planned, plan_memory, plan_model

__all__ = [
    "ALIGNMENT",
    "PREFERENCES",
    "MemoryPlan",
    "PatchConfig",
    "PlanOptions",
    "PlanTarget",
    "Planned",
    "align",
    "check_plan",
    "plan_memory",
    "plan_model",
]
