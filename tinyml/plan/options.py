"""What the planner may do to save SRAM, what it aims for, and what it must know of the board."""

from __future__ import annotations

from dataclasses import dataclass

from tinyml.plan.patches import PatchConfig

#: --prefer: what the planner aims for (see PlanOptions.prefer)
PREFERENCES = ("speed", "memory")


@dataclass(frozen=True)
class PlanOptions:
    """Memory-saving techniques the planner may use, and what it aims for."""

    #: let ops whose kernels allow it write their output over an input that dies there
    in_place: bool = True
    #: keep the model's inputs and outputs in their own buffers, outside the arena figure
    io_external: bool = False
    #: patch-based inference: "auto" (a stage and grid where they are needed: see `prefer`), "off", or a PatchConfig
    patches: PatchConfig | str = "auto"
    #: "auto" only considers patch stages whose recomputed halos cost at most this factor of the MACs
    max_mac_overhead: float = 1.2
    #: "speed": the fastest plan (by the cost model's cycles on the target's core) that fits the SRAM limit; memory is
    #: saved (slower in-place kernels, patches) only where the fastest plan does not fit, and when nothing fits the
    #: plan is the smallest. "memory": the smallest arena, then the fastest kernels that keep it.
    prefer: str = "speed"
    #: --sram-budget: the RAM the whole image may use (arena, I/O buffers, stack, runtime), instead of the board's
    sram_budget: int | None = None

    def __post_init__(self) -> None:
        if self.prefer not in PREFERENCES:
            raise ValueError(f"prefer must be one of {PREFERENCES}, not {self.prefer!r}")


@dataclass(frozen=True)
class PlanTarget:
    """What the planner must know of the board: the core its kernels are priced on, and the RAM a plan must fit.

    The default is the host: cycles estimated as on the Cortex-M7 (a relative measure), and no RAM limit.
    """

    #: the core kernels are priced on (`tinyml.kernels.costs.core_name`)
    core: str = "host"
    #: the board's RAM; None: no limit (unless PlanOptions.sram_budget gives one)
    ram_bytes: int | None = None
    #: RAM the image takes besides the arena and external I/O buffers: the stack and the runtime's statics
    reserved_bytes: int = 0
    #: and per generated op (the runtime keeps a cycle count per layer it times)
    reserved_per_op: int = 0

    def limit(self, options: PlanOptions) -> int | None:
        """The RAM a plan must fit: --sram-budget, else the board's RAM; None when there is no limit."""
        return options.sram_budget if options.sram_budget is not None else self.ram_bytes

    def ram_bytes_of(self, arena: int, external: int, n_ops: int) -> int:
        """RAM the image needs with an arena of `arena` bytes, `external` bytes of I/O buffers and `n_ops` ops."""
        return arena + external + self.reserved_bytes + self.reserved_per_op * n_ops
