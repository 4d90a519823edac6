"""TINYML_COPY_REGION (patch-based inference's gathers and scatters): tm_copy_region_s8, tm_copy_region_s16 for
int16 (16x8) feature maps, and tm_copy_region_sb for packed tensors (tinyml.passes.subbyte), whose patches stay
packed."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT16
from tinyml.kernels.base import Call, EmitContext, Kernel, Unsupported, register
from tinyml.ops.region import COPY


@register
class CopyRegion(Kernel):
    op_types = (COPY,)

    def check(self, op: Operator) -> None:
        src, dst = op.input(0), op.outputs[0]
        if src.type != dst.type or (src.type.bits > 8 and src.type != INT16):
            raise Unsupported(
                f"a region copy from {src.type} to {dst.type}; the portable kernel copies one int16, 8-, 4- or "
                "2-bit type"
            )

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        src, dst = op.input(0), op.outputs[0]
        a = op.attrs
        template = (
            "copy_region_sb" if src.type.sub_byte else "copy_region_s16" if src.type == INT16 else "copy_region_s8"
        )
        return Call(
            f"ops/{template}.c.j2",
            {
                "bits": src.type.bits,
                "src_y": a.src[0],
                "src_x": a.src[1],
                "dst_y": a.dst[0],
                "dst_x": a.dst[1],
                "rows": a.size[0],
                "cols": a.size[1],
                "src_dims": src.shape,
                "dst_dims": dst.shape,
                "src": ctx.tensor(src),
                "dst": ctx.tensor(dst),
            },
        )
