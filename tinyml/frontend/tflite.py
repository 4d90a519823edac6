"""Front end: a `.tflite` flatbuffer into the graph IR.

Reads with the `tflite` flatbuffer bindings, never TensorFlow, so that loading a
model takes milliseconds. Every failure to make sense of the file becomes a
`ModelFileError`; model-level limits (a float model, a Keras file or SavedModel
passed instead of a .tflite, several subgraphs) become `UnsupportedModelError`,
whose fix says how to quantize. Operator support is checked later, by `optimize`.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import tflite
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions
from tflite.Padding import Padding
from tflite.TensorType import TensorType

from tinyml.errors import ModelFileError, UnsupportedModelError
from tinyml.frontend.detect import float_model_fix, quantize_fix, reject_other_formats
from tinyml.ir import types
from tinyml.ir.graph import Graph, Operator, Quantization, Tensor
from tinyml.ops import parse_attrs

_OP_NAMES = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
_OPTION_NAMES = {v: k for k, v in vars(BuiltinOptions).items() if not k.startswith("_")}
_ACTIVATIONS = {v: k for k, v in vars(ActivationFunctionType).items() if not k.startswith("_")}
_PADDINGS = {v: k for k, v in vars(Padding).items() if not k.startswith("_")}
#: TFLite's tensor types as tinyml's element types; the others (strings, complex numbers, resources) are opaque
_TYPES = {
    TensorType.FLOAT32: types.FLOAT32,
    TensorType.FLOAT16: types.FLOAT16,
    TensorType.FLOAT64: types.FLOAT64,
    TensorType.INT32: types.INT32,
    TensorType.UINT8: types.UINT8,
    TensorType.INT64: types.INT64,
    TensorType.BOOL: types.BOOL,
    TensorType.INT16: types.INT16,
    TensorType.INT8: types.INT8,
    TensorType.UINT64: types.UINT64,
    TensorType.UINT32: types.UINT32,
    TensorType.UINT16: types.UINT16,
    TensorType.INT4: types.INT4,
}
_TYPE_NAMES = {v: k.lower() for k, v in vars(TensorType).items() if not k.startswith("_")}


def load_model(path: str | Path) -> Graph:
    """Read a TFLite model file into a Graph (entry point of this stage).

    Keras files and SavedModel directories are recognised by their content and
    refused with the way to convert them, before anything else is checked.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            raise UnsupportedModelError(
                f"{path}: is a float TensorFlow SavedModel directory, not an int8 .tflite file; "
                "tinyml compiles int8 models",
                float_model_fix(str(path)),
            )
        raise ModelFileError(f"{path}: is a directory, not a model file", "pass a .tflite file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file", "check the model path") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read: {e.strerror}", "check the file's permissions") from None
    if raw[4:8] != b"TFL3":
        reject_other_formats(raw, path)
    return parse_model(raw, name=path.stem)


def parse_model(raw: bytes, name: str = "model") -> Graph:
    """Parse flatbuffer bytes; see `load_model`."""
    if len(raw) < 8 or raw[4:8] != b"TFL3":
        raise ModelFileError(
            f"{name}: not a TensorFlow Lite model (no 'TFL3' file identifier)",
            "pass a .tflite flatbuffer produced by TensorFlow's TFLite converter",
        )
    try:
        graph = _read(raw, name)
    except (ModelFileError, UnsupportedModelError):
        raise
    except Exception:  # flatbuffers raises anything from IndexError to struct.error
        raise ModelFileError(
            f"{name}: the model file is truncated or corrupt (it does not parse as a TFLite flatbuffer)",
            "re-export or re-download the model",
        ) from None
    graph.source_hash = hashlib.sha256(raw).hexdigest()
    return graph


def _read(raw: bytes, name: str) -> Graph:
    model = tflite.Model.GetRootAs(raw, 0)
    root = int.from_bytes(raw[0:4], "little")
    if root >= len(raw):
        raise ModelFileError(f"{name}: the model file is truncated", "re-export the model")
    n_sub = model.SubgraphsLength()
    if n_sub == 0:
        raise ModelFileError(f"{name}: the model has no subgraph", "re-export the model")
    if n_sub > 1:
        raise UnsupportedModelError(
            f"{name}: the model has {n_sub} subgraphs (control flow such as WHILE/IF or CALL_ONCE); "
            "tinyml compiles single-subgraph models",
            "export the model without control flow (unroll loops, remove variable initialisers)",
        )
    sub = model.Subgraphs(0)
    buffers = [_buffer_bytes(model.Buffers(i), raw) for i in range(model.BuffersLength())]

    tensors: list[Tensor] = []
    for i in range(sub.TensorsLength()):
        tensors.append(_tensor(sub.Tensors(i), buffers, i))

    def tensor_at(j: int) -> Tensor | None:
        if j < 0:
            return None
        if j >= len(tensors):
            raise ModelFileError(f"{name}: operator refers to tensor {j} of {len(tensors)}", "re-export the model")
        return tensors[j]

    ops: list[Operator] = []
    for i in range(sub.OperatorsLength()):
        fop = sub.Operators(i)
        code = model.OperatorCodes(fop.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == BuiltinOperator.CUSTOM:
            op_type = f"CUSTOM:{(code.CustomCode() or b'?').decode(errors='replace')}"
        else:
            op_type = _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")
        inputs = [tensor_at(int(j)) for j in _as_list(fop.InputsAsNumpy())]
        outputs = [tensor_at(int(j)) for j in _as_list(fop.OutputsAsNumpy())]
        if any(t is None for t in outputs):
            raise ModelFileError(f"{name}: op #{i} has an absent output", "re-export the model")
        attrs = parse_attrs(op_type, _options(fop))  # typed, for every op type tinyml defines
        ops.append(Operator(op_type, inputs, outputs, attrs, index=i))  # type: ignore[arg-type]

    graph_inputs = [tensor_at(int(j)) for j in _as_list(sub.InputsAsNumpy())]
    graph_outputs = [tensor_at(int(j)) for j in _as_list(sub.OutputsAsNumpy())]
    graph = Graph(
        name=_c_safe(name),
        inputs=[t for t in graph_inputs if t is not None],
        outputs=[t for t in graph_outputs if t is not None],
        ops=ops,
    )
    _check_quantized(graph, name)
    return graph


def _as_list(v: Any) -> list[int]:
    """flatbuffers returns 0 instead of an empty array for absent vectors."""
    return [] if isinstance(v, int) else list(v)


def _buffer_bytes(buf: Any, raw: bytes) -> bytes:
    offset, size = buf.Offset(), buf.Size()
    if offset > 1:  # models over 2 GB keep buffers after the flatbuffer
        if offset + size > len(raw):
            raise ModelFileError("buffer data lies past the end of the file: truncated", "re-export the model")
        return raw[offset : offset + size]
    data = buf.DataAsNumpy()
    return b"" if isinstance(data, int) else data.tobytes()


def _tensor(ft: Any, buffers: list[bytes], index: int) -> Tensor:
    code = ft.Type()
    etype = _TYPES.get(code) or types.opaque(_TYPE_NAMES.get(code, f"type{code}"))
    tname = (ft.Name() or f"t{index}".encode()).decode(errors="replace")
    shape = tuple(int(d) for d in _as_list(ft.ShapeAsNumpy()))
    quant = None
    q = ft.Quantization()
    if q is not None and q.ScaleLength() > 0:
        scales = tuple(float(s) for s in np.asarray(q.ScaleAsNumpy(), dtype=np.float32))
        zps = _as_list(q.ZeroPointAsNumpy())
        zero_points = tuple(int(z) for z in zps) or (0,) * len(scales)
        quant = Quantization(scales, zero_points, int(q.QuantizedDimension()))
    data = None
    bidx = ft.Buffer()
    variable = bool(ft.IsVariable())
    if 0 < bidx < len(buffers) and buffers[bidx] and not variable:  # TFLM resets a variable's data, never reads it
        data = _decode(buffers[bidx], etype, shape, tname)
    return Tensor(tname, shape, etype, quant, data, index, variable)


def _decode(blob: bytes, etype: types.ElementType, shape: tuple[int, ...], name: str) -> np.ndarray:
    """A constant's values, unpacked (INT4: two values per byte, the first in the low nibble)."""
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if etype.kind == types.OPAQUE:
        return np.frombuffer(blob, dtype=np.uint8)
    if len(blob) != etype.nbytes(count):
        raise ModelFileError(
            f"constant tensor {name!r} holds {len(blob)} bytes, its shape {shape} of {etype} needs "
            f"{etype.nbytes(count)}: corrupt model",
            "re-export the model",
        )
    return etype.unpack(blob, count).reshape(shape)


#: ops that move or describe data without computing on it: float tensors through them are not float arithmetic
_NO_ARITHMETIC = {"QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "SHAPE"}
#: integer storage types of quantized activations
_QUANTIZED_TYPES = (types.INT8, types.UINT8, types.INT16)


def _check_quantized(graph: Graph, name: str) -> None:
    """Refuse float models before any operator is checked, so the user learns to quantize, not to re-export.

    A float model computes on float tensors and has no quantized activation;
    float inputs and outputs with QUANTIZE/DEQUANTIZE at the edges are an int8
    model. A model that is int8 in places but leaves some ops in float was
    quantized without requiring int8 everywhere.
    """
    float_ops = [
        op
        for op in graph.ops
        if op.type not in _NO_ARITHMETIC and any(t.type.is_float and not t.is_const for t in op.outputs)
    ]
    if not float_ops:
        return
    quantized = any(t.type in _QUANTIZED_TYPES and t.quant is not None for t in graph.activations())
    fix = quantize_fix(
        "the Keras model or SavedModel this file was converted from",
        "tf.lite.TFLiteConverter.from_keras_model(model) (or .from_saved_model(dir))",
    )
    if not quantized:
        float_weights = not any(
            t.quant is not None and (t.type in _QUANTIZED_TYPES or t.type.sub_byte) for t in graph.tensors()
        )
        raise UnsupportedModelError(
            f"{name}: this is a float model (its operators compute in floating point; no activation is int8); "
            "tinyml compiles int8 models",
            float_model_fix("MODEL") if float_weights else fix,  # int8 weights: quantize from the source
        )
    named = ", ".join(op.label for op in float_ops[:5]) + (", ..." if len(float_ops) > 5 else "")
    raise UnsupportedModelError(
        f"{name}: the model is only partly quantized: {len(float_ops)} operator(s) compute in floating point "
        f"({named}); tinyml compiles int8 models",
        f"{fix}; with TFLITE_BUILTINS_INT8 the converter quantizes every op or names the one it cannot",
    )


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _options(fop: Any) -> dict[str, Any]:
    """Builtin options as a plain dict with snake_case keys and enum names."""
    otype = fop.BuiltinOptionsType()
    table = fop.BuiltinOptions()
    if otype == 0 or table is None:
        return {}
    cls_name = _OPTION_NAMES.get(otype)
    if cls_name is None:
        return {}
    try:
        cls = getattr(importlib.import_module(f"tflite.{cls_name}"), cls_name)
    except (ImportError, AttributeError):
        return {}
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    attrs: dict[str, Any] = {}
    for meth in dir(cls):
        if meth.startswith("_") or not meth[0].isupper() or meth in ("Init",) or meth.startswith("GetRootAs"):
            continue
        if meth.endswith(("Length", "IsNone")) or "BufferHasIdentifier" in meth:
            continue
        if meth.endswith("AsNumpy"):
            attrs[_snake(meth[: -len("AsNumpy")])] = [int(v) for v in _as_list(getattr(opts, meth)())]
            continue
        if f"{meth}AsNumpy" in dir(cls):
            continue
        try:
            attrs[_snake(meth)] = getattr(opts, meth)()
        except TypeError:  # accessors that take an index
            continue
    if "fused_activation_function" in attrs:
        attrs["activation"] = _ACTIVATIONS.get(attrs.pop("fused_activation_function"), "UNKNOWN")
    if "padding" in attrs:
        attrs["padding"] = _PADDINGS.get(attrs["padding"], "UNKNOWN")
    return attrs


def _c_safe(name: str) -> str:
    safe = re.sub(r"[^0-9A-Za-z_]", "_", name) or "model"
    return f"m_{safe}" if safe[0].isdigit() else safe
