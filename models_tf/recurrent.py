"""Recurrent layers: Keras SimpleRNN / LSTM / GRU with every option stated (reset_after=True: torch's GRU).

The twin of models_torch/recurrent.py, which maps torch's weights onto these layers' layout.
"""

import keras

from models_tf.base import activation, initializer, regularizer


def _recurrent_arguments(layer, seed: int) -> dict:
    return dict(units=layer.units, use_bias=layer.use_bias,
                kernel_initializer=initializer(layer.kernel_initializer, seed),
                recurrent_initializer=initializer(layer.recurrent_initializer, seed + 1),
                bias_initializer=initializer(layer.bias_initializer, seed + 2),
                kernel_regularizer=regularizer(layer.kernel_regularizer),
                recurrent_regularizer=regularizer(layer.recurrent_regularizer),
                bias_regularizer=regularizer(layer.bias_regularizer), activity_regularizer=None,
                kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                recurrent_dropout=0.0, seed=seed, return_sequences=layer.return_sequences, return_state=False,
                go_backwards=False, stateful=False, unroll=False)


def simple_rnn(layer, seed: int):
    return keras.layers.SimpleRNN(activation=activation(layer.activation), **_recurrent_arguments(layer, seed))


def lstm(layer, seed: int):
    return keras.layers.LSTM(activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=layer.unit_forget_bias,
                             use_cudnn="auto", **_recurrent_arguments(layer, seed))


def gru(layer, seed: int):
    return keras.layers.GRU(activation="tanh", recurrent_activation="sigmoid", reset_after=True, use_cudnn="auto",
                            **_recurrent_arguments(layer, seed))
