"""TINYML_COPY_REGION, the op patch stages are made of: validation of where the rectangle lies, and the reference
writing into the destination's current contents."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.ir.graph import Operator, Tensor
from tinyml.ops import Unsupported, definition
from tinyml.ops.region import COPY, RegionAttrs


def _copy(src_shape, dst_shape, attrs, dst_type="int8"):
    return Operator(COPY, [Tensor("src", src_shape, "int8")], [Tensor("dst", dst_shape, dst_type)], attrs)


def test_reference_writes_the_rectangle_over_the_current_contents():
    op = _copy((1, 4, 5, 2), (1, 6, 6, 2), RegionAttrs((1, 2), (3, 0), (2, 3)))
    d = definition(op)
    d.validate(op)
    assert d.macs(op) == 0 and d.infer_shapes(op) == [(1, 6, 6, 2)]
    src = np.arange(40, dtype=np.int8).reshape(1, 4, 5, 2)
    (first,) = d.reference(op, [src])
    assert first[0, 3:5, 0:3].tolist() == src[0, 1:3, 2:5].tolist() and np.count_nonzero(first[0, :3]) == 0
    current = np.full((1, 6, 6, 2), 7, np.int8)
    (second,) = d.reference(op, [src, current])
    assert second[0, 0, 0, 0] == 7 and second[0, 3:5, 0:3].tolist() == src[0, 1:3, 2:5].tolist()


@pytest.mark.parametrize(
    ("src", "dst", "attrs", "dst_type", "message"),
    [
        ((1, 4, 4, 2), (1, 4, 4, 2), RegionAttrs((3, 0), (0, 0), (2, 2)), "int8", "does not fit the source"),
        ((1, 4, 4, 2), (1, 4, 4, 2), RegionAttrs((0, 0), (3, 3), (2, 2)), "int8", "does not fit the destination"),
        ((1, 4, 4, 2), (1, 4, 4, 3), RegionAttrs((0, 0), (0, 0), (2, 2)), "int8", "region copy from"),
        ((1, 4, 4, 2), (1, 4, 4, 2), RegionAttrs((0, 0), (0, 0), (2, 2)), "int16", r"int8 to \(1, 4, 4, 2\) int16"),
    ],
)
def test_validation(src, dst, attrs, dst_type, message):
    op = _copy(src, dst, attrs, dst_type)
    with pytest.raises(Unsupported, match=message):
        definition(op).validate(op)
