"""Spec layers -> torch modules: the core layers. Every constructor argument is passed explicitly.

Each block knows the tensor layout it wants ("last": channels last, as in the spec and Keras; "first": NCHW,
what torch's convolutions take; "any": element-wise), the regularization penalties on its parameters, and how
its parameters map to the canonical layout (Keras `get_weights()` order and shapes).
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.core import registry

ACTIVATIONS = {
    "linear": lambda: nn.Identity(),
    "relu": lambda: nn.ReLU(inplace=False),
    "sigmoid": lambda: nn.Sigmoid(),
    "tanh": lambda: nn.Tanh(),
    "softmax": lambda: nn.Softmax(dim=-1),
    "leaky_relu": lambda: nn.LeakyReLU(negative_slope=registry.LEAKY_RELU_NEGATIVE_SLOPE, inplace=False),
    "elu": lambda: nn.ELU(alpha=registry.ELU_ALPHA, inplace=False),
    "gelu": lambda: nn.GELU(approximate="none"),
    # torch switches to the identity above beta * x > threshold; the gap there is below 2e-9.
    "softplus": lambda: nn.Softplus(beta=1.0, threshold=20.0),
}


def activation(name: str) -> nn.Module:
    return registry.get(ACTIVATIONS, name, "activation")()


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().copy()


_NUMPY_TYPES = {torch.float32: np.float32, torch.float64: np.float64}


def assign(param: torch.Tensor, value: np.ndarray) -> None:
    """Copies a canonical-layout array (already rearranged to the torch layout) into a parameter or buffer."""
    value = np.ascontiguousarray(value, dtype=_NUMPY_TYPES[param.dtype])
    if tuple(param.shape) != value.shape:
        raise ValueError(f"weight of shape {value.shape} does not fit parameter of shape {tuple(param.shape)}")
    with torch.no_grad():
        param.copy_(torch.from_numpy(value))


class Block(nn.Module):
    """Base: no parameters, element-wise (any layout)."""

    wants = "any"

    def __init__(self, layer=None, info=None):
        super().__init__()
        self.penalties = []  # (parameter, Regularizer): l1 * sum|w| + l2 * sum w^2 joins the loss

    def regularize(self, param, regularizer):
        if regularizer is not None:
            self.penalties.append((param, regularizer))

    def pre_activation(self, x):
        return self(x)

    def to_canonical(self) -> list[np.ndarray]:
        return []

    def from_canonical(self, arrays: list[np.ndarray]) -> None:
        assert not arrays


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
