"""Convolution and pooling layers: stock Keras layers, channels last as in the spec.

The twin of models_torch/conv.py, which has to rebuild TensorFlow's 'same' padding by hand; here it is native.
"""

import keras

from harness.core.spec_layers import pad_pairs
from models_tf.base import activation, initializer, regularizer


def conv(layer, seed: int):
    cls = keras.layers.Conv1D if layer.type == "conv1d" else keras.layers.Conv2D
    return cls(filters=layer.filters, kernel_size=layer.kernel_size, strides=layer.strides, padding=layer.padding,
               data_format="channels_last", dilation_rate=layer.dilation_rate, groups=1,
               activation=activation(layer.activation), use_bias=layer.use_bias,
               kernel_initializer=initializer(layer.kernel_initializer, seed),
               bias_initializer=initializer(layer.bias_initializer, seed + 1),
               kernel_regularizer=regularizer(layer.kernel_regularizer),
               bias_regularizer=regularizer(layer.bias_regularizer), activity_regularizer=None,
               kernel_constraint=None, bias_constraint=None)


POOLS = {"max_pool1d": keras.layers.MaxPooling1D, "average_pool1d": keras.layers.AveragePooling1D,
         "max_pool2d": keras.layers.MaxPooling2D, "average_pool2d": keras.layers.AveragePooling2D}
GLOBAL_POOLS = {"global_average_pool1d": keras.layers.GlobalAveragePooling1D,
                "global_max_pool1d": keras.layers.GlobalMaxPooling1D,
                "global_average_pool2d": keras.layers.GlobalAveragePooling2D,
                "global_max_pool2d": keras.layers.GlobalMaxPooling2D}


def pool(layer, seed: int):
    return POOLS[layer.type](pool_size=layer.pool_size, strides=layer.strides, padding=layer.padding,
                             data_format="channels_last")


def zero_padding(layer, seed: int):
    pads = pad_pairs(layer)
    if layer.type == "zero_padding1d":
        return keras.layers.ZeroPadding1D(padding=pads[0], data_format="channels_last")
    return keras.layers.ZeroPadding2D(padding=pads, data_format="channels_last")


def global_pool(layer, seed: int):
    return GLOBAL_POOLS[layer.type](data_format="channels_last", keepdims=False)
