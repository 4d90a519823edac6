"""The portable kernels' sub-byte variants: packed activations (UINT4, UINT2) in and out, packed weights (INT2,
and INT4 beside packed activations), for CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD and the pools
(firmware/include/tinyml/tm_subbyte.h; one generic C kernel per family, the bit widths its parameters).

The portable kernel of each of those ops takes this path when `applies` says so and its int8 one otherwise.
Offsets, clamps and biases come from the same requantization objects as the int8 kernels': a packed activation's
quantization is its codes' (tinyml.passes.subbyte), so they are already in the stored domain. Variants the C
cannot run are refused by name: `check` raises Unsupported naming the tensor and the kernel.
"""

from __future__ import annotations

from tinyml.ir.graph import Operator, Tensor
from tinyml.ir.types import INT2, INT4, INT8, UINT2, UINT4
from tinyml.kernels.base import Call, EmitContext, InPlace, Kernel, Unsupported
from tinyml.ops.base import Role, definition, window_of
from tinyml.ops.requant import add_requant, conv_requant, fused_range

#: what the sub-byte kernels read and write: activations and weights (int8 is 8 bits, unpacked)
ACTIVATION_TYPES = (INT8, UINT4, UINT2)
WEIGHT_TYPES = (INT8, INT4, INT2)


def bits(t: Tensor) -> int:
    """Bits per element of an operand."""
    return t.type.bits


def _operands(op: Operator) -> list[tuple[Tensor, Role | None]]:
    """Feature and weight inputs with their roles, then the outputs (role None)."""
    roles = definition(op).roles(op)
    pairs = [
        (t, r) for t, r in zip(op.inputs, roles, strict=True) if t is not None and r in (Role.FEATURE, Role.WEIGHTS)
    ]
    return [*pairs, *((t, None) for t in op.outputs)]


def applies(op: Operator) -> bool:
    """Whether `op` needs the sub-byte variant: a packed activation, or 2-bit weights (INT4 weights beside int8
    activations are the _s4 kernels')."""
    return any(t.type.sub_byte and (r is not Role.WEIGHTS or t.type == INT2) for t, r in _operands(op))


def check(op: Operator, kernel: Kernel) -> None:
    """Refuse, by tensor and kernel, what the sub-byte kernels do not take."""
    for t, role in _operands(op):
        allowed = WEIGHT_TYPES if role is Role.WEIGHTS else ACTIVATION_TYPES
        if t.type not in allowed or t.quant is None:
            what = "weights" if role is Role.WEIGHTS else "input" if role is Role.FEATURE else "output"
            names = " or ".join(map(str, allowed))
            raise Unsupported(
                f"tensor {t.name!r} is {t.type}; the {kernel.label} {op.type} kernel takes {names} {what}"
            )
        if role is not Role.WEIGHTS and t.quant.per_channel:
            raise Unsupported(
                f"tensor {t.name!r} is quantized per channel; the {kernel.label} {op.type} kernel "
                "takes per-tensor activations"
            )


#: TM_SB_DW_BLOCK: the input channels tm_depthwise_conv2d_sb gathers at a time
DW_BLOCK = 32


#: TM_SB_CONV_MAX_KH: kernel rows tm_conv2d_sb keeps pointers for
CONV_MAX_KH = 32


def conv_scratch(op: Operator) -> int:
    """tm_conv2d_sb_get_buffer_size and tm_depthwise_conv2d_sb_get_buffer_size: one window of int8 values (a
    conv's over its filter's depth, none when it reads an int8 input where it is; a depthwise conv's over a block
    of at most DW_BLOCK input channels)."""
    _, kh, kw, kc = op.input(1).shape
    if op.type == "CONV_2D":
        return 0 if bits(op.input(0)) == 8 else kh * kw * kc
    return kh * kw * min(op.input(0).shape[3], DW_BLOCK)


def check_windowed(op: Operator, kernel: Kernel) -> None:
    """`check`, and the zero point the convolutions pad their int8 window with."""
    check(op, kernel)
    if op.type == "CONV_2D" and op.input(1).shape[1] > CONV_MAX_KH:
        raise Unsupported(
            f"the {kernel.label} {op.type} kernel for packed tensors takes at most {CONV_MAX_KH} kernel rows"
        )
    offset = conv_requant(op).input_offset
    if not -127 <= offset <= 128:
        inp = op.input(0)
        raise Unsupported(
            f"tensor {inp.name!r} has zero point {-offset} as stored; the {kernel.label} {op.type} kernel pads "
            "with int8 values (-128..127)"
        )


def conv_in_place(op: Operator) -> InPlace | None:
    """tm_conv2d_sb in place (tm_conv2d_sb_in_place_get_buffer_size): stride 1, one image, the spatial shape kept,
    no more output bits per pixel than input bits, padding above below the kernel height. Scratch: the window and
    a ring of padding + 1 unpacked input rows."""
    inp, w, out = op.input(0), op.input(1), op.outputs[0]
    window = window_of(op)
    pad_h = window.pad_hw[0]
    if (
        window.stride != (1, 1)
        or inp.shape[0] != 1
        or inp.shape[1:3] != out.shape[1:3]
        or out.shape[3] * bits(out) > inp.shape[3] * bits(inp)
        or pad_h >= w.shape[1]
    ):
        return None
    return InPlace(0, conv_scratch(op) + (pad_h + 1) * inp.shape[2] * inp.shape[3])


def _bits(op: Operator) -> dict[str, object]:
    return {"bits": (bits(op.input(0)), bits(op.input(1)), bits(op.outputs[0]))}


def conv_call(op: Operator, ctx: EmitContext, values: dict[str, object]) -> Call:
    """The packed convolution's call: the int8 kernel's template `values` (the same requantization and window)
    plus the bit widths and its scratch."""
    variant = conv_in_place(op) if ctx.in_place else None
    size = variant.scratch if variant is not None else conv_scratch(op)
    return Call("ops/conv2d_sb.c.j2", {**values, **_bits(op), "scratch_size": size})


def depthwise_in_place(op: Operator, plane: int) -> InPlace | None:
    """tm_depthwise_conv2d_sb in place (tm_depthwise_conv2d_sb_in_place_get_buffer_size: one padded channel plane
    of `plane` bytes): depth multiplier 1, one image, the same type in and out (each output element then lands on
    its own channel's bits), no more output pixels than input ones."""
    inp, out = op.input(0), op.outputs[0]
    if inp.shape[0] != 1 or inp.shape[3] != out.shape[3] or inp.type != out.type:
        return None
    return InPlace(0, plane) if out.num_elements <= inp.num_elements else None


def depthwise_call(op: Operator, ctx: EmitContext, values: dict[str, object], plane: int) -> Call:
    """The packed depthwise convolution's call, from the int8 kernel's template `values` as conv_call."""
    scratch = plane if ctx.in_place else conv_scratch(op)
    return Call("ops/depthwise_conv2d_sb.c.j2", {**values, **_bits(op), "scratch_size": scratch})


def fc_call(op: Operator, ctx: EmitContext) -> Call:
    inp, w, out = op.input(0), op.input(1), op.outputs[0]
    units, depth = w.shape
    batches = inp.num_elements // depth
    r = conv_requant(op)
    count = units if r.per_channel else 1
    return Call(
        "ops/fully_connected_sb.c.j2",
        {
            "input_offset": r.input_offset,
            "filter_offset": r.weights_offset,
            "output_offset": r.output_offset,
            "act": r.act,
            "per_channel": r.per_channel,
            "multiplier": ctx.const("mult", r.multipliers[:count], "int32_t"),
            "shift": ctx.const("shift", r.shifts[:count], "int32_t"),
            "input_dims": (batches, 1, 1, depth),
            "filter_dims": (units, 1, 1, depth),
            "bias_dims": (1, 1, 1, units),
            "output_dims": (batches, 1, 1, units),
            "input": ctx.tensor(inp),
            "filter": ctx.tensor(w),
            "bias": ctx.const("bias", r.folded_bias, "int32_t", Role.BIAS),
            "output": ctx.tensor(out),
            "bits": (bits(inp), bits(w), bits(out)),
        },
    )


def pool_call(op: Operator, ctx: EmitContext, function: str) -> Call:
    inp, out = op.input(0), op.outputs[0]
    assert inp.quant is not None and out.quant is not None
    window = window_of(op)
    pad_h, pad_w = window.pad_hw
    return Call(
        "ops/pool2d_sb.c.j2",
        {
            "function": function,
            "stride": window.stride[::-1],
            "padding": (pad_w, pad_h),
            "act": fused_range(op),
            "input_dims": inp.shape,
            "filter_dims": (1, *window.kernel, 1),
            "output_dims": out.shape,
            "input": ctx.tensor(inp),
            "output": ctx.tensor(out),
            "bits": (bits(inp), 8, bits(out)),
            "input_level": inp.quant.level,
            "output_level": out.quant.level,
        },
    )


def add_call(op: Operator, ctx: EmitContext, values: dict[str, object]) -> Call:
    """ADD's sub-byte call: the int8 kernel's values (offsets, rescaling, merged dims), with each operand's bits."""
    add_requant(op)  # refuses rescaling factors TFLM refuses
    bits3 = (bits(op.input(0)), bits(op.input(1)), bits(op.outputs[0]))
    return Call("ops/add_sb.c.j2", {**values, "bits": bits3})
