"""The planning stage: each op's kernel, a patch stage where it pays, and one static arena for everything.

`plan_model` is the entry point; `PlanOptions` says what it may do to save SRAM.
"""

from tinyml.plan.allocators import ALIGNMENT, align
from tinyml.plan.memory import MemoryPlan, check_plan, plan_memory
from tinyml.plan.options import PREFERENCES, PlanOptions
from tinyml.plan.patches import PatchConfig
from tinyml.plan.planner import Planned, plan_model

__all__ = [
    "ALIGNMENT",
    "PREFERENCES",
    "MemoryPlan",
    "PatchConfig",
    "PlanOptions",
    "Planned",
    "align",
    "check_plan",
    "plan_memory",
    "plan_model",
]
