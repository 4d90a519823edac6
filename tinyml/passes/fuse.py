"""Pattern fusion: the SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND form of a dilated convolution becomes
one dilated convolution (TFLite Micro cannot run that form correctly).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tinyml.ir.graph import Graph, Operator
from tinyml.ops.window import EXPLICIT, VALID


def fuse_space_to_batch_convs(graph: Graph) -> None:
    """SPACE_TO_BATCH_ND -> conv (VALID) -> BATCH_TO_SPACE_ND becomes one dilated conv.

    TensorFlow lowers dilated SAME convolutions this way. Space-to-batch pads
    with the zero point, whose contribution to a quantized convolution is
    exactly zero, so a dilated conv that skips out-of-image taps with explicit
    leading padding computes the same bytes without the two reshuffles.
    """
    ops = graph.ops
    fused: list[Operator] = []
    i = 0
    while i < len(ops):
        op = ops[i]
        if i + 2 < len(ops) and (conv := _dilated_conv(graph, op, ops[i + 1], ops[i + 2])) is not None:
            fused.append(conv)
            i += 3
            continue
        fused.append(op)
        i += 1
    graph.ops = fused


def _dilated_conv(graph: Graph, s2b: Operator, conv: Operator, b2s: Operator) -> Operator | None:
    if (s2b.type, b2s.type) != ("SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"):
        return None
    if conv.type not in ("CONV_2D", "DEPTHWISE_CONV_2D") or conv.input(0) is not s2b.outputs[0]:
        return None
    if b2s.input(0) is not conv.outputs[0] or len(graph.consumers(s2b.outputs[0])) != 1:
        return None
    if len(graph.consumers(conv.outputs[0])) != 1 or conv.attrs.padding != VALID:
        return None
    block, pads, crops = s2b.input(1).data, s2b.input(2).data, b2s.input(2).data
    if block is None or pads is None or crops is None or b2s.input(1).data is None:
        return None
    if block.shape != (2,) or not np.array_equal(block, b2s.input(1).data):
        return None
    if conv.attrs.stride != (1, 1) or conv.attrs.dilation != (1, 1):
        return None
    pad_top, pad_left = int(pads[0][0] - crops[0][0]), int(pads[1][0] - crops[1][0])
    inp, out, kernel = s2b.input(0), b2s.outputs[0], conv.input(1).shape[1:3]
    if len(inp.shape) != 4 or len(out.shape) != 4 or len(kernel) != 2:
        return None
    dilation = (int(block[0]), int(block[1]))
    # what the output size needs after the image (the crops take the rest of space-to-batch's padding)
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True)]
    pad_bottom = out.shape[1] - 1 + span[0] - pad_top - inp.shape[1]
    pad_right = out.shape[2] - 1 + span[1] - pad_left - inp.shape[2]
    if min(pad_top, pad_left, pad_bottom, pad_right) < 0:
        return None
    attrs = replace(
        conv.attrs, padding=EXPLICIT, explicit_padding=(pad_top, pad_left, pad_bottom, pad_right), dilation=dilation
    )
    inputs = [s2b.input(0), *conv.inputs[1:]]
    return Operator(conv.type, inputs, list(b2s.outputs), attrs, index=conv.index)
