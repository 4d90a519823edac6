"""What a model file is, by its content rather than its extension: Keras archives and HDF5 files, SavedModel
directories, or TFLite flatbuffers (int8 or float); and what to do with the ones tinyml cannot compile directly.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from tinyml.errors import ModelFileError, UnsupportedModelError

#: what each kind of float model is called in messages
FLOAT_KINDS = {
    "keras": "Keras model (.keras archive)",
    "keras-h5": "Keras model (HDF5 .h5 file)",
    "savedmodel": "TensorFlow SavedModel",
    "tflite": "float TFLite model",
}


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def float_model_fix(model: str) -> str:
    """The fix for a float model passed where an int8 one is needed: calibration data, on the way or once."""
    return (
        "add --calib DATA (an .npz of inputs, or a folder of images or of .bin tensors) to quantize it to int8 "
        f"on the way, or quantize it once: tinyml quantize {model} -o model_int8.tflite --calib DATA"
    )


def quantize_fix(subject: str, converter: str) -> str:
    """The one-line recipe for a full-int8 conversion of `subject`, starting from `converter` (its constructor):
    for files tinyml cannot quantize itself (partly quantized ones), which must be converted again from source."""
    return (
        f"quantize {subject} to int8: tinyml quantize MODEL -o model.tflite --calib DATA, or TensorFlow's "
        f"converter: c = {converter}; "
        "c.optimizations = [tf.lite.Optimize.DEFAULT]; "
        "c.representative_dataset = a generator yielding ~100 real inputs, each as [np.float32 array]; "
        "c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]; "
        "write c.convert() to model.tflite"
    )


def float_model_kind(path: Path) -> tuple[str, Path] | None:
    """The kind of float model at `path` (a key of FLOAT_KINDS) and the path to quantize (a SavedModel's
    directory), or None for anything else: int8 TFLite models, partly quantized ones, files that are no model.

    A float TFLite model is one without any quantized tensor; files with int8 weights but float activations
    (dynamic-range quantized) are not float models: their float weights are gone.
    """
    if path.is_dir():
        has_graph = (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()
        return ("savedmodel", path) if has_graph else None
    if path.name in ("saved_model.pb", "saved_model.pbtxt"):
        return "savedmodel", path.parent
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if raw[4:8] == b"TFL3":
        return ("tflite", path) if _is_float_tflite(raw) else None
    if raw[:4] == b"PK\x03\x04" and "config.json" in _zip_names(raw):
        return "keras", path
    if _is_hdf5(raw) and b"model_config" in raw:
        return "keras-h5", path
    return None


def _is_float_tflite(raw: bytes) -> bool:
    """No tensor is quantized, and some tensor is float32: a model TensorFlow converted without quantizing."""
    import tflite
    from tflite.TensorType import TensorType

    try:
        model = tflite.Model.GetRootAs(raw, 0)
        floats = False
        for s in range(model.SubgraphsLength()):
            sub = model.Subgraphs(s)
            for i in range(sub.TensorsLength()):
                t = sub.Tensors(i)
                q = t.Quantization()
                if q is not None and q.ScaleLength() > 0 and t.Type() != TensorType.FLOAT32:
                    return False
                floats = floats or t.Type() == TensorType.FLOAT32
        return floats
    except Exception:  # a damaged flatbuffer: the front end names the damage
        return False


def _zip_names(raw: bytes) -> set[str]:
    try:
        return set(zipfile.ZipFile(io.BytesIO(raw)).namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return set()


def _is_hdf5(raw: bytes) -> bool:
    """HDF5 keeps its superblock at 0, 512, 1024, 2048... bytes; Keras writes it at 0."""
    return any(raw[at : at + 8] == _HDF5_SIGNATURE for at in (0, 512, 1024, 2048))


def reject_other_formats(raw: bytes, path: Path) -> None:
    """Name the model formats people pass by mistake (Keras, SavedModel), recognised by content, not extension."""
    if raw[:4] == b"PK\x03\x04" and "config.json" in _zip_names(raw):
        # a Keras v3 archive: config.json, metadata.json, model.weights.h5
        raise UnsupportedModelError(
            f"{path}: is a float Keras model (.keras archive), not an int8 .tflite file; tinyml compiles int8 models",
            float_model_fix(str(path)),
        )
    if _is_hdf5(raw):
        if b"model_config" in raw:  # the attribute a whole-model Keras .h5 carries; weights-only files do not
            raise UnsupportedModelError(
                f"{path}: is a float Keras model (HDF5 .h5 file), not an int8 .tflite file; "
                "tinyml compiles int8 models",
                float_model_fix(str(path)),
            )
        raise ModelFileError(
            f"{path}: is an HDF5 file without a Keras model in it (weights only, or other data), not a TFLite model",
            "save the whole Keras model (model.save), then pass it with --calib DATA to quantize it",
        )
    if path.name in ("saved_model.pb", "saved_model.pbtxt"):
        raise UnsupportedModelError(
            f"{path}: is the graph of a float TensorFlow SavedModel, not an int8 .tflite file; "
            "tinyml compiles int8 models",
            float_model_fix(str(path.parent)),
        )
