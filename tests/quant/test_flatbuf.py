"""Flatbuffer edits keep every weight: buffers stored after the flatbuffer (offset and size, as ai-edge-quantizer and
the converter write large models) survive a read and a write, so an edited model is never silently cut short."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import mlperf_dir

from tinyml.frontend.tflite import load_model
from tinyml.quant.flatbuf import read_model, set_metadata, write_model


def _with_buffers_after(raw: bytes) -> bytes:
    """`raw` rewritten as large models are stored: every non-empty buffer's bytes after the flatbuffer, at 16-byte
    aligned offsets from the file's start, the buffers holding only offset and size."""
    model = read_model(raw)
    blobs = [(b, bytes(b.data)) for b in model.buffers if b.data is not None and len(b.data)]
    for b, blob in blobs:  # placeholders first: non-zero, so the packed size is what it will be
        b.data, b.offset, b.size = None, 1 << 40, len(blob)
    head = len(write_model(model))
    offset, tail = (head + 15) // 16 * 16, b""
    for b, blob in blobs:
        b.offset = offset + len(tail)
        tail += blob + bytes(-len(blob) % 16)
    packed = write_model(model)
    assert len(packed) == head
    return packed + bytes(offset - head) + tail


def _tensors(path: Path) -> dict[str, bytes]:
    return {t.name: t.data.tobytes() for t in load_model(path).tensors() if t.data is not None}


def test_buffers_after_the_flatbuffer_survive_an_edit(tmp_path: Path) -> None:
    source = mlperf_dir() / "ad01_int8.tflite"
    outside = tmp_path / "outside.tflite"
    outside.write_bytes(_with_buffers_after(source.read_bytes()))
    want = _tensors(source)
    assert _tensors(outside) == want  # the layout the test builds is what the front end reads

    edited = tmp_path / "edited.tflite"
    edited.write_bytes(set_metadata(outside.read_bytes(), "tinyml", b"{}"))
    assert _tensors(edited) == want
    weights = sum(len(v) for v in want.values())
    assert weights > 200_000 and edited.stat().st_size > weights


def test_a_truncated_buffer_is_refused() -> None:
    raw = _with_buffers_after((mlperf_dir() / "ad01_int8.tflite").read_bytes())
    with pytest.raises(ValueError, match="truncated"):
        read_model(raw[:-100])
