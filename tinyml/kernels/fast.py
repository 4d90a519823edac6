"""tinyml's own int8 kernels for the hot shapes, preferred over CMSIS-NN on cores with the DSP extension.

Everything about a layer is known at compile time, and these kernels spend
that knowledge where CMSIS-NN (written for run-time parameters) cannot:

- weights are re-laid out in flash (still int8) so the inner loops are plain
  word loads feeding SXTB16 and SMLAD: output channels interleaved in pairs
  (convolutions) or fours (fully connected), rows padded to whole words;
- the bias is folded (b + input_offset * sum(w)), so no input offset is ever
  added on the device, and padding simply reads the input zero point;
- requantization is recast per channel into a rounding multiply-accumulate
  and one shift (`tm_fast_requant`), exact only under bounds on the
  accumulator that are checked here, layer by layer: a layer that fails them
  (or any other condition of a kernel) keeps CMSIS-NN;
- channels whose weights are all zero (they occur in MLPerf VWW) always
  output the same value, so they are re-encoded to produce it.

The CMSIS-NN backend of a DSP core lists them before CMSIS-NN's (`FAST_KERNELS`).
The convolutions also run in place: each reads all of an output's inputs before writing it.

Int4 weights (TFLite's INT4) have twins of the convolutions (the `*S4` classes):
the same C drivers, scratch and in-place rules, with the weights half the
flash. The KxK and 1x1 ones pack a channel pair's four weights of a group into
one word (`nibble_pairs`), which their product splits with two ANDs; the
depthwise one unpacks a channel's 9 weights as it reaches the channel.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT4, INT8, UINT2, UINT4, ElementType
from tinyml.kernels.base import Call, EmitContext, InPlace, Kernel, Unsupported, dims4
from tinyml.ops.base import Role, quant, window_of
from tinyml.ops.requant import conv_requant, fused_range

_INT32 = 1 << 31
#: |accumulator| must stay below this for tm_fast_requant's doubling to be exact
_ACC_LIMIT = 1 << 30
#: the largest |input - 0| an int8 input contributes per weight unit
_INPUT_MAG = 128
#: the activations tm_fast_conv_sb reads and writes: int8, and packed codes (tinyml.passes.subbyte)
PACKED_ACTIVATIONS = (INT8, UINT4, UINT2)


def tflm_requantize(x: int, multiplier: int, shift: int) -> int:
    """TFLM's MultiplyByQuantizedMultiplier on Python ints (int32 wrap-around included)."""
    left, right = max(shift, 0), max(-shift, 0)
    x = ((x << left) + _INT32) % (1 << 32) - _INT32
    if x == multiplier == -_INT32:
        v = _INT32 - 1
    else:
        ab = x * multiplier
        nudged = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
        v = abs(nudged) >> 31 if nudged >= 0 else -(abs(nudged) >> 31)
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if v < 0 else 0)
    return (v >> right) + (1 if (v & mask) > threshold else 0)


def recast_channel(
    bias: int, multiplier: int, shift: int, weight_abs_sum: int, output_zero_point: int
) -> tuple[int, int, int, int] | None:
    """One tm_fast_channel (bias, mult, add, shift), or None when tm_fast_requant could differ from TFLM.

    tm_fast_requant(acc) = smmlar(2 acc, mult, add - [acc < 0]) >> shift equals
    tm_requantize(acc) + zero point when shift >= 1 (TFLM's right shift), the
    doubled accumulator fits int32 and so does the sum before the shift.
    """
    if weight_abs_sum == 0:  # a constant channel: make 4r come out as r (mult 1/2, shift 1)
        r = max(-256, min(256, tflm_requantize(bias, multiplier, shift)))
        return 4 * r, 1 << 30, 1 + 2 * output_zero_point, 1
    right = -shift
    bound = abs(bias) + _INPUT_MAG * weight_abs_sum
    if right < 1 or multiplier <= 0 or bound >= _ACC_LIMIT:
        return None
    add = (1 << (right - 1)) + output_zero_point * (1 << right)
    if bound + 2 + abs(add) >= _INT32:
        return None
    return bias, multiplier, add, right


def channel_table(op: Operator, rows: np.ndarray, padded: int) -> np.ndarray | None:
    """The tm_fast_channel array (padded to `padded` entries), or None when a channel cannot be recast.

    rows: the weights as (channels, reduction), for the bounds.
    """
    r = conv_requant(op)
    abs_sums = np.abs(rows.astype(np.int64)).sum(axis=1)
    table = np.tile(np.array([0, 1 << 30, 1, 1], dtype=np.int64), (padded, 1))
    for c in range(rows.shape[0]):
        bias, mult, shift = int(r.folded_bias[c]), int(r.multipliers[c]), int(r.shifts[c])
        entry = recast_channel(bias, mult, shift, int(abs_sums[c]), r.output_offset)
        if entry is None:
            return None
        table[c] = entry
    return table.astype(np.int32)


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


def _words(rows: np.ndarray) -> np.ndarray:
    """Rows padded with zero weights to whole 4-byte groups: (channels, groups, 4)."""
    channels, k = rows.shape
    padded = np.zeros((channels, _round_up(k, 4)), dtype=np.int8)
    padded[:, :k] = rows
    return padded.reshape(channels, -1, 4)


def interleave(rows: np.ndarray, block: int) -> np.ndarray:
    """Weights as the fast kernels read them: `block` channels' words of each group side by side.

    Missing channels of the last block are zero rows.
    """
    words = _words(rows)
    channels, groups, _ = words.shape
    full = np.zeros((_round_up(channels, block), groups, 4), dtype=np.int8)
    full[:channels] = words
    return full.reshape(-1, block, groups, 4).transpose(0, 2, 1, 3).reshape(-1)


def nibble_pairs(rows: np.ndarray) -> np.ndarray:
    """Int4 weights as tm_fast_mat_mult_s4 reads them: per channel pair and group, one word whose byte i holds
    weight i of the pair's first channel in its high nibble and of the second in its low nibble. Masked, the
    two nibbles are bytes of exactly 16 * w, which the product sign-extends as it does int8 weights."""
    words = _words(rows).astype(np.int32)
    channels, groups, _ = words.shape
    full = np.zeros((_round_up(channels, 2), groups, 4), dtype=np.int32)
    full[:channels] = words
    packed = ((full[0::2] & 0xF) << 4) | (full[1::2] & 0xF)
    return packed.astype(np.uint8).view(np.int8).reshape(-1)


#: int4 reductions (padded to whole words) at most this long keep tm_fast_mat_mult_s4's sums, 16 x 8 x 128 per
#: element, within int32
S4_MAX_DEPTH = _INT32 // (16 * 8 * _INPUT_MAG) - 1


class FastKernel(Kernel):
    """Shared by the fast kernels: int8 only, a geometry `covers` allows, requantization they can recast."""

    op_types: ClassVar[tuple[str, ...]] = ()
    library = "fast"
    label = "tinyml fast"
    #: output channels per block of the weight layout (and of the tm_fast_channel table)
    block: ClassVar[int] = 2
    #: the weight types the kernel takes
    weights: ClassVar[tuple[ElementType, ...]] = (INT8,)
    #: the C function it calls (its template is shared by the int8- and int4-weight kernels)
    function: ClassVar[str] = ""

    def check(self, op: Operator) -> None:
        self.require_int8(op, weights=self.weights)
        if not self.covers(op):
            raise Unsupported(f"the {self.label} {op.type} kernel does not cover this geometry")
        if self.channels(op) is None:
            raise Unsupported(f"the {self.label} {op.type} kernel cannot requantize these channels exactly")

    def covers(self, op: Operator) -> bool:
        """Whether this kernel implements the op's geometry (its numbers are checked by channels())."""
        return True

    def rows(self, op: Operator) -> np.ndarray:
        """The weights as (output channels, reduction)."""
        w = op.input(1).data
        assert w is not None
        return w.reshape(w.shape[0], -1)

    def channels(self, op: Operator) -> np.ndarray | None:
        rows = self.rows(op)
        return channel_table(op, rows, _round_up(rows.shape[0], self.block))

    def _common(self, op: Operator, ctx: EmitContext) -> dict[str, object]:
        rows = self.rows(op)
        values: dict[str, object] = {
            "act": fused_range(op),
            "input": ctx.tensor(op.input(0)),
            "output": ctx.tensor(op.outputs[0]),
            "weights": ctx.const("fast_weights", self.layout(rows), "int8_t", Role.WEIGHTS),
            "scratch": ctx.scratch,
            "scratch_size": self.scratch_bytes(op),
            "function": self.function,
        }
        if op.type != "FULLY_CONNECTED":
            table = self.channels(op)
            assert table is not None
            values["channels"] = ctx.const("fast_channels", table.reshape(-1), "int32_t")
        return values

    def layout(self, rows: np.ndarray) -> np.ndarray:
        return interleave(rows, self.block)


class _FastConvBase(FastKernel):
    op_types = ("CONV_2D",)

    def _geometry_values(self, op: Operator) -> dict[str, object]:
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        window = window_of(op)
        pad_h, pad_w = window.pad_hw
        return {
            "stride": window.stride[::-1],
            "padding": (pad_w, pad_h),
            "input_zero_point": quant(inp).zero_point,
            "input_dims": dims4(inp.shape),
            "filter_dims": dims4(w.shape),
            "output_dims": dims4(out.shape),
        }


def _plain_conv(op: Operator) -> bool:
    """No dilation, no groups: what both fast convolutions need."""
    return not window_of(op).dilated and op.input(1).shape[3] == op.input(0).shape[3]


class FastConv1x1(_FastConvBase):
    """CONV_2D 1x1, no padding, input channels a multiple of 4 -> tm_fast_conv1x1_s8."""

    function = "tm_fast_conv1x1_s8"

    def covers(self, op: Operator) -> bool:
        inp, w = op.input(0), op.input(1)
        if w.shape[1:3] != (1, 1) or not _plain_conv(op) or inp.shape[3] % 4:
            return False
        return window_of(op).pad_hw == (0, 0)

    def scratch_bytes(self, op: Operator) -> int:
        return 2 * _round_up(op.input(0).shape[3], 4) * 2

    def in_place(self, op: Operator) -> InPlace | None:
        """A pixel pair is packed into the scratch before its outputs are written. With no more output
        channels than input ones, those end below the next pair's input (strides only move that further);
        with more, the kernel walks backwards, and at stride 1 they start at or after the pair's input."""
        if op.outputs[0].shape[3] <= op.input(0).shape[3] or window_of(op).stride == (1, 1):
            return InPlace(0, self.scratch_bytes(op))
        return None

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        values = {**self._common(op, ctx), **self._geometry_values(op)}
        return Call("fast/conv1x1_s8.c.j2", values)


class FastConv(_FastConvBase):
    """Any other undilated, ungrouped CONV_2D -> tm_fast_conv_s8 (im2col straight into sign-extended columns)."""

    function = "tm_fast_conv_s8"
    #: TM_FAST_CONV_MAX_KH: kernel rows the C kernel keeps pointers for
    max_kh: ClassVar[int] = 32

    def covers(self, op: Operator) -> bool:
        return _plain_conv(op) and op.input(1).shape[1] <= self.max_kh

    def scratch_bytes(self, op: Operator) -> int:
        inp, w = op.input(0), op.input(1)
        groups = -(-(w.shape[1] * w.shape[2] * w.shape[3]) // 4)
        return 2 * groups * 8 + (groups * 4 if inp.shape[3] % 4 else 0)

    def in_place(self, op: Operator) -> InPlace | None:
        """Stride 1, shape kept, one image: row by row, saving padding.h + 1 input rows in a ring
        (tm_fast_conv_s8_in_place_get_buffer_size)."""
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        window = window_of(op)
        pad_h = window.pad_hw[0]
        if window.stride != (1, 1) or inp.shape != out.shape or inp.shape[0] != 1 or pad_h >= w.shape[1]:
            return None
        return InPlace(0, self.scratch_bytes(op) + (pad_h + 1) * inp.shape[2] * inp.shape[3])

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        values = {**self._common(op, ctx), **self._geometry_values(op)}
        if ctx.in_place:
            choice = self.in_place(op)
            assert choice is not None
            values["scratch_size"] = choice.scratch
        return Call("fast/conv_s8.c.j2", values)


class FastConvPacked(_FastConvBase):
    """An undilated, ungrouped CONV_2D with packed activations (tinyml.passes.subbyte) and int8 weights ->
    tm_fast_conv_sb: the same blocked product, between a gather that unpacks each window and a store that packs
    each pair of output pixels. int8 activations go to the kernels above."""

    def check(self, op: Operator) -> None:
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        if not (inp.type.sub_byte or out.type.sub_byte):
            raise Unsupported(f"the {self.label} packed {op.type} kernel takes packed activations only")
        for t in (inp, out):
            if t.type not in PACKED_ACTIVATIONS:
                raise Unsupported(
                    f"tensor {t.name!r} is {t.type}; the {self.label} packed {op.type} kernel "
                    "takes int8, uint4 or uint2 activations"
                )
        if w.type != INT8:
            raise Unsupported(
                f"tensor {w.name!r} is {w.type}; the {self.label} packed {op.type} kernel takes int8 weights"
            )
        if not _plain_conv(op) or w.shape[1] > FastConv.max_kh:
            raise Unsupported(f"the {self.label} packed {op.type} kernel does not cover this geometry")
        if self.channels(op) is None:
            raise Unsupported(f"the {self.label} {op.type} kernel cannot requantize these channels exactly")

    def scratch_bytes(self, op: Operator) -> int:
        """tm_fast_conv_sb_get_buffer_size: a pixel pair's cols, one int8 window, a pair of int8 outputs."""
        w = op.input(1)
        groups = -(-(w.shape[1] * w.shape[2] * w.shape[3]) // 4)
        return 2 * groups * 8 + groups * 4 + 2 * op.outputs[0].shape[3]

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        values = {**self._common(op, ctx), **self._geometry_values(op)}
        values.update(input_bits=op.input(0).type.bits, output_bits=op.outputs[0].type.bits)
        return Call("fast/conv_sb.c.j2", values)


class FastDepthwise3x3(FastKernel):
    """DEPTHWISE_CONV_2D 3x3, multiplier 1, equal strides 1 or 2, padding <= 1 -> tm_fast_depthwise3x3_s8."""

    op_types = ("DEPTHWISE_CONV_2D",)
    block = 1
    function = "tm_fast_depthwise3x3_s8"
    #: output pixels per channel below which the per-channel and per-row costs lose to CMSIS-NN (on the M7:
    #: 6x6 outputs win at stride 1, lose at stride 2, where the plane is four times larger)
    min_outputs: ClassVar[dict[int, int]] = {1: 16, 2: 64}

    def covers(self, op: Operator) -> bool:
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        window = window_of(op)
        stride = window.stride
        if w.shape[1:3] != (3, 3) or inp.shape[3] != out.shape[3] or window.dilated or stride not in ((1, 1), (2, 2)):
            return False
        pad_h, pad_w = window.pad_hw
        return pad_h <= 1 and pad_w <= 1 and out.shape[1] * out.shape[2] >= self.min_outputs[stride[0]]

    def rows(self, op: Operator) -> np.ndarray:
        w = op.input(1).data
        assert w is not None
        return w.reshape(9, -1).T

    def layout(self, rows: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(rows, dtype=np.int8).reshape(-1)

    def _plane(self, op: Operator) -> tuple[int, int, int]:
        """(rows, width, output row length) of the padded int16 plane: tm_fast_depthwise3x3_s8's view_of.

        Images narrower than tall are walked transposed.
        """
        inp, out = op.input(0), op.outputs[0]
        window = window_of(op)
        pad_h, pad_w = window.pad_hw
        (in_h, in_w), (out_h, out_w) = inp.shape[1:3], out.shape[1:3]
        if in_w < in_h:
            in_h, in_w, out_h, out_w, pad_h, pad_w = in_w, in_h, out_w, out_h, pad_w, pad_h
        s = window.stride[1]
        need_w = _round_up(out_w, 2) + 2 if s == 1 else 2 * out_w + 2
        need_h = (out_h - 1) * s + 3
        return max(need_h, in_h + pad_h), _round_up(max(need_w, in_w + pad_w), 2), out_w

    def scratch_bytes(self, op: Operator) -> int:
        rows, width, out_w = self._plane(op)
        return rows * width * 2 + -(-out_w // 2) * 8

    def in_place(self, op: Operator) -> InPlace | None:
        """Channel c is copied whole into the plane before any output is written, and outputs of
        channel c land only on channel-c bytes: in place at any stride, for free."""
        return InPlace(0, self.scratch_bytes(op))

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, out = op.input(0), op.outputs[0]
        window = window_of(op)
        pad_h, pad_w = window.pad_hw
        values = {
            **self._common(op, ctx),
            "stride": window.stride[::-1],
            "padding": (pad_w, pad_h),
            "input_zero_point": quant(inp).zero_point,
            "input_dims": dims4(inp.shape),
            "output_dims": dims4(out.shape),
        }
        return Call("fast/depthwise3x3_s8.c.j2", values)


class _FastConvS4(_FastConvBase):
    """What the int4-weight convolutions add to their int8 twins: int4 weights in nibble pairs, and reductions
    short enough for the 16x sums (a 3x3 convolution may have 14,563 input channels)."""

    weights = (INT4,)
    label = "tinyml fast s4"

    def covers(self, op: Operator) -> bool:
        return super().covers(op) and _round_up(self.rows(op).shape[1], 4) <= S4_MAX_DEPTH

    def layout(self, rows: np.ndarray) -> np.ndarray:
        return nibble_pairs(rows)


class FastConv1x1S4(_FastConvS4, FastConv1x1):
    """FastConv1x1 with int4 weights -> tm_fast_conv1x1_s4."""

    function = "tm_fast_conv1x1_s4"


class FastConvS4(_FastConvS4, FastConv):
    """FastConv with int4 weights -> tm_fast_conv_s4."""

    function = "tm_fast_conv_s4"


class FastDepthwise3x3S4(FastDepthwise3x3):
    """FastDepthwise3x3 with int4 weights -> tm_fast_depthwise3x3_s4: flash holds them packed in the int8
    kernel's order, and each channel's 9 are unpacked as it starts; the scratch is the int8 kernel's."""

    weights = (INT4,)
    label = "tinyml fast s4"
    function = "tm_fast_depthwise3x3_s4"
    #: no floor: CMSIS-NN's s4 depthwise kernel has no 3x3 specialisation, so the cost model decides (MobileNetV2
    #: w4a8's 8x8x96 -> 4x4x96 at stride 2 on the emulated M7: 153,760 instructions here, 213,080 on CMSIS-NN)
    min_outputs: ClassVar[dict[int, int]] = {1: 1, 2: 1}

    def layout(self, rows: np.ndarray) -> np.ndarray:
        return INT4.pack(np.ascontiguousarray(rows)).view(np.int8)


class FastFullyConnected(FastKernel):
    """FULLY_CONNECTED, int8 with weight zero point 0 -> tm_fast_fully_connected_s8 (rows in fours)."""

    op_types = ("FULLY_CONNECTED",)
    block = 4

    def check(self, op: Operator) -> None:
        if any(z != 0 for z in quant(op.input(1)).zero_points):
            raise Unsupported(f"the {self.label} {op.type} kernel takes weights with zero point 0 only")
        super().check(op)

    #: fewer output units than this lose to CMSIS-NN (expanding the input costs more than it saves)
    min_units: ClassVar[int] = 4

    def covers(self, op: Operator) -> bool:
        return op.input(1).shape[0] >= self.min_units

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        units, depth = op.input(1).shape
        values = self._common(op, ctx)
        table = self.channels(op)
        assert table is not None
        # the bias on its own; one requantization for all rows when they share it (per-tensor weights)
        values["bias"] = ctx.const("fast_bias", np.ascontiguousarray(table[:, 0]), "int32_t", Role.BIAS)
        quant = table[:units, 1:]
        shared = bool((quant == quant[0]).all())
        values["channels"] = ctx.const("fast_channels", (table[:1] if shared else table).reshape(-1), "int32_t")
        values["channel_step"] = 0 if shared else 1
        values["input_dims"] = (op.input(0).num_elements // depth, 1, 1, depth)
        values["units"] = units
        return Call("fast/fully_connected_s8.c.j2", values)


#: fast kernels by op type, most specialised first
FAST_KERNELS: dict[str, tuple[FastKernel, ...]] = {
    "CONV_2D": (FastConv1x1(), FastConv(), FastConvPacked(), FastConv1x1S4(), FastConvS4()),
    "DEPTHWISE_CONV_2D": (FastDepthwise3x3(), FastDepthwise3x3S4()),
    "FULLY_CONNECTED": (FastFullyConnected(),),
}
