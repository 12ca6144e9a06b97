"""Recurrent blocks: torch RNN / LSTM / GRU, batch first, mapped to the Keras layers' weights.

- SimpleRNN and LSTM: torch has two bias vectors where Keras has one. The second (`bias_hh`) is held at zero and
  frozen, so the network, its parameter count and its learning dynamics are Keras' (two trained biases would
  learn twice as fast). Gate order i, f, g(c), o is the same in both.
- GRU: Keras reset_after=True, which is the GRU torch implements, with two biases in both. Gate blocks are
  [z, r, h] in Keras and [r, z, n] in torch: the first two blocks swap.
"""

import numpy as np
import torch
from torch import nn

from models_torch.base import Block, assign, to_numpy

_MODULES = {"simple_rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _swap_first_blocks(array: np.ndarray, units: int) -> np.ndarray:
    """[z, r, h] <-> [r, z, n] along the last axis (its own inverse)."""
    return np.concatenate([array[..., units:2 * units], array[..., :units], array[..., 2 * units:]], axis=-1)


class Recurrent(Block):
    """Input (N, T, D) -> (N, T, H) with return_sequences, else the last step (N, H)."""

    wants = "last"

    def __init__(self, layer, info):
        super().__init__()
        self.kind, self.units = layer.type, layer.units
        self.return_sequences = layer.return_sequences
        options = dict(num_layers=1, bias=layer.use_bias, batch_first=True, dropout=0.0, bidirectional=False,
                       dtype=torch.float32)
        if layer.type == "simple_rnn":
            options["nonlinearity"] = layer.activation
        if layer.type == "lstm":
            options["proj_size"] = 0
        self.rnn = _MODULES[layer.type](info.input_shape[-1], layer.units, **options)
        if layer.use_bias and layer.type != "gru":
            with torch.no_grad():
                self.rnn.bias_hh_l0.zero_()
            self.rnn.bias_hh_l0.requires_grad_(False)
        self.regularize(self.rnn.weight_ih_l0, layer.kernel_regularizer)
        self.regularize(self.rnn.weight_hh_l0, layer.recurrent_regularizer)
        if layer.use_bias:
            self.regularize(self.rnn.bias_ih_l0, layer.bias_regularizer)
            if layer.type == "gru":
                self.regularize(self.rnn.bias_hh_l0, layer.bias_regularizer)

    def forward(self, x):
        sequence, _ = self.rnn(x)
        return sequence if self.return_sequences else sequence[:, -1]

    def _order(self, array: np.ndarray) -> np.ndarray:
        return _swap_first_blocks(array, self.units) if self.kind == "gru" else array

    def to_canonical(self):
        weights = [self._order(to_numpy(self.rnn.weight_ih_l0).T), self._order(to_numpy(self.rnn.weight_hh_l0).T)]
        if not self.rnn.bias:
            return weights
        bias_ih, bias_hh = to_numpy(self.rnn.bias_ih_l0), to_numpy(self.rnn.bias_hh_l0)
        if self.kind == "gru":
            return weights + [np.stack([self._order(bias_ih), self._order(bias_hh)])]
        return weights + [bias_ih + bias_hh]

    def from_canonical(self, arrays):
        assign(self.rnn.weight_ih_l0, self._order(arrays[0]).T)
        assign(self.rnn.weight_hh_l0, self._order(arrays[1]).T)
        if not self.rnn.bias:
            return
        if self.kind == "gru":
            assign(self.rnn.bias_ih_l0, self._order(arrays[2][0]))
            assign(self.rnn.bias_hh_l0, self._order(arrays[2][1]))
        else:
            assign(self.rnn.bias_ih_l0, arrays[2])
            assign(self.rnn.bias_hh_l0, np.zeros_like(arrays[2]))
