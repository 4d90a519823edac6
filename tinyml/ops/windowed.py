"""What convolutions and pools share: window attributes, output shapes, receptive fields and patching."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinyml.ir.graph import Operator
from tinyml.ops.base import OpDef, Unsupported, require_activation
from tinyml.ops.window import EXPLICIT, HW, PADDINGS, Region, Window


@dataclass(frozen=True)
class WindowAttrs:
    """The attributes every windowed op has (TFLite's stride_h/stride_w, padding, fused activation)."""

    #: (height, width)
    stride: HW = (1, 1)
    #: SAME, VALID, or EXPLICIT (tinyml's own: fused dilated convolutions, patches)
    padding: str = "SAME"
    #: (top, left, bottom, right) with EXPLICIT padding, else None
    explicit_padding: tuple[int, int, int, int] | None = None
    activation: str = "NONE"

    @staticmethod
    def common(options: dict[str, Any]) -> dict[str, Any]:
        """The shared fields from TFLite's raw options."""
        return {
            "stride": (int(options.get("stride_h", 1)), int(options.get("stride_w", 1))),
            "padding": str(options.get("padding", "SAME")),
            "activation": str(options.get("activation", "NONE")),
        }


class WindowedOpDef(OpDef):
    """A window sliding over one NHWC image (CONV_2D, DEPTHWISE_CONV_2D, the pools)."""

    def kernel_hw(self, op: Operator) -> HW:
        """The window's height and width."""
        raise NotImplementedError

    def dilation(self, op: Operator) -> HW:
        return 1, 1

    def window(self, op: Operator) -> Window:
        a = op.attrs
        return Window.resolve(
            a.padding, op.input(0).shape[1:3], self.kernel_hw(op), a.stride, self.dilation(op), a.explicit_padding
        )

    def out_channels(self, op: Operator) -> int:
        return op.input(0).shape[3]

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        inp = op.input(0)
        oh, ow = self.window(op).out_hw(inp.shape[1:3])
        return [(inp.shape[0], oh, ow, self.out_channels(op))]

    def validate_window(self, op: Operator) -> None:
        """Attributes and shapes every windowed op needs: 4-D tensors, a known padding, a positive window."""
        a = op.attrs
        inp, out = op.input(0), op.outputs[0]
        if len(inp.shape) != 4 or len(out.shape) != 4:
            raise Unsupported("only 4-D NHWC tensors are supported")
        require_activation(a.activation)
        if a.padding not in PADDINGS or (a.padding == EXPLICIT and a.explicit_padding is None):
            raise Unsupported(f"padding {a.padding}")
        kh, kw = self.kernel_hw(op)
        (sh, sw), (dh, dw) = a.stride, self.dilation(op)
        if min(kh, kw, sh, sw, dh, dw) < 1:
            raise Unsupported(f"window {kh}x{kw} with stride {sh}x{sw} and dilation {dh}x{dw}")
        if a.explicit_padding is not None and min(a.explicit_padding) < 0:
            raise Unsupported(f"negative padding {a.explicit_padding}")

    def patchable(self, op: Operator) -> bool:
        inp = op.input(0)
        return len(inp.shape) == 4 and inp.shape[0] == 1

    def receptive_field(self, op: Operator, out_region: Region, input_index: int) -> Region:
        if input_index != 0:
            raise ValueError(f"{op.label}: input {input_index} is not a feature map")
        return self.window(op).receptive_field(out_region, op.input(0).shape[1:3])
