"""A candidate as our IR, straight from its description: what TFLite's converter makes of its Keras model.

The search prices thousands of candidates; converting each one with TensorFlow would take seconds, building its
graph here takes milliseconds. The graph has exactly the ops, shapes, tensor types and tensor order the converter
writes for `tinyml.nas.model.build_keras(arch, ...)` after full-integer post-training quantization (batch norm
folded into the convolutions' weights and biases, ReLU fused, the global average pool a MEAN over height and
width, the classifier a FULLY_CONNECTED then SOFTMAX), so the planner, the code generator and the report give the
same memory and cycle figures for both. Only the numbers differ: weights are seeded random values and scales and
zero points plausible ones (a ReLU's output at zero point -128, as calibration puts it; the input at 1/255, as
pixels in 0..1 quantize), since no figure the search uses depends on them.

With `bits="w4a8"` the convolution, depthwise and classifier weights are INT4 tensors (values -7 … 7, unpacked
as the front end holds them; the classifier's quantized per tensor), as quantization-aware training at 4-bit
weights writes them; the graph optimiser
then stores them packed wherever tinyml does, so the planner and the report price packed weights.
"""

from __future__ import annotations

import numpy as np

from tinyml.ir.builder import GraphBuilder
from tinyml.ir.graph import Graph, Tensor
from tinyml.ir.types import INT4, INT8, ElementType
from tinyml.nas.space import Arch, Stage

#: the weight type per `bits`; activations are int8 in both
WEIGHT_TYPES: dict[str, ElementType] = {"8": INT8, "w4a8": INT4}
#: the input quantization of pixels scaled to 0..1 (QuantOptions.input_range's default)
INPUT_SCALE, INPUT_ZERO_POINT = 1 / 255, -128


class _Builder:
    """The candidate's layers on a GraphBuilder, each drawing its numbers from one seeded generator."""

    def __init__(self, arch: Arch, weights: ElementType, seed: int) -> None:
        self.b = GraphBuilder(f"tinynas_{arch.key}")
        self.rng = np.random.default_rng(seed)
        self.wtype = weights
        #: zero points for outputs without a ReLU, each used once (see `_out`)
        self._zero_points = [int(z) for z in self.rng.permutation(np.arange(-60, 60))]

    def _values(self, shape: tuple[int, ...]) -> np.ndarray:
        """Symmetric weights over the type's narrow range (int8 -127 … 127, int4 -7 … 7), as the converter
        quantizes them."""
        top = int(self.wtype.max)
        return self.rng.integers(-top, top + 1, size=shape)

    def _out(self, relu: bool) -> dict[str, float | int]:
        """A plausible output quantization: after a ReLU the range starts at zero (zero point -128); other
        outputs get a zero point no other tensor has. The code generator shares identical parameter structs and
        arrays between layers, so a converted model whose calibration happens to give two layers the same
        parameters takes a little less flash; distinct ones make this graph's flash the figure without such luck."""
        scale = float(self.rng.uniform(0.01, 0.1))
        return {"scale": scale, "zero_point": -128 if relu else self._zero_points.pop()}

    def _bias(self, n: int) -> np.ndarray:
        return self.rng.integers(-2000, 2000, size=n)

    def conv(self, x: Tensor, channels: int, kernel: int, stride: int, relu: bool) -> Tensor:
        c_in = x.shape[-1]
        scales = self.rng.uniform(0.002, 0.02, size=channels)
        w = self.b.weights(self._values((channels, kernel, kernel, c_in)), list(scales), self.wtype)
        return self.b.conv2d(
            x,
            w,
            self._bias(channels),
            stride=stride,
            padding="SAME",
            activation="RELU" if relu else "NONE",
            **self._out(relu),
        )

    def depthwise(self, x: Tensor, kernel: int, stride: int) -> Tensor:
        c = x.shape[-1]
        scales = self.rng.uniform(0.002, 0.02, size=c)
        w = self.b.weights(self._values((1, kernel, kernel, c)), list(scales), self.wtype, axis=3)
        return self.b.depthwise_conv2d(
            x, w, self._bias(c), stride=stride, padding="SAME", activation="RELU", **self._out(True)
        )

    def add(self, a: Tensor, b: Tensor, relu: bool) -> Tensor:
        return self.b.add(a, b, activation="RELU" if relu else "NONE", **self._out(relu))

    def block(self, x: Tensor, st: Stage, stride: int) -> Tensor:
        """One block, its ops in the order the converter writes them (model.py's `_block`)."""
        c_in = x.shape[-1]
        if st.block == "conv":
            return self.conv(x, st.channels, st.kernel, stride, True)
        if st.block == "res":
            y = self.conv(x, st.channels, st.kernel, stride, True)
            y = self.conv(y, st.channels, st.kernel, 1, False)
            short = x if stride == 1 and c_in == st.channels else self.conv(x, st.channels, 1, stride, False)
            return self.add(y, short, True)
        y = self.conv(x, c_in * st.expand, 1, 1, True) if st.expand > 1 else x
        y = self.depthwise(y, st.kernel, stride)
        y = self.conv(y, st.channels, 1, 1, False)
        return self.add(y, x, False) if stride == 1 and c_in == st.channels else y

    def head(self, x: Tensor, classes: int) -> Tensor:
        """Global average pooling (MEAN over height and width), the dense classifier, softmax."""
        pooled = self.b.mean(x, (1, 2), keep_dims=False, **self._out(False))
        c = pooled.shape[-1]
        # per output channel at 8 bits; one scale at 4 (what TFLite Micro's int4 FULLY_CONNECTED takes, and what
        # the converter writes after quantization-aware training)
        scales = self.rng.uniform(0.002, 0.02, size=classes if self.wtype == INT8 else 1)
        w = self.b.weights(
            self._values((classes, c)), list(scales) if scales.size > 1 else float(scales[0]), self.wtype
        )
        logits = self.b.fully_connected(pooled, w, self._bias(classes), **self._out(False))
        return self.b.softmax(logits)


def build_graph(arch: Arch, channels: int, classes: int, bits: str = "8", seed: int = 0) -> Graph:
    """The IR graph of `build_keras(arch, channels, classes)` after int8 conversion (`bits` "8"), or after
    quantization-aware training at 4-bit weights ("w4a8"), as tinyml's front end reads the file: random weights
    from `seed`, plausible scales and zero points. Run the graph optimiser on it before planning, as
    `tinyml.pipeline.load` does."""
    if bits not in WEIGHT_TYPES:
        raise ValueError(f"bits must be one of {', '.join(WEIGHT_TYPES)}, not {bits!r}")
    m = _Builder(arch, WEIGHT_TYPES[bits], seed)
    x = m.b.input((1, arch.resolution, arch.resolution, channels), INT8, scale=INPUT_SCALE, zero_point=INPUT_ZERO_POINT)
    x = m.conv(x, arch.stem, 3, arch.stem_stride, True)
    for st in arch.stages:
        for j in range(st.depth):
            x = m.block(x, st, st.stride if j == 0 else 1)
    return m.b.graph([m.head(x, classes)])
