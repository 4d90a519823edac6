"""Code generation: the planned graph into a self-contained C project.

Python decides every number (offsets, multipliers, folded biases, dims); the
Jinja2 templates in `templates/` hold all C text. Output is deterministic: the
same model and options give byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import jinja2
import numpy as np

from tinyml import __version__
from tinyml.ir.graph import Graph, Operator, Tensor
from tinyml.ir.types import INT8
from tinyml.kernels.backends import PORTABLE, Backend
from tinyml.ops import Role, definition
from tinyml.ops.region import COPY
from tinyml.plan import ALIGNMENT, MemoryPlan
from tinyml.resources import data_dir
from tinyml.target.boards import Board
from tinyml.target.build import cmsis_library_path
from tinyml.target.firmware import board_context

#: files rendered from templates/<board kind>/ besides the model itself
BOARD_FILES = {"host": ("main.c", "Makefile"), "mcu": ("board.h", "linker.ld", "Makefile")}
#: runtime files every board image has: the bench protocol server and the board API
RUNTIME_COMMON = ("tm_board.h", "tm_bench.h", "bench.c")


#: names people see for the ops tinyml makes itself, whose types are internal and appear in no model
OWN_OP_NAMES = {COPY: "patch copy"}


def op_name(op: Operator) -> str:
    """An op's name in generated code and messages: TFLite's operator name, or what a tinyml-made op does."""
    return OWN_OP_NAMES.get(op.type, op.type)


@dataclass
class ConstArray:
    """A constant array placed in flash, and the role of the operands it holds or was derived from."""

    name: str
    ctype: str
    values: np.ndarray
    role: Role = Role.PARAM

    @property
    def nbytes(self) -> int:
        return int(self.values.size * self.values.dtype.itemsize)

    @property
    def rows(self) -> list[str]:
        flat = self.values.reshape(-1)
        per_row = 16 if self.values.dtype.itemsize == 1 else 8
        fmt = _formatter(self.values.dtype)
        return [", ".join(fmt(v) for v in flat[i : i + per_row]) for i in range(0, flat.size, per_row)]


def _formatter(dtype: np.dtype):  # type: ignore[no-untyped-def]
    if dtype.kind == "f":
        return lambda v: f"{float(v).hex()}f" if np.isfinite(v) else "0.0f"
    if dtype == np.int32:
        return lambda v: str(int(v)) if int(v) != -(1 << 31) else "INT32_MIN"
    return lambda v: str(int(v))


@dataclass
class LayerCode:
    """One op's rendered C, with what it costs in flash."""

    index: int
    op: Operator
    code: str
    consts: list[ConstArray] = field(default_factory=list)

    @property
    def const_bytes(self) -> int:
        return sum(c.nbytes for c in self.consts)

    def flash_bytes(self, role: Role) -> int:
        """Bytes of this layer's new flash arrays that hold (or were derived from) operands of `role`: what its
        kernel's `flash_bytes` counts, less the arrays an earlier layer already emitted (codegen shares them)."""
        return sum(c.nbytes for c in self.consts if c.role is role)

    @property
    def name(self) -> str:
        return op_name(self.op)


@dataclass
class ModelCode:
    """Everything codegen produced for a model, before it is written out."""

    files: dict[str, str]
    layers: list[LayerCode]
    consts: list[ConstArray]
    board: Board
    backend: Backend = PORTABLE

    @property
    def const_bytes(self) -> int:
        return sum(c.nbytes for c in self.consts)


@cache
def template_env() -> jinja2.Environment:
    """The templates' environment, made once per process: Jinja2 then compiles each template once."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["cstr"] = _c_string
    env.filters["ccomment"] = lambda text: str(text).replace("*/", "* /")
    return env


def _c_string(text: str) -> str:
    """Escape text for a C string literal."""
    return "".join(ch if ch.isprintable() and ch not in '"\\' else f"\\{ord(ch):03o}" for ch in text)


class _Emitter:
    """The EmitContext kernels see while codegen renders one op."""

    def __init__(self, plan: MemoryPlan, prefix: str) -> None:
        self.plan = plan
        self.prefix = prefix
        self.op_index = 0
        self.op: Operator | None = None
        self.layer_consts: list[ConstArray] = []
        self._const_of: dict[int, ConstArray] = {}
        self._by_content: dict[tuple[str, str, bytes], ConstArray] = {}
        self.all_consts: list[ConstArray] = []

    def tensor(self, t: Tensor) -> str:
        ctype = t.type.c_type
        if t.is_const:
            arr = self._const_of.get(id(t))
            if arr is None:
                assert t.data is not None and self.op is not None
                role = definition(self.op).role_of(self.op, t)
                arr = self._add(f"op{self.op_index}_{_c_ident(t.name)}", _flash_values(t), ctype, role)
                self._const_of[id(t)] = arr
            return arr.name
        return f"(({ctype} *){self.address(t)})"

    def address(self, t: Tensor) -> str:
        """C expression for the first byte of an activation: in the arena, or its own buffer (--io external)."""
        external = self.plan.external_buffer(t)
        if external is not None:
            return f"{self.prefix}_io{external}"
        state = self.plan.state_offset(t)
        if state is not None:
            return f"&{self.prefix}_state[{state}]"
        assert self.plan.peak > 0, f"{t.name} is placed in an empty arena"
        return f"&{self.prefix}_arena[{self.plan.offset(t)}]"

    def const(self, hint: str, values: np.ndarray, ctype: str, role: Role = Role.PARAM) -> str:
        """A flash array; identical arrays (the same layer's constants repeated per patch, say) are shared."""
        key = (ctype, values.dtype.str, values.tobytes())
        existing = self._by_content.get(key)
        if existing is not None:
            return existing.name
        arr = self._add(f"op{self.op_index}_{hint}", values, ctype, role)
        self._by_content[key] = arr
        return arr.name

    @property
    def in_place(self) -> bool:
        return self.op_index in self.plan.in_place

    @property
    def scratch(self) -> str:
        if self.op_index in self.plan.scratch:
            assert self.plan.peak > 0, f"op {self.op_index}'s scratch is placed in an empty arena"
            return f"&{self.prefix}_arena[{self.plan.scratch[self.op_index][0]}]"
        return "NULL"

    def _add(self, hint: str, values: np.ndarray, ctype: str, role: Role) -> ConstArray:
        name = f"{self.prefix}_{hint}"
        taken = {c.name for c in self.all_consts}
        n = 1
        while name in taken:
            n += 1
            name = f"{self.prefix}_{hint}_{n}"
        arr = ConstArray(name, ctype, values, role)
        self.all_consts.append(arr)
        self.layer_consts.append(arr)
        return arr


def _c_ident(name: str) -> str:
    tail = name.split("/")[-1].split(";")[0]
    ident = "".join(ch if ch.isalnum() else "_" for ch in tail).strip("_").lower()
    return ident[:32] or "t"


def _flash_values(t: Tensor) -> np.ndarray:
    """A constant as flash holds it: its values, or for sub-byte types the packed bytes (as int8_t/uint8_t)."""
    assert t.data is not None
    if t.type.sub_byte:
        return t.type.pack(t.data).view(t.type.np_dtype)
    return np.ascontiguousarray(t.data)


def _tensor_info(t: Tensor, address: str) -> dict[str, object]:
    return {
        "name": t.name,
        "type": t.type.tm_type,
        "ctype": t.type.c_type,
        "shape": list(t.shape),
        "bytes": t.nbytes,
        "scale": t.quant.scale if t.quant else 0.0,
        "zero_point": t.quant.zero_point if t.quant else 0,
        "address": address,
    }


def _state_resets(graph: Graph, plan: MemoryPlan) -> list[dict[str, int]]:
    """What a reset writes to each variable tensor, as TFLite Micro's does: its zero point in every byte of an int8
    state, zeros otherwise (and at start up: TFLM resets the state when it allocates it)."""
    resets = []
    for t in graph.variables():
        value = t.quant.zero_point if t.type == INT8 and t.quant is not None else 0
        resets.append({"offset": plan.state_offsets[id(t)], "bytes": t.nbytes, "value": value})
    return resets


def render_model(
    graph: Graph,
    plan: MemoryPlan,
    board: Board,
    backend: Backend = PORTABLE,
    prefix: str = "model",
    *,
    layers_only: bool = False,
) -> ModelCode:
    """Render model.h/model.c and the board's application files, in memory. `layers_only` renders each layer's
    code and constants but no files (all the report reads): the model search prices thousands of candidates, and
    writing their weights out as C text would take most of its time."""
    env = template_env()
    emitter = _Emitter(plan, prefix)
    layers: list[LayerCode] = []
    for i, op in enumerate(graph.ops):
        emitter.op_index, emitter.op = i, op
        emitter.layer_consts = []
        call = plan.kernels[i].emit(op, emitter)
        code = "" if call is None else env.get_template(call.template).render(**call.values)
        layers.append(LayerCode(i, op, code, list(emitter.layer_consts)))
    if layers_only:
        return ModelCode({}, layers, emitter.all_consts, board, backend)

    ctx = {
        "prefix": prefix,
        "PREFIX": prefix.upper(),
        "model_name": graph.name,
        "model_hash": graph.source_hash,
        "version": __version__,
        # 0 when everything lives elsewhere (--io external, no scratch, no intermediates): then model.c has no arena
        "arena_size": plan.peak,
        "alignment": ALIGNMENT,
        "inputs": [_tensor_info(t, emitter.address(t)) for t in graph.inputs],
        "outputs": [_tensor_info(t, emitter.address(t)) for t in graph.outputs],
        "io_buffers": sorted(plan.external.items()),
        "state_size": plan.state_bytes,
        "state_resets": _state_resets(graph, plan),
        "layers": layers,
        "consts": emitter.all_consts,
        "board": board,
        "cmsis": backend.cmsis,
        "cmsis_lib": cmsis_library_path(backend.cmsis, board) if backend.cmsis else None,
    }
    files = {
        f"{prefix}.h": env.get_template("model.h.j2").render(**ctx),
        f"{prefix}.c": env.get_template("model.c.j2").render(**ctx),
    }
    if board.kind == "mcu":
        ctx.update(board_context(board))
    for name in BOARD_FILES[board.kind]:
        files[name] = env.get_template(f"{board.kind}/{name}.j2").render(**ctx)
    return ModelCode(files, layers, emitter.all_consts, board, backend)
