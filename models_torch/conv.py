"""Convolution and pooling blocks. They take channels-first tensors (N, C, L) / (N, C, H, W).

Keras 'same' padding is TensorFlow's: out = ceil(n / s), the total padding split with the extra element after.
torch refuses padding='same' with strides and pads symmetrically, so the padding is applied explicitly with
F.pad, computed from the static input size that shape inference gives.
"""

import torch
import torch.nn.functional as F
from torch import nn

from harness.core.shapes import same_padding
from harness.core.spec_layers import as_tuple, pad_pairs
from models_torch.base import Block, activation, assign, to_numpy


def _pad_arguments(spatial, kernel, strides, dilation, padding) -> tuple[int, ...]:
    """F.pad's argument: (left, right) per spatial axis, last axis first; all zero for 'valid'."""
    if padding == "valid":
        return (0,) * (2 * len(spatial))
    pads = [same_padding(n, k, s, d) for n, k, s, d in zip(spatial, kernel, strides, dilation)]
    return tuple(value for pair in reversed(pads) for value in pair)


class Conv(Block):
    """Conv1d/Conv2d with padding 0 after an explicit pad. weight (out, in, *k) <-> canonical (*k, in, out)."""

    wants = "first"

    def __init__(self, layer, info):
        super().__init__()
        rank = len(info.input_shape) - 1
        kernel, strides = as_tuple(layer.kernel_size, rank), as_tuple(layer.strides, rank)
        dilation = as_tuple(layer.dilation_rate, rank)
        self.pad = _pad_arguments(info.input_shape[:-1], kernel, strides, dilation, layer.padding)
        conv = nn.Conv1d if rank == 1 else nn.Conv2d
        self.conv = conv(info.input_shape[-1], layer.filters, kernel, stride=strides, padding=0, dilation=dilation,
                         groups=1, bias=layer.use_bias, padding_mode="zeros", dtype=torch.float32)
        self.activation = activation(layer.activation)
        # canonical (k..., in, out) -> torch (out, in, k...): move the last two axes to the front, swapped
        self.to_torch = (rank + 1, rank) + tuple(range(rank))
        self.regularize(self.conv.weight, layer.kernel_regularizer)
        if layer.use_bias:
            self.regularize(self.conv.bias, layer.bias_regularizer)

    def pre_activation(self, x):
        return self.conv(F.pad(x, self.pad) if any(self.pad) else x)

    def forward(self, x):
        return self.activation(self.pre_activation(x))

    def to_canonical(self):
        inverse = tuple(self.to_torch.index(axis) for axis in range(len(self.to_torch)))
        kernel = to_numpy(self.conv.weight).transpose(inverse)
        return [kernel] + ([to_numpy(self.conv.bias)] if self.conv.bias is not None else [])

    def from_canonical(self, arrays):
        assign(self.conv.weight, arrays[0].transpose(self.to_torch))
        if self.conv.bias is not None:
            assign(self.conv.bias, arrays[1])


class Pool(Block):
    """Max or average pooling. 'same' pads with -inf (max) or zeros (average); an average then counts only the
    real elements of each window, as TensorFlow does: it is divided by the fraction of real elements, pooled once
    from a padded tensor of ones at construction."""

    wants = "first"

    def __init__(self, layer, info):
        super().__init__()
        rank = len(info.input_shape) - 1
        self.kind = "max" if layer.type.startswith("max") else "average"
        self.window = as_tuple(layer.pool_size, rank)
        self.strides = as_tuple(layer.strides, rank) if layer.strides is not None else self.window
        self.pad = _pad_arguments(info.input_shape[:-1], self.window, self.strides, (1,) * rank, layer.padding)
        self.function = {("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d,
                         ("average", 1): F.avg_pool1d, ("average", 2): F.avg_pool2d}[(self.kind, rank)]
        real_fraction = None  # (1, 1, *out_spatial)
        if self.kind == "average" and any(self.pad):
            # computed in float64: the model's dtype (float32 or float64) rounds it once, when the model moves there
            real_fraction = self._pool(F.pad(torch.ones((1, 1, *info.input_shape[:-1]), dtype=torch.float64),
                                             self.pad))
        self.register_buffer("real_fraction", real_fraction, persistent=False)

    def _pool(self, x):
        if self.kind == "max":
            return self.function(x, self.window, self.strides, padding=0, dilation=1, ceil_mode=False)
        return self.function(x, self.window, self.strides, padding=0, ceil_mode=False, count_include_pad=True)

    def forward(self, x):
        if not any(self.pad):
            return self._pool(x)
        value = float("-inf") if self.kind == "max" else 0.0
        pooled = self._pool(F.pad(x, self.pad, value=value))
        return pooled if self.real_fraction is None else pooled / self.real_fraction


class ZeroPadding(Block):
    """Zeros around the spatial axes of (N, C, *spatial): F.pad takes (before, after) pairs, last axis first."""

    wants = "first"

    def __init__(self, layer, info):
        super().__init__()
        self.pad = tuple(value for pair in reversed(pad_pairs(layer)) for value in pair)

    def forward(self, x):
        return F.pad(x, self.pad, mode="constant", value=0.0)


class GlobalPool(Block):
    """(N, C, *spatial) -> (N, C): mean or maximum over every spatial position."""

    wants = "first"

    def __init__(self, layer, info):
        super().__init__()
        self.kind = "max" if "max" in layer.type else "average"

    def forward(self, x):
        spatial = tuple(range(2, x.dim()))
        return x.amax(dim=spatial) if self.kind == "max" else x.mean(dim=spatial)
