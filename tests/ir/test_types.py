"""Element types: value ranges, containers, C types, packed sizes, packing and unpacking, tags, and no strings."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir import types
from tinyml.ir.graph import Quantization, Tensor
from tinyml.ir.types import (
    BOOL,
    FLOAT16,
    FLOAT32,
    INT2,
    INT4,
    INT8,
    INT16,
    INT32,
    INT64,
    UINT2,
    UINT4,
    UINT8,
    element_type,
    of_dtype,
)

INTEGERS = [INT8, UINT8, INT16, INT32, INT64, INT4, INT2, UINT4, UINT2]


@pytest.mark.parametrize("t", INTEGERS, ids=str)
def test_integer_ranges_follow_the_width(t):
    lo, hi = t.range
    assert hi - lo + 1 == 1 << t.bits
    assert (lo < 0) == (t.kind == types.INT)
    if t.bits <= 16:  # the container holds every value
        assert np.iinfo(t.np_dtype).min <= lo and hi <= np.iinfo(t.np_dtype).max


def test_named_values():
    assert INT4.range == (-8, 7) and INT2.range == (-2, 1) and UINT4.range == (0, 15) and UINT2.range == (0, 3)
    assert INT8.range == (-128, 127) and INT16.range == (-32768, 32767)
    assert (INT4.np_dtype, UINT2.np_dtype, INT8.np_dtype, FLOAT16.np_dtype) == (
        np.dtype(np.int8),
        np.dtype(np.uint8),
        np.dtype(np.int8),
        np.dtype(np.float16),
    )
    assert [t.c_type for t in (INT8, UINT8, INT16, INT32, FLOAT32, BOOL, INT4, UINT4)] == [
        "int8_t",
        "uint8_t",
        "int16_t",
        "int32_t",
        "float",
        "uint8_t",
        "int8_t",  # packed bytes, as CMSIS-NN's _s4 kernels take them
        "uint8_t",
    ]
    assert [t.tm_type for t in (INT8, UINT8, INT16, INT32, FLOAT32)] == [
        "TM_INT8",
        "TM_UINT8",
        "TM_INT16",
        "TM_INT32",
        "TM_FLOAT32",
    ]
    with pytest.raises(TypeError, match="int4"):
        _ = INT4.tm_type
    assert FLOAT32.max == float(np.finfo(np.float32).max) and BOOL.range == (0, 1)


@pytest.mark.parametrize(
    ("t", "count", "nbytes"),
    [(INT8, 5, 5), (INT16, 5, 10), (FLOAT32, 3, 12), (INT4, 5, 3), (INT4, 6, 3), (INT2, 5, 2), (INT2, 8, 2)],
)
def test_nbytes_packs_sub_byte_types(t, count, nbytes):
    assert t.nbytes(count) == nbytes
    assert Tensor("x", (count,), t).nbytes == nbytes


def test_int4_packs_low_nibble_first_like_tflite():
    """TFLite's INT4 buffers (and CMSIS-NN's _s4 weights): value 2i in bits 0-3 of byte i, value 2i+1 in 4-7."""
    packed = INT4.pack(np.array([1, -1, -8, 7, 3], dtype=np.int8))
    assert packed.tolist() == [0xF1, 0x78, 0x03]
    assert INT4.unpack(bytes(packed), 5).tolist() == [1, -1, -8, 7, 3]
    assert INT2.pack(np.array([1, -2, 0, -1], dtype=np.int8)).tolist() == [0b11001001]


@pytest.mark.parametrize("t", [*INTEGERS, FLOAT32, FLOAT16, BOOL], ids=str)
def test_pack_and_unpack_round_trip(t):
    rng = np.random.default_rng(t.bits)
    count = 37
    if t.is_int:
        lo, hi = t.range
        values = rng.integers(lo, hi, count, endpoint=True).astype(t.np_dtype)
    else:
        values = rng.uniform(-2, 2, count).astype(t.np_dtype)
    packed = t.pack(values)
    assert packed.nbytes == t.nbytes(count)
    back = t.unpack(packed.tobytes(), count)
    assert back.dtype == t.np_dtype and np.array_equal(back, values)


def test_pack_refuses_values_out_of_range():
    with pytest.raises(ValueError, match=r"int4's range \[-8, 7\]"):
        INT4.pack(np.array([8]))
    with pytest.raises(ValueError, match="hold 2 int4 values"):
        INT4.unpack(b"\x00", 3)


def test_no_check_against_a_dtype_string_survives():
    """Comparing a type with the old dtype strings is an error, not a silent False."""
    t = Tensor("x", (1,), "int8")
    assert t.type is INT8 or t.type == INT8
    with pytest.raises(TypeError, match="compared with the string 'int8'"):
        _ = t.type == "int8"
    with pytest.raises(TypeError):
        _ = t.type in ("float32", "int8")
    assert not hasattr(t, "dtype") and not hasattr(t, "bits")


def test_names():
    assert element_type("int4") is INT4 and element_type(INT16) is INT16 and of_dtype(np.float32) == FLOAT32
    assert str(INT4) == "int4" and repr(UINT2) == "UINT2" and str(types.opaque("string")) == "string"
    with pytest.raises(ValueError, match="unknown element type 'int3'"):
        element_type("int3")
    with pytest.raises(ValueError, match="do not pack"):
        types.ElementType(types.INT, 3)


def test_fused_activation_clamps_to_the_output_type():
    """A 4-bit output's RELU6 clamp lies within its 16 levels, never int8's (-1, 59)."""
    from tinyml.ops.requant import activation_range

    q = Quantization((0.1,), (-1,))
    assert activation_range("RELU6", Tensor("y", (1, 4), INT8, q)) == (-1, 59)
    assert activation_range("RELU6", Tensor("y", (1, 4), INT4, q)) == (-1, 7)
    assert activation_range("NONE", Tensor("y", (1, 4), INT4, q)) == (-8, 7)
    assert activation_range("RELU_N1_TO_1", Tensor("y", (1, 4), INT2, Quantization((1.0,), (0,)))) == (-1, 1)
    assert activation_range("RELU", Tensor("y", (1, 4), INT16, q)) == (-1, 32767)
