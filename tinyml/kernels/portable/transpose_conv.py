"""TRANSPOSE_CONV (int8 activations and weights, per-channel or per-tensor): tm_transpose_conv2d_s8, which gathers
each output from the input pixels whose filter taps reach it, so it needs none of TFLite Micro's output-sized int32
scratch."""

from __future__ import annotations

from tinyml.ir.graph import Operator
from tinyml.kernels.base import Call, EmitContext, Kernel, register
from tinyml.kernels.portable.conv import requant_values
from tinyml.ops.transpose_conv import BIAS, FILTER, INPUT, transpose_conv_requant, transpose_padding


def _reaching_taps(out_size: int, pad: int, kernel: int, stride: int, in_size: int) -> tuple[int, int]:
    """Along one axis, summed over output positions: the kernel taps that reach from inside the input, and those
    the gather loop visits to find them."""
    valid = visited = 0
    for o in range(out_size):
        r = o + pad
        for k in range(r % stride, kernel, stride):
            i = (r - k) // stride
            if i < 0:
                break
            visited += 1
            valid += i < in_size
    return valid, visited


def transpose_conv_features(op: Operator) -> dict[str, int]:
    """What tm_transpose_conv2d_s8's loops iterate over, for the cost model: products, taps visited per output
    value, output values."""
    inp, out = op.input(INPUT), op.outputs[0]
    oc, kh, kw, ic = op.input(FILTER).shape
    (pad_h, pad_w), (sh, sw) = transpose_padding(op), op.attrs.stride
    rows, rows_visited = _reaching_taps(out.shape[1], pad_h, kh, sh, inp.shape[1])
    cols, cols_visited = _reaching_taps(out.shape[2], pad_w, kw, sw, inp.shape[2])
    n = out.shape[0]
    return {
        "calls": 1,
        "macs": n * rows * cols * ic * oc,
        "taps": n * rows_visited * cols_visited * oc,
        "outputs": out.num_elements,
    }


def transpose_conv_values(op: Operator, ctx: EmitContext) -> dict[str, object]:
    """Template values: a convolution's offsets, requantization and tensors, stride and padding as (w, h), the
    raw bias."""
    r = transpose_conv_requant(op)
    pad_h, pad_w = transpose_padding(op)
    return {
        **requant_values(op, ctx, op.input(INPUT), op.input(FILTER), r),
        "stride": op.attrs.stride[::-1],
        "padding": (pad_w, pad_h),
        "bias": "NULL" if r.bias is None else ctx.tensor(op.input(BIAS)),
    }


@register
class TransposeConv(Kernel):
    op_types = ("TRANSPOSE_CONV",)

    def check(self, op: Operator) -> None:
        self.require_int8(op)

    def emit(self, op: Operator, ctx: EmitContext) -> Call:
        return Call("ops/transpose_conv2d_s8.c.j2", transpose_conv_values(op, ctx))
