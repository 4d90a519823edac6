"""ARG_MAX and ARG_MIN (int8 input, int32 index), as TFLite Micro's reference_ops::ArgMinMax computes them.

The index of the largest (smallest) value along one constant axis, the first
one on ties (TFLM replaces its candidate only on a strict comparison). TFLM
reads the axis as int32 and writes int32 indices only; an int64 axis or output
(the converter's default for tf.argmax) fails in TFLM, so it is refused here.
"""

from __future__ import annotations

import numpy as np

from tinyml.ir.graph import Operator
from tinyml.ir.types import INT8, INT32
from tinyml.ops.base import Arrays, OpDef, Role, Unsupported, array, const_ints, define, require_arity


@define
class ArgMinMax(OpDef):
    op_types = ("ARG_MAX", "ARG_MIN")
    #: int8 data in, the int32 index out
    types = (INT8, INT32)
    input_roles = (Role.FEATURE, Role.PARAM)

    def axis(self, op: Operator) -> int:
        """The reduced axis, made non-negative; refused unless one constant int32 within the input's rank."""
        values = const_ints(op.input(1), f"{op.type} axis").reshape(-1)
        rank = len(op.input(0).shape)
        if values.size != 1 or not -rank <= int(values[0]) < rank:
            raise Unsupported(f"{op.type} axis {values.tolist()} of a rank {rank} input (one axis expected)")
        return int(values[0]) % rank

    def validate(self, op: Operator) -> None:
        require_arity(op, 2)
        inp, out = op.input(0), op.outputs[0]
        if inp.type != INT8:
            raise Unsupported(f"{op.type} of {inp.type} input; int8 expected")
        if out.type != INT32:
            raise Unsupported(
                f"{op.type} with {out.type} output; TensorFlow Lite Micro writes int32 indices only "
                "(use output_type=tf.int32)"
            )
        self.check_shapes(op)

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        shape = tuple(op.input(0).shape)
        if not shape:
            raise Unsupported(f"{op.type} of a scalar")
        axis = self.axis(op)
        return [shape[:axis] + shape[axis + 1 :]]

    def split(self, op: Operator) -> tuple[int, int, int]:
        """(outer, axis, inner) extents: the input seen as [outer][axis][inner], the output as [outer][inner]."""
        shape, axis = op.input(0).shape, self.axis(op)
        return (
            int(np.prod(shape[:axis], dtype=np.int64)),
            int(shape[axis]),
            int(np.prod(shape[axis + 1 :], dtype=np.int64)),
        )

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """NumPy's argmax / argmin also return the first index on ties."""
        x = array(inputs, 0)
        pick = np.argmax if op.type == "ARG_MAX" else np.argmin
        return [pick(x, axis=self.axis(op)).astype(np.int32).reshape(op.outputs[0].shape)]
