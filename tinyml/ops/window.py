"""The sliding window of convolutions and pools, resolved once from TFLite's padding modes.

TFLite stores SAME or VALID and lets every kernel work the padding out from
the shapes; tinyml also has EXPLICIT padding (for fused dilated convolutions
and for patches, whose borders differ from the image's). A `Window` holds the
result: kernel, stride, dilation and the padding on all four sides. Every
consumer (definitions and their references, the portable, fast and CMSIS-NN
kernels, patch planning) reads this one object, so none re-derives padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: TFLite's padding modes, and tinyml's explicit one
SAME, VALID, EXPLICIT = "SAME", "VALID", "EXPLICIT"
PADDINGS = (SAME, VALID, EXPLICIT)

#: (height, width) pairs
HW = tuple[int, int]


@dataclass(frozen=True)
class Region:
    """Rows [y0, y1) and columns [x0, x1) of a feature map."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def rows(self) -> int:
        return self.y1 - self.y0

    @property
    def cols(self) -> int:
        return self.x1 - self.x0

    def union(self, other: Region) -> Region:
        return Region(min(self.y0, other.y0), max(self.y1, other.y1), min(self.x0, other.x0), max(self.x1, other.x1))


def out_size(padding: str, in_size: int, span: int, stride: int) -> int:
    """TFLite's ComputeOutSize for SAME and VALID (`span` is the dilated kernel extent)."""
    if padding == SAME:
        return (in_size + stride - 1) // stride
    return (in_size + stride - span) // stride


@dataclass(frozen=True)
class Window:
    """A window sliding over an NHWC feature map: everything a windowed op's geometry needs.

    Padding is explicit on every side; as TFLite pads SAME, the odd pixel goes
    after (bottom, right).
    """

    kernel: HW
    stride: HW
    dilation: HW
    #: (top, left, bottom, right)
    padding: tuple[int, int, int, int]

    @classmethod
    def resolve(
        cls,
        padding: str,
        in_hw: HW,
        kernel: HW,
        stride: HW,
        dilation: HW = (1, 1),
        explicit: tuple[int, int, int, int] | None = None,
    ) -> Window:
        """The window of an op with this padding mode on an input of `in_hw` (TFLM's ComputePaddingHeightWidth):
        SAME pads so that the output has ceil(in / stride) pixels, the odd one after; VALID does not pad;
        EXPLICIT takes `explicit` (top, left, bottom, right) as is.
        """
        if padding == EXPLICIT:
            if explicit is None:
                raise ValueError("EXPLICIT padding without its values")
            return cls(kernel, stride, dilation, explicit)
        if padding == VALID:
            return cls(kernel, stride, dilation, (0, 0, 0, 0))
        pads = []
        for i in range(2):
            span = (kernel[i] - 1) * dilation[i] + 1
            out = out_size(padding, in_hw[i], span, stride[i])
            total = max(0, (out - 1) * stride[i] + span - in_hw[i])
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return cls(kernel, stride, dilation, (top, left, bottom, right))

    @property
    def span(self) -> HW:
        """The dilated kernel's extent: how many input rows and columns one window covers."""
        return (self.kernel[0] - 1) * self.dilation[0] + 1, (self.kernel[1] - 1) * self.dilation[1] + 1

    @property
    def pad_hw(self) -> HW:
        """The leading padding (top, left): all a kernel needs besides the output size."""
        return self.padding[0], self.padding[1]

    @property
    def unit(self) -> bool:
        """Stride 1 and no dilation in both directions."""
        return self.stride == (1, 1) and self.dilation == (1, 1)

    @property
    def dilated(self) -> bool:
        return self.dilation != (1, 1)

    def out_hw(self, in_hw: HW) -> HW:
        """The output size on an input of `in_hw`: every window position within the padded input."""
        top, left, bottom, right = self.padding
        span_h, span_w = self.span
        return (
            (in_hw[0] + top + bottom - span_h) // self.stride[0] + 1,
            (in_hw[1] + left + right - span_w) // self.stride[1] + 1,
        )

    def receptive_field(self, out: Region, in_hw: HW) -> Region:
        """The input region computing `out` reads, clipped to the input (the padding is not stored).

        Patch planning asks this for every op of every tile of every candidate grid: plain arithmetic on the
        fields, no properties."""
        (kh, kw), (sh, sw), (dh, dw), (top, left, _, _) = self.kernel, self.stride, self.dilation, self.padding
        return Region(
            max(0, out.y0 * sh - top),
            min(in_hw[0], (out.y1 - 1) * sh - top + (kh - 1) * dh + 1),
            max(0, out.x0 * sw - left),
            min(in_hw[1], (out.x1 - 1) * sw - left + (kw - 1) * dw + 1),
        )

    def explicit_for(self, out: Region, read: Region) -> tuple[int, int, int, int]:
        """The explicit padding that makes this window compute `out` from the input region `read` alone
        (its receptive field): zero inside the image, the image's own padding at its borders."""
        (sh, sw), (span_h, span_w), (top, left) = self.stride, self.span, self.pad_hw
        pad_top = top + read.y0 - out.y0 * sh
        pad_left = left + read.x0 - out.x0 * sw
        pad_bottom = (out.rows - 1) * sh + span_h - pad_top - read.rows
        pad_right = (out.cols - 1) * sw + span_w - pad_left - read.cols
        return pad_top, pad_left, pad_bottom, pad_right

    def views(self, x: np.ndarray, out_hw: HW, fill: int | float) -> np.ndarray:
        """A (n, out_h, out_w, c, kh, kw) view of an NHWC array's windows; taps outside the input read `fill`."""
        if min(self.padding) < 0:
            raise ValueError(f"negative padding {self.padding}")
        top, left, _, _ = self.padding
        (sh, sw), (dh, dw), (span_h, span_w), (oh, ow) = self.stride, self.dilation, self.span, out_hw
        _, h, w, _ = x.shape
        bottom = max(0, (oh - 1) * sh + span_h - top - h)
        right = max(0, (ow - 1) * sw + span_w - left - w)
        padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
        view = sliding_window_view(padded, (span_h, span_w), axis=(1, 2))
        return view[:, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, :, ::dh, ::dw]

    def taps(self, in_hw: HW, out_hw: HW) -> tuple[np.ndarray, np.ndarray]:
        """How many of each window's kernel rows, and of its kernel columns, fall inside the input, per output
        row and per output column (undilated windows: pools average over the taps that exist)."""
        counts = []
        for i in range(2):
            start = np.arange(out_hw[i]) * self.stride[i] - self.padding[i]
            counts.append(np.minimum(self.kernel[i], in_hw[i] - start) - np.maximum(0, -start))
        return counts[0], counts[1]
