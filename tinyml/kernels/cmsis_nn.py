"""CMSIS-NN as a kernel backend: Arm's int8 kernels for Cortex-M, called from generated code.

Each kernel here fills CMSIS-NN's structs exactly as TFLite Micro's
`kernels/cmsis_nn/*.cc` do, but at compile time: dims, offsets, clamps,
multipliers and shifts become static const data next to the call. Which
CMSIS-NN code path runs depends on the core (plain C, the DSP extension, or
Helium/MVE), and so does the scratch each call needs: `buffer_size` mirrors
CMSIS-NN's `*_get_buffer_size{,_dsp,_mve}` line for line (as built by GCC,
which is what tinyml uses; a few sizes differ under Arm Compiler 6).

Variants CMSIS-NN does not cover (broadcasting ADD/MUL, int16, odd bias types)
are refused by `accepts`, and the backend then uses the portable kernel.

Int4 weights (TFLite's INT4, packed two to a byte, low nibble first) go to
CMSIS-NN's _s4 kernels, which read that packing as it is: the `*S4` classes,
one per op, beside the _s8 ones (each refuses the other's weights).

Data CMSIS-NN wants precomputed is computed here instead of on the device:
fully connected on MVE reads per-row "kernel sums" (bias + input offset times
the row sums of the weights, what `arm_vector_sum_s8` computes). TFLM computes
them into arena scratch on every inference, or once into persistent arena
with KERNELS_OPTIMIZED_FOR_SPEED; they depend only on constants, so they go
to flash, costing neither RAM nor cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from tinyml.ir.graph import Operator, Tensor
from tinyml.ir.types import INT4, INT16, INT32
from tinyml.kernels.base import Call, EmitContext, InPlace, Kernel, Unsupported, dims4
from tinyml.kernels.fast import FAST_KERNELS
from tinyml.kernels.portable.batch_matmul import batch_groups, batch_matmul_values, stored_transposed
from tinyml.kernels.portable.binary import broadcast_values
from tinyml.kernels.portable.elementwise import add_values, broadcast_dims, mul_values, same_shape_input
from tinyml.kernels.portable.fully_connected import require_per_tensor_int4
from tinyml.kernels.portable.svdf import svdf_values
from tinyml.ops.base import Role, quant, window_of
from tinyml.ops.requant import conv_requant, fused_range, softmax_params
from tinyml.ops.svdf import svdf_shape

if TYPE_CHECKING:
    from tinyml.kernels.backends import CoreFeatures

#: which CMSIS-NN implementation a core gets: ARM_MATH_MVEI wins over ARM_MATH_DSP, neither is plain C
Core = Literal["plain", "dsp", "mve"]
#: cmsis_nn_dims order: (n, h, w, c)
Dims = tuple[int, int, int, int]
#: cmsis_nn_tile order: (w, h)
Tile = tuple[int, int]

#: CH_IN_BLOCK_MVE in arm_nnsupportfunctions.h: channels per block of the MVE depthwise kernel
CH_IN_BLOCK_MVE = 124
#: CONVERT_DW_CONV_WITH_ONE_INPUT_CH_AND_OUTPUT_CH_ABOVE_THRESHOLD under GCC (8 under Arm Compiler 6)
DW_TO_CONV_THRESHOLD = 1
#: arm_convolve_s8 keeps dims, padding and strides in uint16_t
_UINT16_LIMIT = 1 << 16


def core_of(features: CoreFeatures) -> Core:
    return "mve" if features.mve else "dsp" if features.dsp else "plain"


# --- Python twins of CMSIS-NN's *_get_buffer_size (C integer semantics, GCC build) ---


def _c_div(a: int, b: int) -> int:
    """C's `/` on ints: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _c_mod(a: int, b: int) -> int:
    """C's `%` on ints: takes the sign of the dividend."""
    return a - b * _c_div(a, b)


@dataclass(frozen=True)
class ConvGeometry:
    """What arm_convolve_wrapper_s8 / arm_depthwise_conv_wrapper_s8 and their buffer sizes read."""

    stride: Tile
    padding: Tile
    dilation: Tile
    input: Dims
    filter: Dims
    output: Dims
    ch_mult: int = 1


def is_conv_1x1(g: ConvGeometry) -> bool:
    """arm_nn_is_convolve_1x1."""
    return (
        g.padding == (0, 0)
        and g.filter[2] == 1
        and g.filter[1] == 1
        and g.dilation == (1, 1)
        and g.input[3] == g.filter[3]
    )


def is_conv_1_x_n(g: ConvGeometry) -> bool:
    """arm_nn_is_convolve_1_x_n."""
    return (
        g.input[1] == 1
        and g.dilation[0] == 1
        and g.filter[1] == 1
        and (g.stride[0] * g.input[3]) % 4 == 0
        and g.input[3] == g.filter[3]
    )


def conv_s8_buffer_size(core: Core, input_dims: Dims, filter_dims: Dims) -> int:
    """arm_convolve_s8_get_buffer_size{,_mve}: an im2col buffer (two int16 columns, or four int8 on MVE)."""
    col = input_dims[3] * filter_dims[2] * filter_dims[1]
    if core == "mve":
        return 4 * ((col + 15) // 16) * 16
    aligned = col + (4 - col % 4) % 4
    return 2 * aligned * 2


def _conv_1_x_n_buffer_size_mve(g: ConvGeometry) -> int:
    """arm_convolve_1_x_n_s8_get_buffer_size_mve, with C's truncating `/` and `%` (total_pad can be negative)."""
    input_x, pad_x, kernel_x, output_x, stride_x = g.input[2], g.padding[0], g.filter[2], g.output[2], g.stride[0]
    channels = g.input[3]
    total_pad = (output_x - 1) * stride_x + kernel_x - input_x
    asym_pad = _c_mod(total_pad, 2)
    right = max(1, _c_div(pad_x + asym_pad + stride_x - 1, stride_x)) if pad_x + asym_pad != 0 else 0
    left = max(1, _c_div(pad_x + stride_x - 1, stride_x)) if pad_x != 0 else 0
    no_pad = max(output_x - (right + left), 0)
    if right + no_pad + left != output_x:
        return conv_s8_buffer_size("mve", g.input, g.filter)
    pad_left = pad_x * channels
    pad_right = right * channels if asym_pad else pad_left
    elems_left = kernel_x * channels
    elems_right = elems_left - channels
    return max(elems_left + pad_left, elems_right + pad_right)


def conv_wrapper_buffer_size(core: Core, g: ConvGeometry) -> int:
    """arm_convolve_wrapper_s8_get_buffer_size{,_dsp,_mve}.

    1x1 convolutions need none: the fast (unit stride) one only takes a buffer
    under Arm Compiler 6 with DSP, never under GCC.
    """
    if is_conv_1x1(g):
        return 0
    if is_conv_1_x_n(g):
        return _conv_1_x_n_buffer_size_mve(g) if core == "mve" else conv_s8_buffer_size(core, g.input, g.filter)
    return conv_s8_buffer_size(core, g.input, g.filter)


def _dw_to_conv(g: ConvGeometry) -> ConvGeometry:
    """The regular convolution MVE runs for a depthwise one with one input channel (weights transposed)."""
    n, h, w, c = g.filter
    return ConvGeometry(g.stride, g.padding, g.dilation, g.input, (c, h, w, n), g.output)


def depthwise_wrapper_buffer_size(core: Core, g: ConvGeometry) -> int:
    """arm_depthwise_conv_wrapper_s8_get_buffer_size{,_dsp,_mve}.

    Plain C needs none; DSP needs int16 copies of a window for the optimised
    multiplier-1 kernel unless the 3x3 one (padding <= 1) runs; MVE blocks
    channels by CH_IN_BLOCK_MVE, and turns one-input-channel depthwise into a
    regular convolution whose transposed weights also live in the buffer.
    """
    plain_dw = g.input[3] == g.output[3] and g.input[0] == 1 and g.dilation == (1, 1)
    if core == "mve":
        size = 4 * CH_IN_BLOCK_MVE * g.filter[2] * g.filter[1] if plain_dw else 0
        if g.input[3] == 1 and g.output[3] > DW_TO_CONV_THRESHOLD:
            weights = g.filter[0] * g.filter[1] * g.filter[2] * g.filter[3]
            size = max(size, conv_wrapper_buffer_size("mve", _dw_to_conv(g)) + weights)
        return size
    if not plain_dw or core == "plain":
        return 0
    if g.filter[2] == 3 and g.filter[1] == 3 and g.padding[1] <= 1 and g.padding[0] <= 1:
        return 0
    return g.input[3] * g.filter[2] * g.filter[1] * 2


def fully_connected_buffer_size(core: Core, filter_dims: Dims) -> int:
    """arm_fully_connected_s8_get_buffer_size{,_dsp,_mve}: MVE's int32 kernel sum per output (filter_dims.c)."""
    return filter_dims[3] * 4 if core == "mve" else 0


def is_conv_1x1_s4(g: ConvGeometry) -> bool:
    """arm_convolve_wrapper_s4's 1x1 test: unlike the s8 one, it does not compare the channel counts."""
    return g.padding == (0, 0) and g.filter[1:3] == (1, 1) and g.dilation == (1, 1)


def conv_s4_wrapper_buffer_size(core: Core, g: ConvGeometry) -> int:
    """arm_convolve_wrapper_s4_get_buffer_size as a core's build compiles it.

    An MVE build returns the s8 wrapper's MVE size (CMSIS-NN 7.0.0 defines it
    so), which covers every s4 path it dispatches to; elsewhere 1x1 needs
    none, anything else two int16 im2col columns.
    """
    if core == "mve":
        return conv_wrapper_buffer_size("mve", g)
    if is_conv_1x1_s4(g):
        return 0
    return 2 * g.input[3] * g.filter[1] * g.filter[2] * 2


def depthwise_s4_wrapper_buffer_size(core: Core, g: ConvGeometry) -> int:
    """arm_depthwise_conv_wrapper_s4_get_buffer_size as a core's build compiles it: the optimised kernel (depth
    multiplier 1, one batch, no dilation) takes int16 copies of a window, or on MVE four blocks of channels;
    the generic one nothing. Unlike s8, there is no 3x3 kernel, and plain C takes the DSP size."""
    if g.input[3] != g.output[3] or g.input[0] != 1 or g.dilation != (1, 1):
        return 0
    if core == "mve":
        return 4 * CH_IN_BLOCK_MVE * g.filter[2] * g.filter[1]
    return g.input[3] * g.filter[2] * g.filter[1] * 2


def avgpool_buffer_size(core: Core, output_w: int, channels: int) -> int:
    """arm_avgpool_s8_get_buffer_size{,_dsp,_mve}: one int32 accumulator per channel with DSP only."""
    del output_w
    return channels * 4 if core == "dsp" else 0


# --- kernels ---


class CmsisKernel(Kernel):
    """A CMSIS-NN kernel (its _s8 functions: int8 tensors) for one core."""

    library = "cmsis-nn"
    label = "CMSIS-NN"

    def __init__(self, core: Core) -> None:
        self.core = core

    def check(self, op: Operator) -> None:
        self.require_int8(op)

    def buffer_size(self, op: Operator) -> int:
        """What CMSIS-NN's *_get_buffer_size returns for this op on this core."""
        return 0

    def scratch_bytes(self, op: Operator) -> int:
        return self.buffer_size(op)


def _bias(op: Operator, ctx: EmitContext, channels: int) -> str:
    """The int32 bias as is (CMSIS-NN adds the input offset itself); zeros when the op has none.

    TFLM passes NULL for a missing bias, but arm_convolve_s8 advances the bias
    pointer per group, which breaks a NULL bias in grouped convolutions.
    """
    bias = op.opt_input(2)
    if bias is not None:
        return ctx.tensor(bias)
    return ctx.const("bias", np.zeros(channels, dtype=np.int32), "int32_t")


def _check_bias(kernel: CmsisKernel, op: Operator) -> None:
    bias = op.opt_input(2)
    if bias is not None and (bias.type != INT32 or bias.data is None):
        raise Unsupported(f"the {kernel.label} {op.type} kernel takes a constant int32 bias")


def _check_uint16(kernel: CmsisKernel, op: Operator, g: ConvGeometry) -> None:
    """arm_convolve_s8 keeps dims, padding and strides in uint16_t."""
    if not all(0 <= v < _UINT16_LIMIT for v in (*g.input, *g.filter, *g.output, *g.stride, *g.padding, *g.dilation)):
        raise Unsupported(f"the {kernel.label} {op.type} kernel keeps dims, padding and strides in 16 bits")


def _conv_values(op: Operator, ctx: EmitContext, g: ConvGeometry, scratch: int) -> dict[str, object]:
    """Template values shared by CONV_2D and DEPTHWISE_CONV_2D (TFLM's cmsis_nn conv.cc / depthwise_conv.cc)."""
    inp, w, out = op.input(0), op.input(1), op.outputs[0]
    r = conv_requant(op)
    channels = out.shape[3]
    return {
        "input_offset": r.input_offset,
        "output_offset": r.output_offset,
        "ch_mult": g.ch_mult,
        "stride": g.stride,
        "padding": g.padding,
        "dilation": g.dilation,
        "act": r.act,
        "multiplier": ctx.const("mult", r.multipliers, "int32_t"),
        "shift": ctx.const("shift", r.shifts, "int32_t"),
        "input_dims": g.input,
        "filter_dims": g.filter,
        "bias_dims": (1, 1, 1, channels),
        "output_dims": g.output,
        "input": ctx.tensor(inp),
        "filter": ctx.tensor(w),
        "bias": _bias(op, ctx, channels),
        "output": ctx.tensor(out),
        "scratch": ctx.scratch,
        "scratch_size": scratch,
    }


def _tiles(op: Operator) -> tuple[Tile, Tile, Tile]:
    """(stride, padding, dilation) of the op's window as cmsis_nn_tiles (w, h)."""
    window = window_of(op)
    pad_h, pad_w = window.pad_hw
    return window.stride[::-1], (pad_w, pad_h), window.dilation[::-1]  # type: ignore[return-value]


class CmsisConv2D(CmsisKernel):
    """CONV_2D -> arm_convolve_wrapper_s8, which picks the 1x1, 1xN or generic (im2col) kernel.

    The generic kernel covers grouped and dilated convolutions too.
    """

    op_types = ("CONV_2D",)

    def geometry(self, op: Operator) -> ConvGeometry:
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        stride, padding, dilation = _tiles(op)
        filter_dims = (out.shape[3], w.shape[1], w.shape[2], w.shape[3])
        return ConvGeometry(stride, padding, dilation, dims4(inp.shape), filter_dims, dims4(out.shape))

    def check(self, op: Operator) -> None:
        super().check(op)
        _check_bias(self, op)
        _check_uint16(self, op, self.geometry(op))

    def buffer_size(self, op: Operator) -> int:
        return conv_wrapper_buffer_size(self.core, self.geometry(op))

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        g = self.geometry(op)
        return Call("cmsis/conv_s8.c.j2", _conv_values(op, ctx, g, self.scratch_bytes(op)))


class CmsisDepthwiseConv2D(CmsisKernel):
    """DEPTHWISE_CONV_2D -> arm_depthwise_conv_wrapper_s8 (3x3, optimised multiplier-1, generic, or MVE's conv)."""

    op_types = ("DEPTHWISE_CONV_2D",)

    def geometry(self, op: Operator) -> ConvGeometry:
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        stride, padding, dilation = _tiles(op)
        ch_mult = out.shape[3] // inp.shape[3]
        return ConvGeometry(stride, padding, dilation, dims4(inp.shape), dims4(w.shape), dims4(out.shape), ch_mult)

    def check(self, op: Operator) -> None:
        super().check(op)
        _check_bias(self, op)
        _check_uint16(self, op, self.geometry(op))

    def buffer_size(self, op: Operator) -> int:
        return depthwise_wrapper_buffer_size(self.core, self.geometry(op))

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        g = self.geometry(op)
        return Call("cmsis/depthwise_conv_s8.c.j2", _conv_values(op, ctx, g, self.scratch_bytes(op)))


@dataclass(frozen=True)
class FcGeometry:
    input: Dims
    filter: Dims
    output: Dims


def _kernel_sums(op: Operator) -> np.ndarray:
    """arm_vector_sum_s8 at compile time: bias + input_offset * (row sum + depth * filter_offset), int32-wrapped."""
    r = conv_requant(op)
    depth = op.input(1).shape[1]
    total = r.folded_bias.astype(np.int64) + r.input_offset * depth * r.weights_offset
    return ((total + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


class CmsisFullyConnected(CmsisKernel):
    """FULLY_CONNECTED -> arm_fully_connected_s8 (per-tensor) or arm_fully_connected_per_channel_s8.

    TFLM switches to arm_convolve_1x1_s8_fast when the output has more than
    two dims; the results are the same, so tinyml always calls the FC kernel.
    On MVE the kernel reads precomputed kernel sums from ctx.buf: they come
    from flash (see the module docstring), so no scratch is planned.
    """

    op_types = ("FULLY_CONNECTED",)

    def geometry(self, op: Operator) -> FcGeometry:
        units, depth = op.input(1).shape
        batches = op.input(0).num_elements // depth
        return FcGeometry((batches, 1, 1, depth), (depth, 1, 1, units), (batches, 1, 1, units))

    def check(self, op: Operator) -> None:
        super().check(op)
        _check_bias(self, op)

    def buffer_size(self, op: Operator) -> int:
        return fully_connected_buffer_size(self.core, self.geometry(op).filter)

    def scratch_bytes(self, op: Operator) -> int:
        return 0  # MVE's kernel sums are a flash constant; other cores need nothing

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        g = self.geometry(op)
        units = g.output[3]
        r = conv_requant(op)
        values: dict[str, object] = {
            "input_offset": r.input_offset,
            "filter_offset": r.weights_offset,
            "output_offset": r.output_offset,
            "act": r.act,
            "per_channel": r.per_channel,
            "input_dims": g.input,
            "filter_dims": g.filter,
            "bias_dims": (1, 1, 1, units),
            "output_dims": g.output,
            "input": ctx.tensor(inp),
            "filter": ctx.tensor(w),
            "bias": _bias(op, ctx, units),
            "output": ctx.tensor(out),
            "buf": "NULL",
            "buf_size": 0,
        }
        if self.core == "mve":
            values["buf"] = f"(void *){ctx.const('kernel_sums', _kernel_sums(op), 'int32_t', Role.BIAS)}"
            values["buf_size"] = self.buffer_size(op)
        if r.per_channel:
            values["multiplier"] = ctx.const("mult", r.multipliers, "int32_t")
            values["shift"] = ctx.const("shift", r.shifts, "int32_t")
        else:
            values["multiplier"], values["shift"] = int(r.multipliers[0]), int(r.shifts[0])
        return Call("cmsis/fully_connected_s8.c.j2", values)


class CmsisConv2DS4(CmsisConv2D):
    """CONV_2D with int4 weights -> arm_convolve_wrapper_s4, which picks the 1x1, 1xN, (on MVE) even-depth or
    generic kernel. It has no grouped convolutions: arm_convolve_s4 takes the input's channels as the filter's
    depth."""

    label = "CMSIS-NN s4"

    def check(self, op: Operator) -> None:
        self.require_int8(op, weights=(INT4,))
        _check_bias(self, op)
        g = self.geometry(op)
        _check_uint16(self, op, g)
        if g.filter[3] != g.input[3]:
            raise Unsupported(f"the {self.label} {op.type} kernel runs no grouped convolutions")

    def buffer_size(self, op: Operator) -> int:
        return conv_s4_wrapper_buffer_size(self.core, self.geometry(op))

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        g = self.geometry(op)
        return Call("cmsis/conv_s4.c.j2", _conv_values(op, ctx, g, self.scratch_bytes(op)))


class CmsisDepthwiseConv2DS4(CmsisDepthwiseConv2D):
    """DEPTHWISE_CONV_2D with int4 weights -> arm_depthwise_conv_wrapper_s4 (the optimised multiplier-1 kernel,
    or the generic one; no 3x3 kernel and no MVE conversion to a convolution, unlike s8).

    Two kinds of layer are refused, and run on the portable s4 kernel, because their outputs would differ from
    TFLite Micro's reference kernels: CMSIS-NN 7.0.0's generic s4 kernel (depth multiplier above 1, batches or
    dilation) misreads the packed weights when the input has an odd number of channels; and on MVE the
    optimised kernel's Helium code unpacks nibbles under a constant lane predicate (0x0F0F) that GCC 12
    miscompiles to all lanes (fixed in GCC 13), so odd channels get the wrong weights.
    """

    label = "CMSIS-NN s4"

    def check(self, op: Operator) -> None:
        self.require_int8(op, weights=(INT4,))
        _check_bias(self, op)
        g = self.geometry(op)
        _check_uint16(self, op, g)
        generic = g.ch_mult != 1 or g.input[0] != 1 or g.dilation != (1, 1)
        if generic and g.input[3] % 2:
            raise Unsupported(
                f"the {self.label} {op.type} kernel misreads the weights of an odd number of input channels "
                "with a depth multiplier above 1, batches or dilation"
            )
        if not generic and self.core == "mve":
            raise Unsupported(f"the {self.label} {op.type} kernel's Helium code is miscompiled by GCC 12")

    def buffer_size(self, op: Operator) -> int:
        return depthwise_s4_wrapper_buffer_size(self.core, self.geometry(op))

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        g = self.geometry(op)
        return Call("cmsis/depthwise_conv_s4.c.j2", _conv_values(op, ctx, g, self.scratch_bytes(op)))


class CmsisFullyConnectedS4(CmsisFullyConnected):
    """FULLY_CONNECTED with per-tensor int4 weights -> arm_fully_connected_s4. It needs no scratch and no
    kernel sums on any core (its MVE code adds the input offset itself)."""

    label = "CMSIS-NN s4"

    def check(self, op: Operator) -> None:
        self.require_int8(op, weights=(INT4,))
        _check_bias(self, op)
        require_per_tensor_int4(self, op)

    def buffer_size(self, op: Operator) -> int:
        return 0

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp, w, out = op.input(0), op.input(1), op.outputs[0]
        g = self.geometry(op)
        units = g.output[3]
        r = conv_requant(op)
        values: dict[str, object] = {
            "input_offset": r.input_offset,
            "output_offset": r.output_offset,
            "act": r.act,
            "multiplier": int(r.multipliers[0]),
            "shift": int(r.shifts[0]),
            "input_dims": g.input,
            "filter_dims": g.filter,
            "bias_dims": (1, 1, 1, units),
            "output_dims": g.output,
            "input": ctx.tensor(inp),
            "filter": ctx.tensor(w),
            "bias": _bias(op, ctx, units),
            "output": ctx.tensor(out),
        }
        return Call("cmsis/fully_connected_s4.c.j2", values)


@dataclass(frozen=True)
class PoolGeometry:
    stride: Tile
    padding: Tile
    input: Dims
    filter: Dims
    output: Dims


class _CmsisPool(CmsisKernel):
    function: ClassVar[str]

    def geometry(self, op: Operator) -> PoolGeometry:
        inp, out = op.input(0), op.outputs[0]
        stride, padding, _ = _tiles(op)
        return PoolGeometry(stride, padding, dims4(inp.shape), (1, *window_of(op).kernel, 1), dims4(out.shape))

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        g = self.geometry(op)
        return Call(
            "cmsis/pool_s8.c.j2",
            {
                "function": self.function,
                "stride": g.stride,
                "padding": g.padding,
                "act": fused_range(op),
                "input_dims": g.input,
                "filter_dims": g.filter,
                "output_dims": g.output,
                "input": ctx.tensor(op.input(0)),
                "output": ctx.tensor(op.outputs[0]),
                "scratch": ctx.scratch,
                "scratch_size": self.scratch_bytes(op),
            },
        )


class CmsisAveragePool2D(_CmsisPool):
    """AVERAGE_POOL_2D -> arm_avgpool_s8."""

    op_types = ("AVERAGE_POOL_2D",)
    function = "arm_avgpool_s8"

    def buffer_size(self, op: Operator) -> int:
        g = self.geometry(op)
        return avgpool_buffer_size(self.core, g.output[2], g.output[3])


class CmsisMaxPool2D(_CmsisPool):
    """MAX_POOL_2D -> arm_max_pool_s8 (no scratch on any core)."""

    op_types = ("MAX_POOL_2D",)
    function = "arm_max_pool_s8"


def _check_same_size(kernel: CmsisKernel, op: Operator) -> None:
    """CMSIS-NN's ADD/MUL are elementwise only; TFLM broadcasts unless all flat sizes match."""
    kernel.require_int8(op)
    a, b, out = op.input(0), op.input(1), op.outputs[0]
    if not a.num_elements == b.num_elements == out.num_elements:
        raise Unsupported(f"the {kernel.label} {op.type} kernel does not broadcast")


class CmsisAdd(CmsisKernel):
    """ADD of equal-sized int8 tensors -> arm_elementwise_add_s8 (TFLM's left shift of 20)."""

    op_types = ("ADD",)

    def check(self, op: Operator) -> None:
        _check_same_size(self, op)

    def in_place(self, op: Operator) -> InPlace | None:
        """CMSIS-NN reads each block of both inputs before writing that block of the output."""
        return same_shape_input(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("cmsis/add_s8.c.j2", {**add_values(op, ctx), "size": op.outputs[0].num_elements})


class CmsisMul(CmsisKernel):
    """MUL of equal-sized int8 tensors -> arm_elementwise_mul_s8."""

    op_types = ("MUL",)

    def check(self, op: Operator) -> None:
        _check_same_size(self, op)

    def in_place(self, op: Operator) -> InPlace | None:
        """CMSIS-NN reads each block of both inputs before writing that block of the output."""
        return same_shape_input(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("cmsis/mul_s8.c.j2", {**mul_values(op, ctx), "size": op.outputs[0].num_elements})


class _CmsisMaximumMinimum(CmsisKernel):
    """MAXIMUM / MINIMUM -> arm_maximum_s8 / arm_minimum_s8: raw int8 compares, as TFLM's reference.

    CMSIS-NN walks broadcasts with its own pointer arithmetic; it is given the merged dims the portable kernel
    gets (adjacent dims that broadcast alike are one), on which its result equals the reference's.
    """

    function: ClassVar[str]

    def check(self, op: Operator) -> None:
        self.require_int8(op)
        broadcast_dims(op.input(0).shape, op.input(1).shape, op.outputs[0].shape)

    def in_place(self, op: Operator) -> InPlace | None:
        """Each element of both inputs is read before that element of the output is written."""
        return same_shape_input(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("cmsis/maximum_minimum_s8.c.j2", {**broadcast_values(op, ctx), "function": self.function})


class CmsisMaximum(_CmsisMaximumMinimum):
    op_types = ("MAXIMUM",)
    function = "arm_maximum_s8"


class CmsisMinimum(_CmsisMaximumMinimum):
    op_types = ("MINIMUM",)
    function = "arm_minimum_s8"


class CmsisSoftmax(CmsisKernel):
    """SOFTMAX int8 -> int8 -> arm_softmax_s8 over rows of the last dimension."""

    op_types = ("SOFTMAX",)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        inp: Tensor = op.input(0)
        p = softmax_params(op)
        depth = inp.shape[-1]
        values = {
            "input": ctx.tensor(inp),
            "output": ctx.tensor(op.outputs[0]),
            "rows": inp.num_elements // depth,
            "row_size": depth,
            "multiplier": p.multiplier,
            "shift": p.shift,
            "diff_min": p.diff_min,
        }
        return Call("cmsis/softmax_s8.c.j2", values)


class CmsisBatchMatMul(CmsisKernel):
    """BATCH_MATMUL -> arm_batch_matmul_s8, which takes lhs as (rows, depth) and rhs as (cols, depth): a constant
    operand is stored so (see the portable kernel), an activation must come so (lhs without adj_x, rhs with
    adj_y); TFLM transposes others into scratch first, the portable kernel reads them with strides. Batch dims
    broadcast through the kernel's n and h. On MVE it sums each rhs row into scratch (cols int32)."""

    op_types = ("BATCH_MATMUL",)

    def check(self, op: Operator) -> None:
        super().check(op)
        if stored_transposed(op) != (False, True):
            raise Unsupported(
                f"the {self.label} {op.type} kernel takes lhs as (rows, depth) and rhs as (cols, depth): "
                "an lhs activation with adj_x, or an rhs activation without adj_y, is not"
            )
        batch_groups(op)

    def buffer_size(self, op: Operator) -> int:
        """arm_fully_connected_s8_get_buffer_size of the output dims, as TFLM sizes it: MVE's rhs row sums."""
        return fully_connected_buffer_size(self.core, (1, 1, 1, op.outputs[0].shape[-1]))

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("cmsis/batch_matmul_s8.c.j2", {**batch_matmul_values(op, ctx), "buf_size": self.buffer_size(op)})


class CmsisSvdf(CmsisKernel):
    """SVDF with int16 state and time weights -> arm_svdf_state_s16_s8 (which, like TFLM's CMSIS-NN SVDF, takes
    the state's zero point to be 0: another one runs on the portable kernel)."""

    op_types = ("SVDF",)

    def check(self, op: Operator) -> None:
        state = op.input(4)
        if state.type != INT16:
            raise Unsupported(f"tensor {state.name!r} is {state.type}; the {self.label} SVDF kernel takes int16 state")
        if quant(state).zero_point != 0:
            raise Unsupported(f"the {self.label} SVDF kernel takes state with zero point 0")

    def buffer_size(self, op: Operator) -> int:
        """The two int32 buffers TFLM's CMSIS-NN SVDF requests: one sum per filter, then one per unit."""
        s = svdf_shape(op)
        return 4 * s.batches * (s.filters + s.units)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        s = svdf_shape(op)
        return Call("cmsis/svdf_s16.c.j2", {**svdf_values(op, ctx), "filter_sums_bytes": 4 * s.batches * s.filters})


KERNELS: tuple[type[CmsisKernel], ...] = (
    CmsisConv2D,
    CmsisConv2DS4,
    CmsisDepthwiseConv2D,
    CmsisDepthwiseConv2DS4,
    CmsisFullyConnected,
    CmsisFullyConnectedS4,
    CmsisAveragePool2D,
    CmsisMaxPool2D,
    CmsisAdd,
    CmsisMul,
    CmsisMaximum,
    CmsisMinimum,
    CmsisSoftmax,
    CmsisBatchMatMul,
    CmsisSvdf,
)


def cmsis_kernels(features: CoreFeatures, fast: bool = True) -> dict[str, tuple[Kernel, ...]]:
    """The CMSIS-NN backend's kernels for a core by op type, fastest first (the portable one comes after).

    With `fast`, tinyml's own kernels (tinyml.kernels.fast) join where they cover an op: on DSP cores in front,
    as they beat CMSIS-NN's DSP kernels; on MVE cores (which have the DSP instructions too) behind
    CMSIS-NN's faster Helium kernels, for where the planner wants their scratch or in-place runs.
    """
    from tinyml.kernels.cmsis_nn_s16 import KERNELS_S16  # its classes build on this module's

    core = core_of(features)
    kernels: dict[str, tuple[Kernel, ...]] = {}
    for cls in (*KERNELS, *KERNELS_S16):
        for t in cls.op_types:
            kernels[t] = (*kernels.get(t, ()), cls(core))
    if fast and core == "dsp":
        return {t: (*FAST_KERNELS.get(t, ()), *ks) for t, ks in kernels.items()}
    if fast and core == "mve":
        return {t: (*ks, *FAST_KERNELS.get(t, ())) for t, ks in kernels.items()}
    return kernels
