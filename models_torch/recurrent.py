"""Recurrent blocks: torch RNN / LSTM / GRU, batch first, mapped to the Keras layers' weights.

- SimpleRNN and LSTM: torch has two bias vectors where Keras has one. The second (`bias_hh`) is held at zero and
  frozen, so the network, its parameter count and its learning dynamics are Keras' (two trained biases would
  learn twice as fast). Gate order i, f, g(c), o is the same in both.
- GRU: Keras reset_after=True, which is the GRU torch implements, with two biases in both. Gate blocks are
  [z, r, h] in Keras and [r, z, n] in torch: the first two blocks swap.
- Bidirectional: torch's `bidirectional=True` holds the backward direction in the `*_reverse` parameters, mapped
  as the forward ones are, after them (Keras Bidirectional's get_weights order: forward layer, backward layer).
  torch's output (N, T, 2H) is the forward half, then the backward half, both in time order: the backward state
  at step t has read steps T-1 .. t, which is Keras' backward output flipped back into time order. The last
  state without return_sequences is Keras' pair (forward last, backward last) = (out[:, -1, :H], out[:, 0, H:]).
  torch only concatenates; Keras' sum, ave and mul merges are computed on the two halves.
"""

import numpy as np
import torch
from torch import nn

from models_torch.base import Block, assign, to_numpy

_MODULES = {"simple_rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _swap_first_blocks(array: np.ndarray, units: int) -> np.ndarray:
    """[z, r, h] <-> [r, z, n] along the last axis (its own inverse)."""
    return np.concatenate([array[..., units:2 * units], array[..., :units], array[..., 2 * units:]], axis=-1)


_MERGES = {"concat": lambda forward, backward: torch.cat([forward, backward], dim=-1),
           "sum": lambda forward, backward: forward + backward,
           "ave": lambda forward, backward: (forward + backward) / 2,
           "mul": lambda forward, backward: forward * backward}


class Recurrent(Block):
    """Input (N, T, D) -> (N, T, H') with return_sequences, else the last step (N, H'); H' = 2H for a concat
    bidirectional layer, else H."""

    wants = "last"

    def __init__(self, layer, info):
        super().__init__()
        self.kind, self.units = layer.type, layer.units
        self.return_sequences = layer.return_sequences
        self.merge = layer.merge_mode if layer.bidirectional else None
        self.suffixes = ("_l0", "_l0_reverse") if layer.bidirectional else ("_l0",)
        options = dict(num_layers=1, bias=layer.use_bias, batch_first=True, dropout=0.0,
                       bidirectional=layer.bidirectional, dtype=torch.float32)
        if layer.type == "simple_rnn":
            options["nonlinearity"] = layer.activation
        if layer.type == "lstm":
            options["proj_size"] = 0
        self.rnn = _MODULES[layer.type](info.input_shape[-1], layer.units, **options)
        for suffix in self.suffixes:
            self._hold_and_regularize(layer, suffix)

    def _hold_and_regularize(self, layer, suffix: str) -> None:
        if layer.use_bias and layer.type != "gru":
            second_bias = self._param("bias_hh", suffix)
            with torch.no_grad():
                second_bias.zero_()
            second_bias.requires_grad_(False)
        self.regularize(self._param("weight_ih", suffix), layer.kernel_regularizer)
        self.regularize(self._param("weight_hh", suffix), layer.recurrent_regularizer)
        if layer.use_bias:
            self.regularize(self._param("bias_ih", suffix), layer.bias_regularizer)
            if layer.type == "gru":
                self.regularize(self._param("bias_hh", suffix), layer.bias_regularizer)

    def _param(self, name: str, suffix: str):
        return getattr(self.rnn, name + suffix)

    def forward(self, x):
        sequence, _ = self.rnn(x)  # (N, T, H), or (N, T, 2H): forward half, backward half
        if self.merge is None:
            return sequence if self.return_sequences else sequence[:, -1]
        forward, backward = sequence[..., :self.units], sequence[..., self.units:]
        if not self.return_sequences:
            forward, backward = forward[:, -1], backward[:, 0]  # each direction's state after its whole pass
        return _MERGES[self.merge](forward, backward)

    def _order(self, array: np.ndarray) -> np.ndarray:
        return _swap_first_blocks(array, self.units) if self.kind == "gru" else array

    def _direction_to_canonical(self, suffix: str) -> list[np.ndarray]:
        weights = [self._order(to_numpy(self._param(name, suffix)).T) for name in ("weight_ih", "weight_hh")]
        if not self.rnn.bias:
            return weights
        bias_ih, bias_hh = to_numpy(self._param("bias_ih", suffix)), to_numpy(self._param("bias_hh", suffix))
        if self.kind == "gru":
            return weights + [np.stack([self._order(bias_ih), self._order(bias_hh)])]
        return weights + [bias_ih + bias_hh]

    def _direction_from_canonical(self, suffix: str, arrays) -> None:
        assign(self._param("weight_ih", suffix), self._order(arrays[0]).T)
        assign(self._param("weight_hh", suffix), self._order(arrays[1]).T)
        if not self.rnn.bias:
            return
        if self.kind == "gru":
            assign(self._param("bias_ih", suffix), self._order(arrays[2][0]))
            assign(self._param("bias_hh", suffix), self._order(arrays[2][1]))
        else:
            assign(self._param("bias_ih", suffix), arrays[2])
            assign(self._param("bias_hh", suffix), np.zeros_like(arrays[2]))

    def to_canonical(self):
        return [array for suffix in self.suffixes for array in self._direction_to_canonical(suffix)]

    def from_canonical(self, arrays):
        per_direction = len(arrays) // len(self.suffixes)
        for index, suffix in enumerate(self.suffixes):
            self._direction_from_canonical(suffix, arrays[index * per_direction:(index + 1) * per_direction])
