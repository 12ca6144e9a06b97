"""Recurrent layers: Keras SimpleRNN / LSTM / GRU with every option stated (reset_after=True: torch's GRU).

The twin of models_torch/recurrent.py, which maps torch's weights onto these layers' layout. A bidirectional
layer is keras.layers.Bidirectional over the layer and an explicit backward twin (go_backwards=True): Keras'
own backward layer is a copy of the forward one's config, seeded initializers included, so both directions would
start from the same native draw. Its get_weights() order is the forward layer's weights, then the backward one's.
"""

import keras

from models_tf.base import activation, initializer, regularizer

BACKWARD_SEED_OFFSET = 500  # the backward layer's initializers: seeds apart from every forward layer's


def _recurrent_arguments(layer, seed: int, go_backwards: bool = False) -> dict:
    return dict(units=layer.units, use_bias=layer.use_bias,
                kernel_initializer=initializer(layer.kernel_initializer, seed),
                recurrent_initializer=initializer(layer.recurrent_initializer, seed + 1),
                bias_initializer=initializer(layer.bias_initializer, seed + 2),
                kernel_regularizer=regularizer(layer.kernel_regularizer),
                recurrent_regularizer=regularizer(layer.recurrent_regularizer),
                bias_regularizer=regularizer(layer.bias_regularizer), activity_regularizer=None,
                kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                recurrent_dropout=0.0, seed=seed, return_sequences=layer.return_sequences, return_state=False,
                go_backwards=go_backwards, stateful=False, unroll=False)


def _directions(make, layer, seed: int):
    """make(arguments) -> a Keras RNN layer; wrapped in Bidirectional when the spec asks for both directions."""
    if not layer.bidirectional:
        return make(_recurrent_arguments(layer, seed))
    backward = make(_recurrent_arguments(layer, seed + BACKWARD_SEED_OFFSET, go_backwards=True))
    return keras.layers.Bidirectional(make(_recurrent_arguments(layer, seed)), merge_mode=layer.merge_mode,
                                      weights=None, backward_layer=backward)


def simple_rnn(layer, seed: int):
    return _directions(lambda arguments: keras.layers.SimpleRNN(activation=activation(layer.activation),
                                                                **arguments), layer, seed)


def lstm(layer, seed: int):
    return _directions(lambda arguments: keras.layers.LSTM(
        activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=layer.unit_forget_bias,
        use_cudnn="auto", **arguments), layer, seed)


def gru(layer, seed: int):
    return _directions(lambda arguments: keras.layers.GRU(
        activation="tanh", recurrent_activation="sigmoid", reset_after=True, use_cudnn="auto", **arguments),
        layer, seed)
