"""Edits of TFLite flatbuffers through the generated object API (LiteRT's schema; no TensorFlow import).

Each function takes a model's bytes and returns new bytes, so edits compose and never touch a user's file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: TFLite's TensorType and BuiltinOperator numbers used here
_FLOAT32, _FLOAT16, _INT8, _INT4 = 0, 1, 9, 17
_QUANTIZE, _DEQUANTIZE = 114, 6
_BITS = {_INT8: 8, _INT4: 4}


def _schema() -> Any:
    import ai_edge_litert.schema_py_generated as fb

    return fb


def read_model(raw: bytes) -> Any:
    """The model as the schema's object API (ModelT): read-only uses, and edits `write_model` packs again.

    Buffers stored after the flatbuffer (offset and size, as converters and ai-edge-quantizer write large
    models) are read into the buffers themselves: the object API keeps only their offsets, which would point
    past the end of the packed model."""
    fb = _schema()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(bytearray(raw), 0))
    for buf in model.buffers or []:
        if buf.offset > 1:
            if buf.offset + buf.size > len(raw):
                raise ValueError("a buffer lies past the end of the model: the file is truncated")
            buf.data = np.frombuffer(raw, np.uint8, buf.size, buf.offset).copy()
            buf.offset, buf.size = 0, 0
    return model


def write_model(model: Any) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _text(value: str | bytes | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def with_signature(raw: bytes) -> bytes:
    """The model with a `serving_default` signature over its graph's inputs and outputs, if it had none.

    Models converted from bare concrete functions carry no signature; calibrating through LiteRT's signature
    runner needs one. The signature's names are the tensors' names.
    """
    model = read_model(raw)
    if model.signatureDefs:
        return raw
    fb = _schema()
    sub = model.subgraphs[0]

    def tensor_maps(indices: list[int]) -> list[Any]:
        maps = []
        for i in indices:
            m = fb.TensorMapT()
            m.name, m.tensorIndex = _text(sub.tensors[i].name) or f"t{i}", int(i)
            maps.append(m)
        return maps

    sig = fb.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = "serving_default", 0
    sig.inputs, sig.outputs = tensor_maps(list(sub.inputs)), tensor_maps(list(sub.outputs))
    model.signatureDefs = [sig]
    return write_model(model)


def float16_constants(raw: bytes) -> list[str]:
    """Names of the float16 constants the model dequantizes as it runs (how the converter's float16 option and
    MediaPipe store weights): ai-edge-quantizer leaves those layers in float."""
    model = read_model(raw)
    names = []
    for sub in model.subgraphs:
        for op in sub.operators:
            code = model.operatorCodes[op.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) != _DEQUANTIZE or op.inputs is None:
                continue
            src = sub.tensors[int(op.inputs[0])]
            if src.type == _FLOAT16 and model.buffers[src.buffer].data is not None:
                names.append(_text(src.name))
    return names


def add_float_edges(raw: bytes) -> bytes:
    """The model with float32 inputs and outputs: a QUANTIZE after each int8 input, a DEQUANTIZE before each
    int8 output. What TensorFlow's converter gives without an inference type, for models that came out of
    ai-edge-quantizer with int8 edges."""
    fb = _schema()
    model = read_model(raw)
    sub = model.subgraphs[0]

    def opcode(code: int, version: int) -> int:
        for i, c in enumerate(model.operatorCodes):
            if max(c.builtinCode, c.deprecatedBuiltinCode) == code:
                return i
        c = fb.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = code, min(code, 127), version
        model.operatorCodes.append(c)
        return len(model.operatorCodes) - 1

    def float_twin(index: int) -> int:
        """A float32 tensor standing for the int8 tensor `index` at the graph's edge; it takes over the name."""
        q = sub.tensors[index]
        t = fb.TensorT()
        t.shape, t.type, t.buffer, t.name = np.array(q.shape, dtype=np.int32), _FLOAT32, 0, q.name
        t.shapeSignature = q.shapeSignature
        q.name = f"{_text(q.name)}_int8"
        sub.tensors.append(t)
        return len(sub.tensors) - 1

    def op(code: int, version: int, src: int, dst: int) -> Any:
        o = fb.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = opcode(code, version), np.array([src]), np.array([dst])
        return o

    renamed: dict[int, int] = {}
    heads, tails = [], []
    inputs, outputs = list(sub.inputs), list(sub.outputs)
    for k, i in enumerate(inputs):
        if sub.tensors[i].type == _INT8:
            f = renamed[int(i)] = float_twin(int(i))
            heads.append(op(_QUANTIZE, 1, f, int(i)))
            inputs[k] = f
    for k, i in enumerate(outputs):
        if sub.tensors[i].type == _INT8:
            f = renamed[int(i)] = float_twin(int(i))
            tails.append(op(_DEQUANTIZE, 2, int(i), f))
            outputs[k] = f
    sub.operators = heads + list(sub.operators) + tails
    sub.inputs, sub.outputs = np.array(inputs, dtype=np.int32), np.array(outputs, dtype=np.int32)
    for sig in model.signatureDefs or []:
        for m in [*(sig.inputs or []), *(sig.outputs or [])]:
            m.tensorIndex = renamed.get(int(m.tensorIndex), m.tensorIndex)
    return write_model(model)


def set_metadata(raw: bytes, name: str, payload: bytes) -> bytes:
    """The model with a metadata entry `name` holding `payload`, replacing an entry of that name."""
    fb = _schema()
    model = read_model(raw)
    buffer = fb.BufferT()
    buffer.data = np.frombuffer(payload, dtype=np.uint8)
    model.buffers.append(buffer)
    entry = fb.MetadataT()
    entry.name, entry.buffer = name, len(model.buffers) - 1
    model.metadata = [m for m in model.metadata or [] if _text(m.name) != name] + [entry]
    return write_model(model)


def read_metadata(raw: bytes, name: str) -> bytes | None:
    """The payload of metadata entry `name`, or None. Reads with the `tflite` package, as the front end does."""
    import tflite

    model = tflite.Model.GetRootAs(raw, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if (entry.Name() or b"").decode(errors="replace") == name:
            data = model.Buffers(entry.Buffer()).DataAsNumpy()
            return b"" if isinstance(data, int) else data.tobytes()
    return None


def quantized_tensors(raw: bytes) -> list[tuple[int, str, int]]:
    """Every int8 (and int4) tensor of the main graph: index, name and bits."""
    import tflite

    sub = tflite.Model.GetRootAs(raw, 0).Subgraphs(0)
    found = []
    for i in range(sub.TensorsLength()):
        t = sub.Tensors(i)
        if t.Type() in _BITS:
            found.append((i, (t.Name() or b"").decode(errors="replace"), _BITS[t.Type()]))
    return found


def unpack_int4(data: np.ndarray, count: int) -> np.ndarray:
    """`count` signed 4-bit values packed two per byte, low nibble first (TFLite's INT4 buffers), as int8."""
    packed = np.asarray(data, dtype=np.uint8)
    nibbles = np.stack([packed & 0x0F, packed >> 4], axis=-1).reshape(-1)[:count].astype(np.int8)
    return np.where(nibbles > 7, nibbles - 16, nibbles).astype(np.int8)
