"""Train a small CNN on scikit-learn's bundled 8x8 digits and convert it to an int8 .tflite.

Needs nothing from the network: the digits ship inside scikit-learn. Writes
`build/digits_int8.tflite` and `build/test_inputs.bin` / `build/test_labels.bin`
(int8 input tensors and their labels, held out from training).

    python examples/digits/make_model.py [--out DIR] [--epochs N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "build")
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()

    import tensorflow as tf
    from sklearn.datasets import load_digits

    from tinyml.frontend.tflite import load_model

    tf.keras.utils.set_random_seed(1)
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., None]  # (1797, 8, 8, 1) in [0, 1]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(1).permutation(len(x))
    x, y = x[order], y[order]
    x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]

    model = tf.keras.Sequential(
        [
            tf.keras.Input((8, 8, 1)),
            tf.keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
            tf.keras.layers.Conv2D(24, 1, activation="relu"),
            tf.keras.layers.MaxPooling2D(2),
            tf.keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            tf.keras.layers.GlobalAveragePooling2D(),
            tf.keras.layers.Dense(10),
            tf.keras.layers.Softmax(),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)

    def representative():
        for i in range(0, 300, 3):
            yield [x_train[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its whole signature
        tflite = converter.convert()

    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "digits_int8.tflite"
    model_path.write_bytes(tflite)
    quant = load_model(model_path).inputs[0].quant
    scale, zero_point = quant.scale, quant.zero_point
    q = np.clip(np.round(x_test / scale) + zero_point, -128, 127).astype(np.int8)
    (args.out / "test_inputs.bin").write_bytes(q.tobytes())
    (args.out / "test_labels.bin").write_bytes(y_test.astype(np.uint8).tobytes())
    print(f"float model accuracy on {len(x_test)} held-out digits: {accuracy:.1%}")
    print(f"wrote {model_path} ({len(tflite):,} bytes) and {len(x_test)} int8 test inputs")


if __name__ == "__main__":
    main()
