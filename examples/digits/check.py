"""Score tinyml's outputs for the digits test set and compare them with TFLite Micro, byte for byte.

python examples/digits/check.py MODEL INPUTS LABELS OUTPUTS
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from tflite_micro.python.tflite_micro import runtime


def main(model: Path, inputs: Path, labels: Path, outputs: Path) -> int:
    x = np.frombuffer(inputs.read_bytes(), dtype=np.int8).reshape(-1, 1, 8, 8, 1)
    y = np.frombuffer(labels.read_bytes(), dtype=np.uint8)
    ours = np.frombuffer(outputs.read_bytes(), dtype=np.int8).reshape(len(x), -1)
    interp = runtime.Interpreter.from_file(str(model))
    same = 0
    for i, xi in enumerate(x):
        interp.set_input(xi, 0)
        interp.invoke()
        same += np.array_equal(interp.get_output(0).reshape(-1), ours[i])
    accuracy = float(np.mean(ours.argmax(axis=1) == y))
    print(f"tinyml int8 accuracy: {accuracy:.1%} on {len(x)} held-out digits")
    print(f"bit-exact with TFLite Micro: {same}/{len(x)} outputs identical")
    return 0 if same == len(x) else 1


if __name__ == "__main__":
    sys.exit(main(*(Path(a) for a in sys.argv[1:5])))
