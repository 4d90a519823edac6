"""RESIZE_NEAREST_NEIGHBOR (tm_resize_nearest_s8) and RESIZE_BILINEAR (tm_resize_bilinear_s8), int8: the
definitions' per-row and per-column tables go to flash, the kernels look them up.

A patch's copy of a resize gets its tile's part of the tables, counted from its input patch: the patches of one
row band share their row tables, those of one column band their column tables (codegen emits equal arrays once),
so a patch stage's tables take about the flash of the whole op's."""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, register
from tinyml.ops.base import definition


def _values(op: Operator, ctx: EmitContext, tables: dict[str, np.ndarray]) -> dict[str, object]:
    inp, out = op.input(0), op.outputs[0]
    return {
        **{name: ctx.const(name, values, "int32_t") for name, values in tables.items()},
        "input_dims": inp.shape,
        "output_dims": out.shape,
        "input": ctx.tensor(inp),
        "output": ctx.tensor(out),
    }


@register
class ResizeNearest(Kernel):
    op_types = ("RESIZE_NEAREST_NEIGHBOR",)

    def check(self, op: Operator) -> None:
        self.require_int8(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        rows, cols = definition(op).tables(op)  # type: ignore[attr-defined]
        return Call("ops/resize_nearest_s8.c.j2", _values(op, ctx, {"rows": rows, "cols": cols}))


@register
class ResizeBilinear(Kernel):
    op_types = ("RESIZE_BILINEAR",)

    def check(self, op: Operator) -> None:
        self.require_int8(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        ry, rx = definition(op).tables(op)  # type: ignore[attr-defined]
        tables = {
            "row_lower": ry.lower,
            "row_upper": ry.upper,
            "row_weight": ry.weight,
            "col_lower": rx.lower,
            "col_upper": rx.upper,
            "col_weight": rx.weight,
        }
        return Call("ops/resize_bilinear_s8.c.j2", _values(op, ctx, tables))


def resize_features(op: Operator) -> dict[str, float]:
    """The resizes' loop counts: output pixels (a memcpy, or four weights) and output elements."""
    n, h, w, _ = op.outputs[0].shape
    return {"calls": 1, "pixels": n * h * w, "elements": op.outputs[0].num_elements}
