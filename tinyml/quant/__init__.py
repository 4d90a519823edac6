"""Quantization: float models (Keras, SavedModel, float .tflite) into int8 TFLite models tinyml compiles.

The stages, one module each, so that later precision choices slot in beside them rather than into them:

    source.py    what float model a path holds, its inputs, and running it in float (for `eval --float`)
    data.py      calibration and evaluation data: an .npz, a folder of images, or a folder of .bin tensors
    convert.py   the converters: TensorFlow's (Keras, SavedModel) and ai-edge-quantizer's (float .tflite)
    flatbuf.py   edits of the TFLite flatbuffer: signatures, float edges, metadata entries
    metadata.py  the "tinyml" metadata entry: where the model came from and how many bits each tensor holds
    ptq.py       post-training quantization end to end (`quantize`), and its content-keyed cache
    qat.py       quantization-aware training end to end (`train_quantized`): fine-tuning with fake quantization
    carry.py     a Keras model rebuilt in tf-keras as TFLite will compute it (batch norms folded, ReLUs fused)
    fakequant.py fake quantization at 8, 4 and 2 bits on tensorflow-model-optimization
    options.py   `QuantOptions` and `QatOptions`: every choice that changes the quantized model
    mixed.py     mixed precision end to end (`quantize_mixed`): bits per layer chosen to fit a board's memory
    footprint.py what an assignment of bits needs, by tinyml's planner and report on the int8 graph retyped
    sensitivity.py  how much each layer's bits matter, measured on calibration data
    search.py    the rules that choose the bits: Rusci et al.'s memory-driven one, and the least sensitivity
    quiet.py, progress.py   TensorFlow's own output captured; progress bars on the terminal only

Later precision work adds to these seams: more fields in QuantOptions (part of the cache key and the metadata),
other converters beside convert.py's two, and bits other than 8 in the metadata's per-tensor entries.

Importing this package imports neither TensorFlow nor the converters; only quantizing does.
"""

from tinyml.quant.options import INPUT_RANGES, QuantOptions

__all__ = ["INPUT_RANGES", "QuantOptions"]
