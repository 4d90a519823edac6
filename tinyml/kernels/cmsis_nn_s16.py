"""CMSIS-NN's 16x8 kernels (int16 activations, int8 weights, int64 biases): the _s16 functions, for the ops tinyml
runs in 16x8 on the portable tm_*_s16 kernels. Each class refuses int8 ops (the _s8 classes in `cmsis_nn` take
those) and any 16x8 variant whose output would differ from TFLite Micro's reference kernels, which then runs on
the portable kernel.

CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED accumulate in int32 before widening to int64 (conv over its whole
window on the plain and DSP paths, fully connected over its first MAX_COL_COUNT columns, depthwise over the
window in its fast kernel), where TFLM accumulates in int64; and they requantize with arm_nn_requantize_s64,
which truncates to int32 one bit before rounding, where TFLM rounds in int64 first. Both agree with TFLM whenever
no int32 overflows, which the weights and bias bound at compile time: `_check_exact` refuses a layer unless, for
every output channel and any input, the int32 partial sums and the value before the final rounding fit in
int32. (Calibrated layers are far inside the bounds; only very deep reductions with large weights reach them.)
"""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, InPlace, Unsupported
from tinyml.kernels.cmsis_nn import (
    CmsisConv2D,
    CmsisDepthwiseConv2D,
    CmsisFullyConnected,
    CmsisKernel,
    ConvGeometry,
    _check_uint16,
    _CmsisPool,
    _conv_values,
    avgpool_buffer_size,
)
from tinyml.kernels.portable import int16
from tinyml.kernels.portable.activation_fixed import softmax_s16_tables
from tinyml.kernels.portable.elementwise import add_values, mul_values, same_shape_input
from tinyml.ops.base import quant
from tinyml.ops.int16 import is_16x8
from tinyml.ops.requant import add_left_shift, conv_requant
from tinyml.ops.softmax16 import exp_lut, lut_lookup, softmax_s16_params

#: MAX_COL_COUNT in arm_nnsupportfunctions.h: columns fully connected sums in int32 before widening to int64
MAX_COL_COUNT = 512
#: the largest magnitude of an int16 input (-32768)
_INPUT_MAX = 1 << 15
_INT32_MAX = (1 << 31) - 1
_INT16_MAX = (1 << 15) - 1
#: REDUCE_MULTIPLIER's limit: from here on the 16-bit multiplier is 0x7FFF
_REDUCED_LIMIT = 0x7FFF0000
#: arm_softmax_s16's longest row whose sum of exps (each at most exp(0), 32762) stays below 2^18 - 1, the first
#: sum its int32 normalisation wraps on
_SOFTMAX_S16_MAX_DEPTH = ((1 << 18) - 2) // int(lut_lookup(np.array([_INT16_MAX]), exp_lut())[0])


def _reduced(multiplier: int) -> int:
    """REDUCE_MULTIPLIER: the int32 multiplier rounded to 16 bits."""
    return (multiplier + (1 << 15)) >> 16 if multiplier < _REDUCED_LIMIT else 0x7FFF


def _check_exact(kernel: CmsisKernel, op: Operator, rows: np.ndarray, int32_cols: int) -> None:
    """Refuse a weighted 16x8 layer on which CMSIS-NN could differ from TFLM for some input.

    `rows` are the weights as (output channels, reduction); the first `int32_cols` of each row are summed in
    int32. For channel c with |w| summing to S over those columns and to T over all, an input of magnitude at
    most 2^15 keeps the int32 sum within S * 2^15 and the int64 accumulator within A = T * 2^15 + |bias|;
    arm_nn_requantize_s64 keeps (A * reduced multiplier) >> (14 - shift) in an int32, so that must fit too
    (and the shift must leave a right shift of at least one bit, as TFLM's rounding needs).
    """
    r = conv_requant(op)
    bias = op.opt_input(2)
    channels = rows.shape[0]
    biases = np.zeros(channels, np.int64) if bias is None or bias.data is None else bias.data.astype(np.int64)
    magnitudes = np.abs(rows.astype(np.int64))
    for c in range(channels):
        partial = int(magnitudes[c, :int32_cols].sum()) * _INPUT_MAX
        total = int(magnitudes[c].sum()) * _INPUT_MAX + abs(int(biases.reshape(-1)[c]))
        shift = int(r.shifts[c])
        if shift > 14:
            raise Unsupported(f"the {kernel.label} {op.type} kernel takes output shifts up to 14")
        if partial > _INT32_MAX or (total * _reduced(int(r.multipliers[c]))) >> (14 - shift) >= _INT32_MAX:
            raise Unsupported(
                f"the {kernel.label} {op.type} kernel could overflow its int32 sums on channel {c}, "
                "where TFLite Micro sums in int64"
            )


def _check_weighted(kernel: CmsisKernel, op: Operator) -> None:
    """A 16x8 op with constant int8 weights and a constant int64 bias, or none."""
    if not is_16x8(op):
        raise Unsupported(f"the {kernel.label} {op.type} kernel takes int16 activations")
    int16.check(op, kernel)
    bias = op.opt_input(2)
    if op.input(1).data is None or (bias is not None and bias.data is None):
        raise Unsupported(f"the {kernel.label} {op.type} kernel takes constant weights and bias")


def _bias_s64(op: Operator, ctx: EmitContext) -> str:
    """The int64 bias as is, or NULL: every s16 kernel checks for a missing one."""
    bias = op.opt_input(2)
    return "NULL" if bias is None else ctx.tensor(bias)


def conv_s16_buffer_size(core: str, g: ConvGeometry) -> int:
    """arm_convolve_wrapper_s16_get_buffer_size{,_dsp,_mve}: two int16 im2col columns, or on MVE four, each
    rounded up to whole vectors of eight."""
    col = g.input[3] * g.filter[2] * g.filter[1]
    if core == "mve":
        return 4 * ((col + 7) // 8) * 8 * 2
    return 2 * col * 2


def uses_fast_depthwise_s16(g: ConvGeometry) -> bool:
    """USE_FAST_DW_CONV_S16_FUNCTION: multiplier 1, no dilation, a window of fewer than 512 taps."""
    return g.ch_mult == 1 and g.dilation == (1, 1) and g.filter[1] * g.filter[2] < MAX_COL_COUNT


def depthwise_s16_buffer_size(core: str, g: ConvGeometry) -> int:
    """arm_depthwise_conv_wrapper_s16_get_buffer_size{,_dsp,_mve}: the fast kernel's int16 window copy (four
    of them plus 8 bytes of overread on MVE; none in plain C, which runs the generic kernel)."""
    if not uses_fast_depthwise_s16(g) or core == "plain":
        return 0
    window = g.input[3] * g.filter[2] * g.filter[1] * 2
    return 4 * window + 8 if core == "mve" else window


class CmsisConv2DS16(CmsisConv2D):
    """16x8 CONV_2D -> arm_convolve_wrapper_s16 (arm_convolve_s16: im2col into int16 columns, in every case).

    No grouped convolutions (it takes the input's channels as the filter's depth). On DSP cores CMSIS-NN 7.0.0
    misreads the last output channel when there is an odd number of them and a reduction of more than
    MAX_COL_COUNT values that is not a multiple of 4 (its odd-channel loop adds the leftover columns of the
    int32 part and then starts the int64 part after them), so those layers are refused there.
    """

    label = "CMSIS-NN s16"

    def check(self, op: Operator) -> None:
        _check_weighted(self, op)
        g = self.geometry(op)
        _check_uint16(self, op, g)
        if g.filter[3] != g.input[3]:
            raise Unsupported(f"the {self.label} {op.type} kernel runs no grouped convolutions")
        cols = g.filter[1] * g.filter[2] * g.filter[3]
        if self.core == "dsp" and g.output[3] % 2 and cols > MAX_COL_COUNT and cols % 4:
            raise Unsupported(
                f"the {self.label} {op.type} kernel misreads the last of an odd number of output channels "
                f"when a reduction of more than {MAX_COL_COUNT} values is not a multiple of 4"
            )
        rows = op.input(1).data.reshape(g.output[3], -1)  # type: ignore[union-attr]
        _check_exact(self, op, rows, cols)

    def buffer_size(self, op: Operator) -> int:
        return conv_s16_buffer_size(self.core, self.geometry(op))

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        g = self.geometry(op)
        values = _conv_values(op, ctx, g, self.scratch_bytes(op))
        values["bias"] = _bias_s64(op, ctx)
        return Call("cmsis/conv_s16.c.j2", values)


class CmsisDepthwiseConv2DS16(CmsisDepthwiseConv2D):
    """16x8 DEPTHWISE_CONV_2D -> arm_depthwise_conv_wrapper_s16: the fast kernel (multiplier 1, no dilation, a
    window under 512 taps; an int16 copy of the window on DSP and MVE), else the generic one, which keeps a
    window's first row and column in int16_t."""

    label = "CMSIS-NN s16"

    def check(self, op: Operator) -> None:
        _check_weighted(self, op)
        g = self.geometry(op)
        _check_uint16(self, op, g)
        if max(g.output[1] * g.stride[1], g.output[2] * g.stride[0]) > _INT16_MAX:
            raise Unsupported(f"the {self.label} {op.type} kernel keeps window positions in 16 bits")
        rows = op.input(1).data.reshape(-1, g.output[3]).T  # type: ignore[union-attr]
        _check_exact(self, op, rows, rows.shape[1])

    def buffer_size(self, op: Operator) -> int:
        return depthwise_s16_buffer_size(self.core, self.geometry(op))

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        g = self.geometry(op)
        values = _conv_values(op, ctx, g, self.scratch_bytes(op))
        values["bias"] = _bias_s64(op, ctx)
        return Call("cmsis/depthwise_conv_s16.c.j2", values)


class CmsisFullyConnectedS16(CmsisFullyConnected):
    """16x8 FULLY_CONNECTED -> arm_fully_connected_s16 with per-tensor weights (no scratch on any core).

    CMSIS-NN 7.0.0 has no per-channel s16 fully connected kernel: per-channel weights (what TensorFlow's 16x8
    converter gives Dense layers) run as the 1x1 convolution they are, on arm_convolve_wrapper_s16 (one pixel per
    batch, so its int16 im2col column is scratch). Its single pixel always takes the leftover-column path, which
    sums the whole row in int32 and has no odd-channel fault.
    """

    label = "CMSIS-NN s16"

    def check(self, op: Operator) -> None:
        _check_weighted(self, op)
        rows = op.input(1).data  # type: ignore[union-attr]
        per_channel = conv_requant(op).per_channel
        _check_exact(self, op, rows, rows.shape[1] if per_channel else min(rows.shape[1], MAX_COL_COUNT))

    def conv_geometry(self, op: Operator) -> ConvGeometry:
        """The 1x1 convolution a per-channel layer runs as: a batch of 1x1 pixels, a filter per unit."""
        g = self.geometry(op)
        return ConvGeometry((1, 1), (0, 0), (1, 1), g.input, g.filter[::-1], g.output)

    def buffer_size(self, op: Operator) -> int:
        if not conv_requant(op).per_channel:
            return 0
        return conv_s16_buffer_size(self.core, self.conv_geometry(op))

    def scratch_bytes(self, op: Operator) -> int:
        return self.buffer_size(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        g = self.geometry(op)
        r = conv_requant(op)
        values: dict[str, object] = {
            "act": r.act,
            "input_dims": g.input,
            "filter_dims": g.filter,
            "bias_dims": (1, 1, 1, g.output[3]),
            "output_dims": g.output,
            "input": ctx.tensor(op.input(0)),
            "filter": ctx.tensor(op.input(1)),
            "bias": _bias_s64(op, ctx),
            "output": ctx.tensor(op.outputs[0]),
        }
        if r.per_channel:
            conv = self.conv_geometry(op)
            values.update(
                stride=conv.stride,
                padding=conv.padding,
                dilation=conv.dilation,
                filter_dims=conv.filter,
                multiplier=ctx.const("mult", r.multipliers, "int32_t"),
                shift=ctx.const("shift", r.shifts, "int32_t"),
                scratch=ctx.scratch,
                scratch_size=self.scratch_bytes(op),
            )
            return Call("cmsis/conv_s16.c.j2", values)
        values.update(multiplier=int(r.multipliers[0]), shift=int(r.shifts[0]))
        return Call("cmsis/fully_connected_s16.c.j2", values)


def _check_binary(kernel: CmsisKernel, op: Operator) -> None:
    """16x8 ADD/MUL of equal-sized operands with zero points 0 (CMSIS-NN's s16 kernels do not broadcast, and
    ignore zero points; TFLM lets an int16 ADD have others)."""
    if not is_16x8(op):
        raise Unsupported(f"the {kernel.label} {op.type} kernel takes int16 tensors")
    int16.check(op, kernel)
    a, b, out = op.input(0), op.input(1), op.outputs[0]
    if not a.num_elements == b.num_elements == out.num_elements:
        raise Unsupported(f"the {kernel.label} {op.type} kernel does not broadcast")
    if any(quant(t).zero_point for t in (a, b, out)):
        raise Unsupported(f"the {kernel.label} {op.type} kernel takes zero points 0")


class CmsisAddS16(CmsisKernel):
    """16x8 ADD of equal-sized tensors -> arm_elementwise_add_s16 (TFLM's left shift of 15)."""

    op_types = ("ADD",)
    label = "CMSIS-NN s16"

    def check(self, op: Operator) -> None:
        _check_binary(self, op)

    def in_place(self, op: Operator) -> InPlace | None:
        """CMSIS-NN reads each pair (or vector) of both inputs before writing that part of the output."""
        return same_shape_input(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        values = {**add_values(op, ctx), "left_shift": add_left_shift(op), "size": op.outputs[0].num_elements}
        return Call("cmsis/add_s16.c.j2", values)


class CmsisMulS16(CmsisKernel):
    """16x8 MUL of equal-sized tensors -> arm_elementwise_mul_s16."""

    op_types = ("MUL",)
    label = "CMSIS-NN s16"

    def check(self, op: Operator) -> None:
        _check_binary(self, op)

    def in_place(self, op: Operator) -> InPlace | None:
        """CMSIS-NN reads each pair (or vector) of both inputs before writing that part of the output."""
        return same_shape_input(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("cmsis/mul_s16.c.j2", {**mul_values(op, ctx), "size": op.outputs[0].num_elements})


class _CmsisPoolS16(_CmsisPool):
    label = "CMSIS-NN s16"

    def check(self, op: Operator) -> None:
        if not is_16x8(op):
            raise Unsupported(f"the {self.label} {op.type} kernel takes int16 tensors")
        int16.check(op, self)


class CmsisAveragePool2DS16(_CmsisPoolS16):
    """16x8 AVERAGE_POOL_2D -> arm_avgpool_s16 (an int32 sum per channel in scratch on DSP cores).

    Its DSP code sums a window with saturating adds where TFLM's int32 sum wraps: windows of more than 65536
    values, which could reach the int32 limits, are refused."""

    op_types = ("AVERAGE_POOL_2D",)
    function = "arm_avgpool_s16"

    def check(self, op: Operator) -> None:
        super().check(op)
        g = self.geometry(op)
        if g.filter[1] * g.filter[2] > 1 << 16:
            raise Unsupported(f"the {self.label} {op.type} kernel sums at most 65536 values in a window")

    def buffer_size(self, op: Operator) -> int:
        g = self.geometry(op)
        return avgpool_buffer_size(self.core, g.output[2], g.output[3])


class CmsisMaxPool2DS16(_CmsisPoolS16):
    """16x8 MAX_POOL_2D -> arm_max_pool_s16 (no scratch on any core)."""

    op_types = ("MAX_POOL_2D",)
    function = "arm_max_pool_s16"


class CmsisSoftmaxS16(CmsisKernel):
    """SOFTMAX int16 -> int16 -> arm_softmax_s16 over rows of the last dimension, with the same two tables as the
    portable kernel (TFLM's, computed at compile time, in flash). It caches exps in the output, as TFLM does, so it
    may run in place.

    arm_softmax_s16 departs from TFLM's reference kernel in two places, so it takes rows of 2 to 8 values only
    (the rest run on the portable kernel): it does not clamp outputs, and a row of one value's probability rounds
    past 32767 and wraps negative; it normalises the sum of exps in int32 without saturating, and a sum whose 18
    leading bits are all ones (262143 first, reachable from 9 values) wraps, doubling that row's outputs. (TFLM
    built with CMSIS-NN computes the same as CMSIS-NN there.)
    """

    op_types = ("SOFTMAX",)

    def check(self, op: Operator) -> None:
        if not is_16x8(op):
            raise Unsupported(f"the {self.label} int16 SOFTMAX kernel takes an int16 input")
        int16.check(op, self)
        depth = op.input(0).shape[-1]
        if not 2 <= depth <= _SOFTMAX_S16_MAX_DEPTH:
            raise Unsupported(
                f"the {self.label} int16 SOFTMAX kernel departs from TFLite Micro on rows of {depth} values "
                f"(it takes 2 to {_SOFTMAX_S16_MAX_DEPTH})"
            )

    def in_place(self, op: Operator) -> InPlace | None:
        return InPlace(0, 0)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp = op.input(0)
        p = softmax_s16_params(op, op.attrs.beta)
        exp_table, recip_table = softmax_s16_tables(ctx)
        depth = inp.shape[-1]
        values = {
            "input": ctx.tensor(inp),
            "output": ctx.tensor(op.outputs[0]),
            "rows": inp.num_elements // depth,
            "row_size": depth,
            "multiplier": p.multiplier,
            "shift": p.shift,
            "exp_lut": exp_table,
            "one_by_one_lut": recip_table,
        }
        return Call("cmsis/softmax_s16.c.j2", values)


KERNELS_S16: tuple[type[CmsisKernel], ...] = (
    CmsisConv2DS16,
    CmsisDepthwiseConv2DS16,
    CmsisFullyConnectedS16,
    CmsisAveragePool2DS16,
    CmsisMaxPool2DS16,
    CmsisAddS16,
    CmsisMulS16,
    CmsisSoftmaxS16,
)
