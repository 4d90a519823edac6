"""The oracles: tinyml's own IR interpreter (NumPy, TFLite's integer semantics) and TFLite Micro.

`run(graph, inputs)` interprets any IR graph, including ones TFLite cannot express; `tflm` wraps TFLite
Micro's interpreter for .tflite files. Generated code is checked against both.
"""

from tinyml.reference.interpreter import run, run_bytes

__all__ = ["run", "run_bytes"]
