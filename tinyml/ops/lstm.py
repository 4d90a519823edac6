"""UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations and weights with an int16 cell state (TFLite's "8x8_16" integer
LSTM), as TFLite Micro's integer kernel runs it.

Per batch row and time step, four gates each add two fully connected layers (the step's input, the hidden state)
into int16 values in Q3.12, squashed to Q0.15 by integer sigmoid and tanh; the cell state (int16, a power-of-two
scale) and the hidden state (int8) are variable tensors that persist between inferences, so a stream of calls
continues one sequence until a reset. No peepholes, projection or layer normalisation (TFLM refuses them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from tinyml.ir.graph import Operator, Tensor
from tinyml.ir.types import INT8, INT16, INT32
from tinyml.ops.arith import as_int64, multiply_by_quantized_multiplier, wrap_int32
from tinyml.ops.base import (
    Arrays,
    OpDef,
    Role,
    Unsupported,
    array,
    define,
    quant,
    require_per_tensor,
    require_quantized,
)
from tinyml.ops.fixedpoint import f32, quantize_multiplier

#: input positions: the four gates' input weights, recurrent weights and biases, in TFLite's gate order
GATES = ("input", "forget", "cell", "output")
INPUT_WEIGHTS = (1, 2, 3, 4)
RECURRENT_WEIGHTS = (5, 6, 7, 8)
BIASES = (12, 13, 14, 15)
HIDDEN_STATE, CELL_STATE = 18, 19
#: peepholes (9-11), projection (16, 17) and layer norm (20-23): TFLM's integer LSTM takes none of them
ABSENT = (9, 10, 11, 16, 17, 20, 21, 22, 23)
#: TFLM's fixed gate formats: fully connected results in Q3.12, sigmoid and tanh outputs in Q0.15
GATE_SCALE = 2.0**-12
NONLINEAR_SCALE = 2.0**-15


@dataclass(frozen=True)
class LstmAttrs:
    """TFLite's UnidirectionalSequenceLSTMOptions that matter to the integer kernel."""

    #: the cell gate's nonlinearity: TANH (the only one TFLite's schema can name that TFLM's LSTM runs)
    activation: str = "TANH"
    cell_clip: float = 0.0
    proj_clip: float = 0.0
    time_major: bool = False

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> LstmAttrs:
        return cls(
            activation=str(options.get("activation", "TANH")),
            cell_clip=float(options.get("cell_clip", 0.0)),
            proj_clip=float(options.get("proj_clip", 0.0)),
            time_major=bool(options.get("time_major", False)),
        )


@dataclass(frozen=True)
class LstmShape:
    batches: int
    steps: int
    input_size: int
    units: int


def lstm_shape(op: Operator) -> LstmShape:
    """Batches, time steps, input and state sizes, from the input and the hidden state."""
    d0, d1, input_size = op.input(0).shape
    batches, steps = (d1, d0) if op.attrs.time_major else (d0, d1)
    return LstmShape(batches, steps, input_size, op.input(INPUT_WEIGHTS[0]).shape[0])


@dataclass(frozen=True)
class LstmParams:
    """What TFLM's PrepareGateParametersInteger derives: per gate the multipliers of its input and recurrent fully
    connected layers into Q3.12; the three products' multipliers; the cell state's power and clip."""

    input_quant: tuple[tuple[int, int], ...]
    recurrent_quant: tuple[tuple[int, int], ...]
    input_offset: int
    hidden_offset: int
    #: forget x cell -> cell, input x cell gate -> cell, tanh(cell) x output gate -> hidden
    forget_cell_quant: tuple[int, int]
    input_cell_quant: tuple[int, int]
    hidden_quant: tuple[int, int]
    hidden_zero_point: int
    #: tanh(cell)'s input scaling (TFLM's Tanh input_multiplier, input_left_shift, resolved)
    cell_tanh_multiplier: int
    cell_tanh_shift: int
    #: the cell clip in the cell state's units (0: none)
    cell_clip: int


def _fc_multiplier(inp: Tensor, weights: Tensor) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler: double(input scale) * double(weights scale) / double(2^-12)."""
    return quantize_multiplier(quant(inp).scale * quant(weights).scale / GATE_SCALE)


def _tanh_scaling(power: int) -> tuple[int, int]:
    """lstm_internal::Tanh then reference Tanh: the input multiplier and right shift they end up with."""
    shift = 15 + power - 3
    multiplier = 0
    if shift < 0:
        shift, multiplier = -shift, 3
    if multiplier == 0:
        return 3 << shift, 0
    return multiplier, shift


def lstm_params(op: Operator) -> LstmParams:
    inp, hidden, cell = op.input(0), op.input(HIDDEN_STATE), op.input(CELL_STATE)
    cell_scale = quant(cell).scale
    # CheckedLog2: float log times float 1/log(2), rounded half away from zero
    log2 = f32(f32(math.log(f32(cell_scale))) * f32(1.0 / f32(math.log(2.0))))
    power = int(math.copysign(math.floor(abs(log2) + 0.5), log2))
    clip = op.attrs.cell_clip
    quantized_clip = int(min(max(float(f32(clip)) / cell_scale, -32768.0), 32767.0)) if clip > 0 else 0
    hq = quant(hidden)
    return LstmParams(
        input_quant=tuple(_fc_multiplier(inp, op.input(i)) for i in INPUT_WEIGHTS),
        recurrent_quant=tuple(_fc_multiplier(hidden, op.input(i)) for i in RECURRENT_WEIGHTS),
        input_offset=-quant(inp).zero_point,
        hidden_offset=-hq.zero_point,
        forget_cell_quant=quantize_multiplier(NONLINEAR_SCALE * cell_scale / cell_scale),
        input_cell_quant=quantize_multiplier(NONLINEAR_SCALE * NONLINEAR_SCALE / cell_scale),
        hidden_quant=quantize_multiplier(NONLINEAR_SCALE * NONLINEAR_SCALE / hq.scale),
        hidden_zero_point=hq.zero_point,
        cell_tanh_multiplier=_tanh_scaling(power)[0],
        cell_tanh_shift=_tanh_scaling(power)[1],
        cell_clip=quantized_clip,
    )


@cache
def sigmoid_table() -> np.ndarray:
    """The 256-entry sigmoid table TFLite's int16 LOGISTIC and TANH interpolate in: sigmoid(i / 24) in 0.16 fixed
    point, each entry raised by half the error a chord makes over a unit step (f''/16), so that linear interpolation
    errs evenly both ways; the last entry is the saturation value."""
    i = np.arange(256, dtype=np.float64)
    s = 1.0 / (1.0 + np.exp(-i / 24))
    curvature = np.abs(65536.0 / 576.0 * s * (1 - s) * (1 - 2 * s))
    values = np.floor(65536.0 * s + curvature / 16 + 0.5)
    values[-1] = 65535
    return np.minimum(values, 65535).astype(np.uint16)


def sigmoid_int16(x: np.ndarray) -> np.ndarray:
    """reference_integer_ops::Logistic for a Q3.12 input (multiplier 3, no shift) to Q0.15."""
    table = sigmoid_table().astype(np.int64)
    v = as_int64(x) * 3
    a = np.abs(v)
    uh = a >> 9
    idx = np.minimum(uh, 254)
    interp = (table[idx] << 9) + (a & 0x1FF) * (table[idx + 1] - table[idx])
    result = np.where(uh >= 255, 0x7FFF << 10, interp)
    result = np.where(v >= 0, result + (1 << 9), (1 << 25) - result + (1 << 9) - 1)
    return (result >> 10).astype(np.int16)


def tanh_int16(x: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """reference_integer_ops::Tanh with its input scaling resolved (see `_tanh_scaling`), to Q0.15."""
    table = sigmoid_table().astype(np.int64)
    rounding = (1 << (shift - 1)) if shift > 0 else 0
    v = (as_int64(x) * multiplier + rounding) >> shift
    a = np.abs(v)
    uh = a >> 8
    idx = np.minimum(uh, 254)
    interp = (table[idx] << 8) + (a & 0xFF) * (table[idx + 1] - table[idx])
    result = np.where(uh >= 255, 0xFFFF << 8, interp)
    result = np.where(v >= 0, result - (1 << 23) + (1 << 7), -result + (1 << 23) + (1 << 7) - 1)
    return (result >> 8).astype(np.int16)


def _fc_q312(x: np.ndarray, offset: int, w: np.ndarray, bias: np.ndarray | None, q: tuple[int, int]) -> np.ndarray:
    """An int8 fully connected layer to int16 (TFLM's reference FullyConnected with an int16 output, no
    activation): the int32 sum, rescaled, saturated."""
    acc = wrap_int32((as_int64(x) + offset) @ as_int64(w).T + (0 if bias is None else as_int64(bias)))
    return np.clip(multiply_by_quantized_multiplier(acc, *q), -32768, 32767)


def _mul(a: np.ndarray, b: np.ndarray, q: tuple[int, int], offset: int, lo: int, hi: int) -> np.ndarray:
    """MulElementwise of two symmetric int16 operands into an offset, clamped result."""
    return np.clip(multiply_by_quantized_multiplier(as_int64(a) * as_int64(b), *q) + offset, lo, hi)


@define
class UnidirectionalSequenceLstm(OpDef):
    op_types = ("UNIDIRECTIONAL_SEQUENCE_LSTM",)
    attrs_type = LstmAttrs
    input_roles = (
        Role.FEATURE,
        *(Role.WEIGHTS,) * 11,
        *(Role.BIAS,) * 4,
        Role.WEIGHTS,
        Role.BIAS,
        Role.STATE,
        Role.STATE,
        *(Role.PARAM,) * 4,
    )
    weights_channel_axis = 0
    weight_types = (INT8,)

    def validate(self, op: Operator) -> None:
        if len(op.inputs) != 24 or len(op.outputs) != 1:
            raise Unsupported(f"LSTM with {len(op.inputs)} inputs and {len(op.outputs)} outputs (24 and 1 expected)")
        present = [i for i in ABSENT if op.inputs[i] is not None]
        if present:
            raise Unsupported(
                "LSTM with peepholes, projection or layer normalisation (TFLite Micro's integer LSTM has none)"
            )
        required = (0, *INPUT_WEIGHTS, *RECURRENT_WEIGHTS, *BIASES, HIDDEN_STATE, CELL_STATE)
        if any(op.inputs[i] is None for i in required):
            raise Unsupported("LSTM without all four gates' weights and biases (CIFG is not supported)")
        inp, hidden, cell, out = op.input(0), op.input(HIDDEN_STATE), op.input(CELL_STATE), op.outputs[0]
        weights = [op.input(i) for i in (*INPUT_WEIGHTS, *RECURRENT_WEIGHTS)]
        biases = [op.input(i) for i in BIASES]
        require_quantized(inp, hidden, out, *weights)
        require_quantized(cell, types=(INT16,))
        require_per_tensor(inp, hidden, cell, out, *weights)
        if any(t.data is None for t in [*weights, *biases]):
            raise Unsupported("LSTM weights or biases computed at run time")
        if any(t.type != INT32 for t in biases):
            raise Unsupported("LSTM biases that are not int32")
        if not hidden.variable or not cell.variable:
            raise Unsupported("LSTM state that is not a variable tensor")
        if any(quant(w).zero_point for w in weights):
            raise Unsupported("LSTM weights with a non-zero zero point")
        if op.attrs.activation != "TANH":
            raise Unsupported(f"LSTM cell activation {op.attrs.activation}")
        if len(inp.shape) != 3:
            raise Unsupported(f"LSTM input {inp.shape}: 3-D expected")
        s = lstm_shape(op)
        for w in weights[:4]:
            if tuple(w.shape) != (s.units, s.input_size):
                raise Unsupported(f"LSTM input weights {w.shape}; {(s.units, s.input_size)} expected")
        for w in weights[4:]:
            if tuple(w.shape) != (s.units, s.units):
                raise Unsupported(f"LSTM recurrent weights {w.shape}; {(s.units, s.units)} expected")
        for b in biases:
            if b.num_elements != s.units:
                raise Unsupported(f"LSTM bias {b.name!r} has {b.num_elements} values for {s.units} units")
        for state in (hidden, cell):
            if state.num_elements != s.batches * s.units:
                raise Unsupported(f"LSTM state {state.name!r} {state.shape}; {s.batches * s.units} values expected")
        if (quant(out).scale, quant(out).zero_point) != (quant(hidden).scale, quant(hidden).zero_point):
            raise Unsupported("LSTM output quantized unlike its hidden state")
        self.check_shapes(op)

    def infer_shapes(self, op: Operator) -> list[tuple[int, ...]]:
        d0, d1, _ = op.input(0).shape
        return [(d0, d1, lstm_shape(op).units)]

    def macs(self, op: Operator) -> int:
        s = lstm_shape(op)
        return s.batches * s.steps * (4 * s.units * (s.input_size + s.units) + 3 * s.units)

    def reference(self, op: Operator, inputs: Arrays) -> list[np.ndarray]:
        """TFLM's EvalLstm: per batch row, time step by time step, the forget, input and cell gates from the step's
        input and the previous hidden state; the cell state updated (forget x cell + input x cell gate, saturated,
        clipped); the output gate; the hidden state as tanh(cell) x output gate, which is the step's output. Updates
        both state arrays in place."""
        s, p = lstm_shape(op), lstm_params(op)
        x = array(inputs, 0)
        if op.attrs.time_major:
            x = x.transpose(1, 0, 2)
        w_in = [array(inputs, i) for i in INPUT_WEIGHTS]
        w_rec = [array(inputs, i) for i in RECURRENT_WEIGHTS]
        bias = [array(inputs, i) for i in BIASES]
        hidden = array(inputs, HIDDEN_STATE).reshape(s.batches, s.units)
        cell = array(inputs, CELL_STATE).reshape(s.batches, s.units)
        out = np.empty((s.batches, s.steps, s.units), dtype=np.int8)

        def gate(k: int, xt: np.ndarray, h: np.ndarray) -> np.ndarray:
            a = _fc_q312(xt, p.input_offset, w_in[k], bias[k], p.input_quant[k])
            b = _fc_q312(h, p.hidden_offset, w_rec[k], None, p.recurrent_quant[k])
            return np.clip(a + b, -32768, 32767)

        for t in range(s.steps):
            xt, h = x[:, t, :], hidden.copy()
            forget = sigmoid_int16(gate(1, xt, h))
            in_gate = sigmoid_int16(gate(0, xt, h))
            cell_gate = tanh_int16(gate(2, xt, h), 3, 0)  # Q3.12: TFLM's Tanh with power -12
            kept = _mul(forget, cell, p.forget_cell_quant, 0, -32768, 32767)
            added = _mul(in_gate, cell_gate, p.input_cell_quant, 0, -32768, 32767)
            c = np.clip(kept + added, -32768, 32767)
            if p.cell_clip:
                c = np.clip(c, -p.cell_clip, p.cell_clip)
            cell[...] = c
            out_gate = sigmoid_int16(gate(3, xt, h))
            squashed = tanh_int16(cell, p.cell_tanh_multiplier, p.cell_tanh_shift)
            hidden[...] = _mul(squashed, out_gate, p.hidden_quant, p.hidden_zero_point, -128, 127)
            out[:, t, :] = hidden
        if op.attrs.time_major:
            out = out.transpose(1, 0, 2)
        return [np.ascontiguousarray(out).reshape(op.outputs[0].shape)]
