"""TINYML_COPY_REGION: an internal op (not TFLite's) that moves a rectangle of pixels between NHWC tensors.

Patch-based inference uses it to gather a patch's input from a larger map and
to scatter a patch's output into the full feature map.
"""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, register

COPY = "TINYML_COPY_REGION"


@register
class CopyRegion(Kernel):
    op_types = (COPY,)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        src, dst = op.input(0), op.outputs[0]
        return Call(
            "ops/copy_region_s8.c.j2",
            {
                "src_y": op.attrs["src"][0],
                "src_x": op.attrs["src"][1],
                "dst_y": op.attrs["dst"][0],
                "dst_x": op.attrs["dst"][1],
                "rows": op.attrs["size"][0],
                "cols": op.attrs["size"][1],
                "src_dims": src.shape,
                "dst_dims": dst.shape,
                "src": ctx.tensor(src),
                "dst": ctx.tensor(dst),
            },
        )
