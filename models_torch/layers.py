"""Spec layers -> torch modules: the core layers, and `LAYERS`, the block class of every spec layer type.

The twin of models_tf/layers.py. A block is built from (spec layer, its inferred shapes) and passes every
constructor argument explicitly; the `Block` base (layouts, penalties, canonical weights) is in base.py,
convolution and pooling blocks in conv.py, recurrent ones in recurrent.py.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models_torch.base import Block, activation, assign, to_numpy
from models_torch.conv import Conv, GlobalPool, Pool, ZeroPadding
from models_torch.recurrent import Recurrent


class Dense(Block):
    """nn.Linear on the last axis, then the activation. weight (units, in) is the canonical kernel transposed."""

    wants = "last"

    def __init__(self, layer, info):
        super().__init__()
        self.linear = nn.Linear(info.input_shape[-1], layer.units, bias=layer.use_bias, dtype=torch.float32)
        self.activation = activation(layer.activation)
        self.regularize(self.linear.weight, layer.kernel_regularizer)
        if layer.use_bias:
            self.regularize(self.linear.bias, layer.bias_regularizer)

    def pre_activation(self, x):  # (B, ..., in) -> (B, ..., units)
        return self.linear(x)

    def forward(self, x):
        return self.activation(self.linear(x))

    def to_canonical(self):
        return [to_numpy(self.linear.weight).T] + ([to_numpy(self.linear.bias)] if self.linear.bias is not None else [])

    def from_canonical(self, arrays):
        assign(self.linear.weight, arrays[0].T)
        if self.linear.bias is not None:
            assign(self.linear.bias, arrays[1])


class Activation(Block):
    def __init__(self, layer, info):
        super().__init__()
        self.activation = activation(layer.activation)

    def pre_activation(self, x):
        return x

    def forward(self, x):
        return self.activation(x)


class Dropout(Block):
    def __init__(self, layer, info):
        super().__init__()
        self.dropout = nn.Dropout(p=layer.rate, inplace=False)

    def forward(self, x):
        return self.dropout(x)


class Rescaling(Block):
    """x * scale + offset; Keras multiplies by a float32 scale and adds a float32 offset, so does this."""

    def __init__(self, layer, info):
        super().__init__()
        self.scale, self.offset = float(np.float32(layer.scale)), float(np.float32(layer.offset))

    def forward(self, x):
        return x * self.scale + self.offset


class LeakyReLU(Block):
    """Keras' LeakyReLU layer rounds its slope to float32 even in a float64 model; so does this."""

    def __init__(self, layer, info):
        super().__init__()
        self.activation = torch.nn.LeakyReLU(negative_slope=float(np.float32(layer.negative_slope)), inplace=False)

    def forward(self, x):
        return self.activation(x)


class Flatten(Block):
    """Channels last in memory, so flattening gives Keras' (H, W, C) order and dense kernels copy as they are."""

    wants = "last"

    def forward(self, x):
        return x.flatten(start_dim=1)


class Reshape(Block):
    wants = "last"

    def __init__(self, layer, info):
        super().__init__()
        self.shape = tuple(info.output_shape)

    def forward(self, x):
        return x.reshape((x.shape[0], *self.shape))


class BatchNormalization(Block):
    """torch BatchNorm over the channel axis (layout "first"), with Keras' moving statistics.

    Stock torch BatchNorm stores the unbiased (n - 1) batch variance in its running variance, Keras the biased
    one; inference-mode outputs would drift apart after the first update. So in training the batch is normalized
    by F.batch_norm and the moving statistics are updated here as Keras does: moving = m * moving + (1 - m) *
    batch, with the biased variance (Keras momentum m; torch's own momentum argument is 1 - m and unused).
    Keras' center and scale are independent, torch's affine is not: a switched-off part stays a frozen constant
    (beta 0 or gamma 1), so it is neither trained nor counted.
    """

    wants = "first"

    def __init__(self, layer, info):
        super().__init__()
        norm = nn.BatchNorm2d if len(info.input_shape) == 3 else nn.BatchNorm1d
        affine = layer.center or layer.scale
        self.center, self.scale, self.momentum = layer.center, layer.scale, layer.momentum
        self.norm = norm(info.input_shape[-1], eps=layer.epsilon, momentum=1.0 - layer.momentum, affine=affine,
                         track_running_stats=True, dtype=torch.float32)
        if affine and not layer.scale:
            self.norm.weight.requires_grad_(False)
        if affine and not layer.center:
            self.norm.bias.requires_grad_(False)

    def forward(self, x):  # (N, C, *spatial)
        if not self.training:
            return self.norm(x)
        axes = [0, *range(2, x.dim())]
        out = F.batch_norm(x, None, None, self.norm.weight, self.norm.bias, training=True, momentum=0.0,
                           eps=self.norm.eps)
        with torch.no_grad():
            self.norm.running_mean.mul_(self.momentum).add_(x.mean(dim=axes) * (1.0 - self.momentum))
            self.norm.running_var.mul_(self.momentum).add_(x.var(dim=axes, unbiased=False) * (1.0 - self.momentum))
        return out

    def to_canonical(self):
        weights = [to_numpy(self.norm.weight)] if self.scale else []
        weights += [to_numpy(self.norm.bias)] if self.center else []
        return weights + [to_numpy(self.norm.running_mean), to_numpy(self.norm.running_var)]

    def from_canonical(self, arrays):
        arrays = list(arrays)
        if self.scale:
            assign(self.norm.weight, arrays.pop(0))
        if self.center:
            assign(self.norm.bias, arrays.pop(0))
        assign(self.norm.running_mean, arrays[0])
        assign(self.norm.running_var, arrays[1])


class Embedding(Block):
    """Ids arrive as float32 (the data arrays are float32, exact for ids below 2**24) and are cast to int64."""

    wants = "last"

    def __init__(self, layer, info):
        super().__init__()
        self.embedding = nn.Embedding(layer.input_dim, layer.output_dim, padding_idx=None, max_norm=None,
                                      scale_grad_by_freq=False, sparse=False, dtype=torch.float32)
        self.regularize(self.embedding.weight, layer.embeddings_regularizer)

    def forward(self, x):
        return self.embedding(x.long())

    def to_canonical(self):
        return [to_numpy(self.embedding.weight)]

    def from_canonical(self, arrays):
        assign(self.embedding.weight, arrays[0])


# spec layer type -> block class (layer, info) -> Block; the keys are harness.core.registry.LAYERS
LAYERS = {
    "dense": Dense, "dropout": Dropout, "activation": Activation, "flatten": Flatten, "reshape": Reshape,
    "batch_normalization": BatchNormalization, "conv1d": Conv, "conv2d": Conv,
    "max_pool1d": Pool, "average_pool1d": Pool, "max_pool2d": Pool, "average_pool2d": Pool,
    "global_average_pool1d": GlobalPool, "global_max_pool1d": GlobalPool, "global_average_pool2d": GlobalPool,
    "global_max_pool2d": GlobalPool, "simple_rnn": Recurrent, "lstm": Recurrent, "gru": Recurrent,
    "embedding": Embedding, "zero_padding1d": ZeroPadding, "zero_padding2d": ZeroPadding, "rescaling": Rescaling,
    "leaky_relu": LeakyReLU,
}
