"""Float models as TensorFlow sees them: loaded, their inputs described, and run in float.

Each kind has one loader: Keras 3 for `.keras` archives and `.h5` files Keras 3 wrote, tf-keras for `.h5` files
Keras 2 wrote (their TFOpLambda layers are unknown to Keras 3), TensorFlow for SavedModel directories, and
LiteRT's interpreter for float `.tflite` files. Everything here imports TensorFlow or LiteRT, so it runs inside
`quiet.tensorflow_quiet()`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import ModelFileError, UnsupportedModelError
from tinyml.frontend.detect import FLOAT_KINDS
from tinyml.quant.data import InputSpec
from tinyml.quant.progress import meter

#: samples per call when a float model runs a whole data set
_BATCH = 64


@dataclass
class FloatModel:
    """A loaded float model: what it takes, and how to run it."""

    path: Path
    #: a key of FLOAT_KINDS
    kind: str
    inputs: list[InputSpec]
    #: how many output tensors it has
    outputs: int
    #: what loaded it ("keras 3.15.1"), for the metadata
    loader: str
    #: the Keras model, the SavedModel's signature function, or the LiteRT signature runner
    handle: Any
    #: a float .tflite's bytes, with a signature added when it had none
    tflite: bytes | None = None
    #: the signature its data is fed through (SavedModel, .tflite)
    signature: str = "serving_default"
    #: what `handle` needs alive: a SavedModel's loaded object holds the variables its signature reads
    owner: Any = None

    @property
    def label(self) -> str:
        return FLOAT_KINDS[self.kind]

    def predict(self, inputs: Sequence[np.ndarray], progress: bool = False) -> np.ndarray:
        """The first output for every sample (inputs: one (n, *shape) float32 array per input), in float."""
        n = len(inputs[0])
        step = _BATCH if self.kind != "tflite" else 1  # a .tflite runs at its own batch size, 1
        chunks = []
        with meter(n, "float model", progress) as done:
            for start in range(0, n, step):
                chunks.append(self._run([x[start : start + step] for x in inputs]))
                done(len(chunks[-1]))
        return np.concatenate(chunks)

    def _run(self, batch: list[np.ndarray]) -> np.ndarray:
        if self.kind in ("keras", "keras-h5"):
            out = self.handle.predict_on_batch(batch[0] if len(batch) == 1 else batch)
            return np.asarray(out[0] if isinstance(out, list | tuple) else out)
        if self.kind == "savedmodel":
            import tensorflow as tf

            out = self.handle(**{s.name: tf.constant(x) for s, x in zip(self.inputs, batch, strict=True)})
            return np.asarray(next(iter(out.values())))
        out = self.handle(**{s.name: x for s, x in zip(self.inputs, batch, strict=True)})
        return np.asarray(next(iter(out.values())))


def open_float_model(path: Path, kind: str) -> FloatModel:
    """Load the float model at `path` (a kind from `frontend.detect.float_model_kind`)."""
    if kind in ("keras", "keras-h5"):
        return _keras(path, kind)
    if kind == "savedmodel":
        return _saved_model(path)
    return _tflite(path)


def _keras(path: Path, kind: str) -> FloatModel:
    if kind == "keras-h5" and _h5_keras_major(path) == 2:
        try:
            import tf_keras as lib
        except ImportError:
            raise UnsupportedModelError(
                f"{path}: was saved by Keras 2 (tf.keras), which Keras 3 cannot always load", "pip install tf-keras"
            ) from None
        loader = f"tf-keras {lib.__version__}"
    else:
        import keras as lib

        loader = f"keras {lib.__version__}"
    try:
        model = lib.models.load_model(str(path), compile=False)
    except Exception as e:  # Keras raises ValueError, TypeError, OSError... with its reason in the text
        raise _keras_error(path, e) from None
    names = getattr(model, "input_names", None) or [t.name for t in model.inputs]
    specs = [input_spec(path, name, tuple(t.shape)) for name, t in zip(names, model.inputs, strict=True)]
    for t in model.inputs:
        _require_float(path, getattr(t.dtype, "name", t.dtype))
    return FloatModel(path, kind, specs, len(model.outputs), loader, model)


def _h5_keras_major(path: Path) -> int:
    """The major version of the Keras that wrote an .h5 file (its `keras_version` attribute); 3 when unknown."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("keras_version", b"3")
    except OSError:
        return 3
    version = version.decode() if isinstance(version, bytes) else str(version)
    return int(version.split(".")[0]) if version.split(".")[0].isdigit() else 3


def _keras_error(path: Path, e: Exception) -> Exception:
    """Keras' reason for not loading a file, as one line with its fix."""
    text = str(e)
    if "Lambda" in text and "safe_mode" in text:
        return UnsupportedModelError(
            f"{path}: has a Lambda layer holding Python code, which Keras does not load from a file (safe mode)",
            "load it yourself with keras.models.load_model(path, safe_mode=False), export it as a SavedModel "
            "(model.export('saved')) and pass that directory",
        )
    custom = re.search(r"(?:Unknown (?:layer|object|class)|Could not locate (?:class|function))[:\s]+'?([\w.]+)", text)
    if custom:
        return UnsupportedModelError(
            f"{path}: uses {custom.group(1)!r}, a custom Keras class that is not registered here",
            "export a SavedModel where that class is defined (model.export('saved')) and pass that directory",
        )
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(e).__name__)
    return ModelFileError(
        f"{path}: Keras cannot load it ({first[:200]})", "check that the file is complete; save the model again"
    )


def _saved_model(path: Path) -> FloatModel:
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:  # TensorFlow's errors for damaged protobufs vary by version
        first = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise ModelFileError(
            f"{path}: TensorFlow cannot load this SavedModel ({first[:200]})", "export the model again"
        ) from None
    signatures = dict(loaded.signatures)
    key = "serving_default" if "serving_default" in signatures else next(iter(signatures), None)
    if key is None:
        raise UnsupportedModelError(
            f"{path}: the SavedModel has no serving signature, so its inputs are unknown",
            "export it with model.export(dir) (Keras) or tf.saved_model.save(obj, dir, signatures=f)",
        )
    fn = signatures[key]
    _, kwargs = fn.structured_input_signature
    specs = []
    for name, spec in kwargs.items():
        _require_float(path, spec.dtype.name)
        specs.append(input_spec(path, name, tuple(spec.shape)))
    loader = f"tensorflow {tf.__version__}"
    return FloatModel(path, "savedmodel", specs, len(fn.structured_outputs), loader, fn, signature=key, owner=loaded)


def _tflite(path: Path) -> FloatModel:
    from ai_edge_litert import __version__ as litert_version
    from ai_edge_litert.interpreter import Interpreter

    from tinyml.quant.flatbuf import float16_constants, with_signature

    halves = float16_constants(path.read_bytes())
    if halves:
        raise UnsupportedModelError(
            f"{path}: its weights are stored as float16 ({len(halves)} tensors, such as {halves[0]}), which "
            "post-training quantization of a .tflite leaves in float",
            "convert the model again with float32 weights, or quantize the Keras model or SavedModel it came from",
        )
    raw = with_signature(path.read_bytes())
    interp = Interpreter(model_content=raw)
    key = next(iter(interp.get_signature_list()))
    runner = interp.get_signature_runner(key)
    specs = []
    for name, d in runner.get_input_details().items():
        _require_float(path, np.dtype(d["dtype"]).name)
        specs.append(input_spec(path, name, tuple(int(v) for v in d["shape"]), aliases=(d.get("name", name),)))
    outputs = len(runner.get_output_details())
    return FloatModel(path, "tflite", specs, outputs, f"litert {litert_version}", runner, tflite=raw, signature=key)


def input_spec(path: Path, name: str, shape: tuple[Any, ...], aliases: tuple[str, ...] = ()) -> InputSpec:
    """An input's shape without its batch dimension; every other dimension must be known."""
    sample = shape[1:]
    if any(d is None or int(d) < 0 for d in sample):
        shown = ", ".join("None" if d is None or int(d) < 0 else str(d) for d in shape)
        raise UnsupportedModelError(
            f"{path}: input {name!r} has a size only known at run time ({shown})",
            "give the model a fixed input shape (keras.Input(shape=(height, width, channels)))",
        )
    if shape and shape[0] is not None and int(shape[0]) > 1:
        raise UnsupportedModelError(
            f"{path}: input {name!r} takes a batch of {shape[0]}; tinyml runs one sample at a time",
            "export the model with a batch dimension of 1 or None",
        )
    return InputSpec(name, tuple(int(d) for d in sample), aliases)


def _require_float(path: Path, dtype: str) -> None:
    if dtype not in ("float32", "float16", "float64"):
        raise UnsupportedModelError(
            f"{path}: an input takes {dtype} values; int8 quantization starts from float inputs",
            "quantize a model whose inputs are float32",
        )
