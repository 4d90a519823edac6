"""What the planner may do to save SRAM, and how it trades kernel speed for it."""

from __future__ import annotations

from dataclasses import dataclass

from tinyml.plan.patches import PatchConfig

#: --prefer: how the planner trades kernel speed for SRAM (see PlanOptions.prefer)
PREFERENCES = ("balanced", "memory", "speed")


@dataclass(frozen=True)
class PlanOptions:
    """Memory-saving techniques the planner may use."""

    #: let ops whose kernels allow it write their output over an input that dies there
    in_place: bool = True
    #: keep the model's inputs and outputs in their own buffers, outside the arena figure
    io_external: bool = False
    #: patch-based inference: "auto" (the stage and grid that lower the peak most), "off", or a PatchConfig
    patches: PatchConfig | str = "auto"
    #: "auto" only considers patch stages whose recomputed halos cost at most this factor of the MACs
    max_mac_overhead: float = 1.2
    #: "balanced": the fastest kernels within BALANCED_SLACK of the smallest arena; "memory": the smallest
    #: arena, then the fastest kernels that keep it; "speed": the fastest kernels
    prefer: str = "balanced"

    def __post_init__(self) -> None:
        if self.prefer not in PREFERENCES:
            raise ValueError(f"prefer must be one of {PREFERENCES}, not {self.prefer!r}")
