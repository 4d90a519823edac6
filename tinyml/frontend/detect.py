"""What a model file is, by its content rather than its extension: Keras archives and HDF5 files, SavedModel
directories, or TFLite flatbuffers; and what to do with the ones tinyml cannot compile directly.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from tinyml.errors import ModelFileError, UnsupportedModelError


def quantize_fix(subject: str, converter: str) -> str:
    """The one-line recipe for a full-int8 conversion of `subject`, starting from `converter` (its constructor)."""
    return (
        f"quantize {subject} to int8 with TensorFlow's converter: c = {converter}; "
        "c.optimizations = [tf.lite.Optimize.DEFAULT]; "
        "c.representative_dataset = a generator yielding ~100 real inputs, each as [np.float32 array]; "
        "c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]; "
        "write c.convert() to model.tflite"
    )


_KERAS_FROM = "tf.lite.TFLiteConverter.from_keras_model(tf.keras.models.load_model({path!r}))"


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def reject_other_formats(raw: bytes, path: Path) -> None:
    """Name the model formats people pass by mistake (Keras, SavedModel), recognised by content, not extension."""
    if raw[:4] == b"PK\x03\x04":
        try:
            names = set(zipfile.ZipFile(io.BytesIO(raw)).namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            names = set()
        if "config.json" in names:  # a Keras v3 archive: config.json, metadata.json, model.weights.h5
            raise UnsupportedModelError(
                f"{path}: is a Keras model (.keras archive), not a .tflite file; tinyml compiles int8 TFLite models",
                quantize_fix("it", _KERAS_FROM.format(path=str(path))),
            )
    # HDF5 keeps its superblock at 0, 512, 1024, 2048... bytes; Keras writes it at 0
    if any(raw[at : at + 8] == _HDF5_SIGNATURE for at in (0, 512, 1024, 2048)):
        if b"model_config" in raw:  # the attribute a whole-model Keras .h5 carries; weights-only files do not
            raise UnsupportedModelError(
                f"{path}: is a Keras model (HDF5 .h5 file), not a .tflite file; tinyml compiles int8 TFLite models",
                quantize_fix("it", _KERAS_FROM.format(path=str(path))),
            )
        raise ModelFileError(
            f"{path}: is an HDF5 file without a Keras model in it (weights only, or other data), not a TFLite model",
            "save the whole Keras model, then convert it to an int8 .tflite with TensorFlow's converter",
        )
    if path.name in ("saved_model.pb", "saved_model.pbtxt"):
        raise UnsupportedModelError(
            f"{path}: is the graph of a TensorFlow SavedModel, not a .tflite file; tinyml compiles int8 TFLite models",
            quantize_fix("the SavedModel", f"tf.lite.TFLiteConverter.from_saved_model({str(path.parent)!r})"),
        )
