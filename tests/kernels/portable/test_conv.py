"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED against TFLite Micro, attribute corners included."""

from __future__ import annotations

import numpy as np
import pytest
from keras_models import convert
from support import assert_bit_exact, compile_host, host_outputs, random_inputs, tflm_outputs

from tinyml.frontend.tflite import load_model

CONV_CASES = {
    # name: (input shape, filters, kernel, strides, padding, dilation, activation)
    "3x3_same": ((9, 9, 3), 8, 3, 1, "same", 1, None),
    "3x3_valid_stride2": ((11, 7, 5), 6, 3, 2, "valid", 1, "relu"),
    "odd_kernel_same_stride2": ((10, 13, 4), 5, (5, 3), (2, 1), "same", 1, "relu6"),
    "1x1": ((6, 6, 16), 7, 1, 1, "valid", 1, None),
    "1x1_stride2": ((7, 7, 8), 4, 1, 2, "same", 1, "relu"),
    "single_channel": ((49, 10, 1), 8, (10, 4), 2, "same", 1, "relu"),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv2d(case, tmp_path):
    import tensorflow as tf

    shape, filters, kernel, strides, padding, dilation, act = CONV_CASES[case]

    def build():
        return tf.keras.Sequential(
            [
                tf.keras.Input(shape),
                tf.keras.layers.Conv2D(
                    filters, kernel, strides=strides, padding=padding, dilation_rate=dilation, activation=act
                ),
            ]
        )

    assert_bit_exact(convert(build, [shape], tmp_path / "m.tflite"), tmp_path)


def test_conv2d_per_tensor_weights(tmp_path):
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((8, 8, 4)), tf.keras.layers.Conv2D(6, 3, padding="same")])

    assert_bit_exact(convert(build, [(8, 8, 4)], tmp_path / "m.tflite", per_tensor=True), tmp_path)


def test_grouped_conv2d(tmp_path):
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((6, 6, 8)), tf.keras.layers.Conv2D(8, 3, groups=2)])

    assert_bit_exact(convert(build, [(6, 6, 8)], tmp_path / "m.tflite"), tmp_path)


DW_CASES = {
    # name: (input shape, kernel, strides, padding, depth multiplier, dilation, activation)
    "3x3_same": ((9, 9, 8), 3, 1, "same", 1, 1, "relu"),
    "3x3_stride2_valid": ((10, 11, 5), 3, 2, "valid", 1, 1, None),
    "multiplier2": ((7, 7, 3), 3, 1, "same", 2, 1, None),
    "multiplier3_stride2": ((8, 9, 2), (3, 5), 2, "same", 3, 1, "relu6"),
    "tall_kernel": ((30, 1, 16), (10, 1), 1, "valid", 1, 1, None),
}


@pytest.mark.parametrize("case", sorted(DW_CASES))
def test_depthwise_conv2d(case, tmp_path):
    import tensorflow as tf

    shape, kernel, strides, padding, mult, dilation, act = DW_CASES[case]

    def build():
        return tf.keras.Sequential(
            [
                tf.keras.Input(shape),
                tf.keras.layers.DepthwiseConv2D(
                    kernel,
                    strides=strides,
                    padding=padding,
                    depth_multiplier=mult,
                    dilation_rate=dilation,
                    activation=act,
                ),
            ]
        )

    assert_bit_exact(convert(build, [shape], tmp_path / "m.tflite"), tmp_path)


@pytest.mark.parametrize("per_tensor", [True, False], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("act", [None, "relu"])
def test_fully_connected(act, per_tensor, tmp_path):
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((37,)), tf.keras.layers.Dense(13, activation=act)])

    assert_bit_exact(convert(build, [(37,)], tmp_path / "m.tflite", per_tensor=per_tensor), tmp_path)


def test_fully_connected_keep_num_dims(tmp_path):
    """Dense on a 3-D input with a fixed batch: FULLY_CONNECTED with keep_num_dims."""
    import tensorflow as tf

    def build():
        return tf.keras.Sequential([tf.keras.Input((5, 12), batch_size=1), tf.keras.layers.Dense(4)])

    model = convert(build, [(5, 12)], tmp_path / "m.tflite")
    assert load_model(model).ops[0].attrs.keep_num_dims
    assert_bit_exact(model, tmp_path)


def test_dense_on_3d_input_with_run_time_shapes(tmp_path):
    """Dense on a 3-D input with a free batch computes its reshape targets at run time
    (SHAPE, GATHER, REDUCE_PROD, PACK, CONCATENATION). TFLM cannot run that form; tinyml folds
    it and must give TFLM's bytes for the same weights in static form."""
    import tensorflow as tf

    dense = tf.keras.layers.Dense(4)

    def build_dynamic():
        return tf.keras.Sequential([tf.keras.Input((5, 12)), dense])

    def build_static():
        model = tf.keras.Sequential([tf.keras.Input((5, 12), batch_size=1), tf.keras.layers.Dense(4)])
        model.layers[-1].set_weights(dense.get_weights())
        return model

    dynamic = convert(build_dynamic, [(5, 12)], tmp_path / "dynamic.tflite")
    static = convert(build_static, [(5, 12)], tmp_path / "static.tflite")
    assert "GATHER" in [op.type for op in load_model(dynamic).ops]
    app, _ = compile_host(dynamic, tmp_path / "project")
    for seed in range(3):
        x = random_inputs(static, seed)
        ref = tflm_outputs(static, x)
        assert np.array_equal(host_outputs(app, x, ref)[0].reshape(ref[0].shape), ref[0])


def _dilated_layers():
    """Layers that make the converter emit CONV_2D/DEPTHWISE_CONV_2D with dilation factors.

    Keras' own dilated layers convert to SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND instead.
    """
    import tensorflow as tf

    class DilatedConv(tf.keras.layers.Layer):
        def __init__(self, filters, kernel, rate, padding, depthwise=False, **kw):
            super().__init__(**kw)
            self.filters, self.kernel, self.rate, self.pad, self.depthwise = filters, kernel, rate, padding, depthwise

        def build(self, shape):
            out = 1 if self.depthwise else self.filters
            self.w = self.add_weight(shape=(*self.kernel, shape[-1], out), initializer="glorot_uniform")

        def call(self, x):
            rates = [1, *self.rate, 1]
            if self.depthwise:
                return tf.raw_ops.DepthwiseConv2dNative(
                    input=x, filter=self.w, strides=[1, 1, 1, 1], padding=self.pad, dilations=rates
                )
            return tf.nn.conv2d(x, self.w, strides=1, padding=self.pad, dilations=rates)

    return DilatedConv


@pytest.mark.parametrize(
    "depthwise,padding,rate",
    [(False, "SAME", (2, 2)), (False, "VALID", (2, 3)), (True, "SAME", (2, 2)), (True, "VALID", (3, 2))],
    ids=["conv_same", "conv_valid", "dw_same", "dw_valid"],
)
def test_dilation(depthwise, padding, rate, tmp_path):
    import tensorflow as tf

    layer = _dilated_layers()

    def build():
        return tf.keras.Sequential([tf.keras.Input((13, 12, 4)), layer(5, (3, 3), rate, padding, depthwise)])

    model = convert(build, [(13, 12, 4)], tmp_path / "m.tflite")
    assert {op.attrs.dilation[0] for op in load_model(model).ops} == {rate[0]}
    assert_bit_exact(model, tmp_path)


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "dw"])
def test_space_to_batch_dilation_is_fused(depthwise, tmp_path):
    """Keras' dilated SAME conv (space-to-batch form) gives the bytes TFLM gives for the direct dilated conv.

    TFLM itself cannot run the space-to-batch form correctly (it keeps the flatbuffer's placeholder batch
    of 1), so the oracle is TFLM on the same weights expressed as one dilated conv.
    """
    import tensorflow as tf

    shape = (12, 12, 4)
    keras_layer = (
        tf.keras.layers.DepthwiseConv2D(3, dilation_rate=2, padding="same", use_bias=False)
        if depthwise
        else tf.keras.layers.Conv2D(5, 3, dilation_rate=2, padding="same", use_bias=False)
    )
    direct_layer = _dilated_layers()(5, (3, 3), (2, 2), "SAME", depthwise)

    def build_keras():
        return tf.keras.Sequential([tf.keras.Input(shape), keras_layer])

    def build_direct():
        model = tf.keras.Sequential([tf.keras.Input(shape), direct_layer])
        direct_layer.set_weights(keras_layer.get_weights())
        return model

    s2b = convert(build_keras, [shape], tmp_path / "s2b.tflite")
    direct = convert(build_direct, [shape], tmp_path / "direct.tflite")
    assert load_model(s2b).ops[0].type == "SPACE_TO_BATCH_ND"
    app, _ = compile_host(s2b, tmp_path / "project")
    for seed in range(3):
        x = random_inputs(s2b, seed)
        ref = tflm_outputs(direct, x)
        assert np.array_equal(host_outputs(app, x, ref)[0], ref[0])
