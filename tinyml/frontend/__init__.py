"""The front end: model files into tinyml's IR (`load_model`), without importing TensorFlow."""

from tinyml.frontend.tflite import load_model, parse_model

__all__ = ["load_model", "parse_model"]
