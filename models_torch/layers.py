"""Spec layers -> torch modules. Every constructor argument is passed explicitly (no torch default applies)."""

import torch
from torch import nn

from harness import registry

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


class Dense(nn.Module):
    """nn.Linear then the activation. `weight` is (units, in): the canonical kernel (in, units) transposed."""

    def __init__(self, layer, in_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, layer.units, bias=layer.use_bias, dtype=torch.float32)
        self.activation = activation(layer.activation)

    def pre_activation(self, x):  # (B, ..., in) -> (B, ..., units)
        return self.linear(x)

    def forward(self, x):
        return self.activation(self.linear(x))


class Activation(nn.Module):
    def __init__(self, layer, in_features: int):
        super().__init__()
        self.activation = activation(layer.activation)

    def pre_activation(self, x):
        return x

    def forward(self, x):
        return self.activation(x)


class Dropout(nn.Module):
    def __init__(self, layer, in_features: int):
        super().__init__()
        self.dropout = nn.Dropout(p=layer.rate, inplace=False)

    def forward(self, x):
        return self.dropout(x)


class Flatten(nn.Module):
    # Dense-only stacks keep channels last, so flattening in memory order is the Keras (H, W, C) order.
    def __init__(self, layer, in_features: int):
        super().__init__()
        self.flatten = nn.Flatten(start_dim=1, end_dim=-1)

    def forward(self, x):
        return self.flatten(x)


LAYERS = {"dense": Dense, "activation": Activation, "dropout": Dropout, "flatten": Flatten}
