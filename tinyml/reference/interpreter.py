"""Run an IR graph op by op on its definitions' references: the model's meaning, independent of any C.

Works on the graph at every stage: as loaded, after optimisation, and after
patch expansion (whose region copies write parts of one tensor). `run_bytes`
speaks the host program's raw format, so its bytes can be compared with a
built model's directly.
"""

from __future__ import annotations

import numpy as np

from tinyml.errors import InputDataError, UnsupportedOpError
from tinyml.ir.graph import Graph, Operator, Tensor
from tinyml.ir.types import INT8
from tinyml.ops import DEFINITIONS, Arrays
from tinyml.ops.region import COPY


def _check_input(t: Tensor, x: np.ndarray, i: int) -> np.ndarray:
    """The array as the input tensor's values: its container dtype (int8 for int4), size and, for sub-byte
    types, range."""
    lo, hi = t.type.range if t.type.sub_byte else (0, 0)
    out_of_range = t.type.sub_byte and x.size and (int(x.min()) < lo or int(x.max()) > hi)
    if x.dtype != t.type.np_dtype or x.size != t.num_elements or out_of_range:
        raise InputDataError(
            f"input {i} ({t.name!r}) is {x.dtype}{list(x.shape)}; the model expects {t.type}{list(t.shape)}",
            f"pass {t.num_elements} values of type {t.type}",
        )
    return x.reshape(t.shape)


#: a model's state between inferences: id(variable tensor) -> its values, which stateful ops update in place
State = dict[int, np.ndarray]


def initial_state(graph: Graph) -> State:
    """The state at start up and after a reset, as TFLite Micro resets it: an int8 variable filled with its zero
    point, any other with zeros."""
    state = {}
    for t in graph.variables():
        fill = t.quant.zero_point if t.type == INT8 and t.quant is not None else 0
        state[id(t)] = np.full(t.shape, fill, dtype=t.type.np_dtype)
    return state


def _operands(op: Operator, values: dict[int, np.ndarray], state: State) -> Arrays:
    """The op's input arrays: constants' data, computed values, the state (updated in place), None for absent
    inputs."""
    arrays: Arrays = []
    for t in op.inputs:
        if t is None:
            arrays.append(None)
        elif t.data is not None:
            arrays.append(t.data)
        elif t.variable:
            arrays.append(state[id(t)])
        elif id(t) in values:
            arrays.append(values[id(t)])
        else:
            raise ValueError(f"{op.label} reads tensor {t.name!r} before any op writes it")
    if op.type == COPY:  # it writes a rectangle of its destination: the rest stays as it is
        arrays.append(values.get(id(op.outputs[0])))
    return arrays


def run(graph: Graph, inputs: list[np.ndarray], state: State | None = None) -> list[np.ndarray]:
    """One inference: the graph's output arrays for these input arrays (in model order, of the inputs' dtypes).

    A stateful model continues from `state` (from `initial_state`, updated in place, so that passing it again
    streams inferences as a device does); without one it starts from the reset state."""
    if len(inputs) != len(graph.inputs):
        raise InputDataError(
            f"{len(inputs)} input arrays for a model with {len(graph.inputs)} inputs",
            "pass one array per model input, in model order",
        )
    pairs = enumerate(zip(graph.inputs, inputs, strict=True))
    values = {id(t): _check_input(t, np.asarray(x), i) for i, (t, x) in pairs}
    state = initial_state(graph) if state is None else state
    for op in graph.ops:
        definition = DEFINITIONS.get(op.type)
        if definition is None:
            raise UnsupportedOpError(
                f"{op.label} (output {op.outputs[0].name!r}): operator {op.type} has no reference implementation",
                "optimise the model first (it folds shape computations) or re-export it with supported operators",
            )
        results = definition.reference(op, _operands(op, values, state))
        for t, y in zip(op.outputs, results, strict=True):
            if y.shape != tuple(t.shape) or y.dtype != t.type.np_dtype:
                raise AssertionError(f"{op.label} computed {y.dtype}{y.shape} for {t.type}{t.shape} {t.name!r}")
            values[id(t)] = y
    outputs = []
    for t in graph.outputs:
        y = t.data if t.data is not None else values.get(id(t))
        if y is None:
            raise ValueError(f"no op computes output {t.name!r}")
        outputs.append(y)
    return outputs


def run_bytes(graph: Graph, data: bytes) -> bytes:
    """`run` on raw bytes, in the host program's format: each inference's input tensors concatenated in model
    order, any number of inferences back to back, streamed (a stateful model's state carries from each to the
    next, as in the host program); the outputs likewise."""
    need = sum(t.nbytes for t in graph.inputs)
    if not data or len(data) % need:
        shapes = ", ".join(f"{t.type}{list(t.shape)}" for t in graph.inputs)
        raise InputDataError(
            f"{len(data)} bytes of input; one inference needs {need} bytes ({shapes})",
            "write the input tensors as raw bytes in model order (numpy: array.astype(dtype).tofile(path))",
        )
    result = bytearray()
    state = initial_state(graph)
    for start in range(0, len(data), need):
        inputs, pos = [], start
        for t in graph.inputs:
            inputs.append(t.type.unpack(data[pos : pos + t.nbytes], t.num_elements))
            pos += t.nbytes
        for t, y in zip(graph.outputs, run(graph, inputs, state), strict=True):
            result += t.type.pack(y).tobytes()
    return bytes(result)
