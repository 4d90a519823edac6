"""Int4 weights (TFLite's INT4: two per byte, low nibble first) on CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.

The weights stay packed in flash and run on tinyml's portable s4 kernels and on CMSIS-NN's _s4 kernels; TFLite
Micro, which unpacks them into scratch, is the oracle. The models come from `int4_models` (TensorFlow's converter
on 4-bit narrow-range fake quants): several chains per model, so that one build checks many layer variants.
"""

from __future__ import annotations

import subprocess

import pytest

from tinyml.errors import ToolchainError
from tinyml.kernels import cmsis_nn as cn
from tinyml.target.boards import load_board
from tinyml.target.build import build_cmsis_library
from tinyml.target.packs import CmsisPaths, find_cmsis

CORES: tuple[cn.Core, ...] = ("plain", "dsp", "mve")


def _find() -> tuple[CmsisPaths | None, str]:
    try:
        return find_cmsis()
    except ToolchainError as e:
        return None, e.message


CMSIS, WHERE = _find()
needs_cmsis = pytest.mark.skipif(CMSIS is None, reason=f"CMSIS-NN not found (looked for {WHERE})")

# (stride, padding, dilation) as (w, h) tiles, then input, filter and output dims (n, h, w, c)
S4_CONV = [
    cn.ConvGeometry((1, 1), (0, 0), (1, 1), (1, 6, 6, 8), (6, 1, 1, 8), (1, 6, 6, 6)),  # 1x1 fast
    cn.ConvGeometry((2, 2), (0, 0), (1, 1), (1, 6, 6, 6), (5, 1, 1, 6), (1, 3, 3, 5)),  # 1x1 strided
    cn.ConvGeometry((2, 2), (1, 1), (1, 1), (1, 9, 9, 3), (5, 3, 3, 3), (1, 5, 5, 5)),  # odd im2col column
    cn.ConvGeometry((1, 2), (0, 0), (1, 1), (1, 10, 10, 4), (7, 5, 3, 4), (1, 3, 8, 7)),
    cn.ConvGeometry((1, 1), (2, 2), (2, 2), (1, 10, 10, 4), (4, 3, 3, 4), (1, 10, 10, 4)),  # dilated
    cn.ConvGeometry((1, 1), (1, 0), (1, 1), (1, 1, 16, 4), (8, 1, 3, 4), (1, 1, 16, 8)),  # 1xN
    cn.ConvGeometry((2, 1), (0, 0), (1, 1), (1, 1, 16, 8), (3, 1, 5, 8), (1, 1, 6, 3)),  # 1xN, strided
    cn.ConvGeometry((2, 1), (2, 0), (1, 1), (1, 1, 21, 8), (8, 1, 5, 8), (1, 1, 11, 8)),  # 1xN, odd padding
    cn.ConvGeometry((1, 1), (1, 1), (1, 1), (2, 5, 5, 2), (3, 3, 3, 2), (2, 5, 5, 3)),  # batches
]
S4_DW = [
    cn.ConvGeometry((1, 1), (1, 1), (1, 1), (1, 6, 6, 5), (1, 3, 3, 5), (1, 6, 6, 5)),  # 3x3, odd channels
    cn.ConvGeometry((1, 1), (0, 0), (1, 1), (1, 9, 9, 5), (1, 3, 3, 10), (1, 7, 7, 10), 2),  # multiplier 2
    cn.ConvGeometry((1, 1), (2, 2), (2, 2), (1, 10, 10, 4), (1, 3, 3, 4), (1, 10, 10, 4)),  # dilated
    cn.ConvGeometry((2, 2), (2, 2), (1, 1), (1, 7, 7, 16), (1, 5, 5, 16), (1, 4, 4, 16)),
    cn.ConvGeometry((1, 1), (1, 1), (1, 1), (2, 7, 7, 16), (1, 3, 3, 16), (2, 7, 7, 16)),  # batches
    cn.ConvGeometry((1, 1), (1, 1), (1, 1), (1, 8, 8, 1), (1, 3, 3, 4), (1, 8, 8, 4), 4),  # one input channel
]


def _c_dims(d: tuple[int, ...]) -> str:
    return "{" + ", ".join(map(str, d)) + "}"


def _c_sizes(plain: str, dsp: str, mve: str, g: cn.ConvGeometry, depthwise: bool) -> str:
    """A C block printing three CMSIS-NN buffer sizes for one geometry."""
    tiles = f"{_c_dims(g.stride)}, {_c_dims(g.padding)}, {_c_dims(g.dilation)}, {{-128, 127}}"
    params = f"{{0, 0, {g.ch_mult}, {tiles}}}" if depthwise else f"{{0, 0, {tiles}}}"
    kind = "cmsis_nn_dw_conv_params" if depthwise else "cmsis_nn_conv_params"
    args = "&p, &i, &f, &o"
    return (
        f"{{ const {kind} p = {params}; const cmsis_nn_dims i = {_c_dims(g.input)}, f = {_c_dims(g.filter)}, "
        f'o = {_c_dims(g.output)}; printf("%d %d %d\\n", (int){plain}({args}), (int){dsp}({args}), '
        f"(int){mve}({args})); }}"
    )


@needs_cmsis
def test_s4_scratch_equals_cmsis_nn_get_buffer_size(tmp_path):
    """The Python twins equal CMSIS-NN's s4 get_buffer_size functions, called from C on the host.

    The host build gives the plain-C sizes and the _dsp ones. For MVE the twin follows what an MVE build of
    arm_convolve_wrapper_s4_get_buffer_size returns, which CMSIS-NN 7.0.0 defines as the s8 wrapper's MVE size
    (its own _mve twin differs for 1xN convolutions); for depthwise the _mve function is the MVE build's.
    """
    assert CMSIS is not None
    cases = [
        (g, False, ("arm_convolve_wrapper_s4_get_buffer_size", "_dsp", "arm_convolve_wrapper_s8_get_buffer_size_mve"))
        for g in S4_CONV
    ] + [(g, True, ("arm_depthwise_conv_wrapper_s4_get_buffer_size", "_dsp", "_mve")) for g in S4_DW]
    body = []
    for g, depthwise, (plain, dsp, mve) in cases:
        body.append(_c_sizes(plain, plain + dsp, mve if mve.startswith("arm") else plain + mve, g, depthwise))
    (tmp_path / "sizes.c").write_text(
        '#include <stdio.h>\n#include "arm_nnfunctions.h"\nint main(void) {\n'
        + "\n".join(f"  {b}" for b in body)
        + "\n  return 0;\n}\n"
    )
    lib = build_cmsis_library(CMSIS, load_board("host"))
    includes = [f"-I{d}" for d in CMSIS.include_dirs]
    exe = tmp_path / "sizes"
    source = tmp_path / "sizes.c"
    subprocess.run(["gcc", "-std=c99", "-O1", *includes, "-o", str(exe), str(source), str(lib)], check=True)
    lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.splitlines()
    mismatches, nonzero = [], set()
    for (g, depthwise, _), line in zip(cases, lines, strict=True):
        twin = cn.depthwise_s4_wrapper_buffer_size if depthwise else cn.conv_s4_wrapper_buffer_size
        python = {core: twin(core, g) for core in CORES}
        c = dict(zip(CORES, map(int, line.split()), strict=True))
        if python != c:
            mismatches.append(f"{'depthwise' if depthwise else 'conv'} {g}: python {python}, CMSIS-NN {c}")
        nonzero |= {(depthwise, core) for core, size in c.items() if size}
    assert not mismatches, "\n".join(mismatches)
    assert nonzero == {(d, core) for d in (False, True) for core in CORES}  # every size was exercised
