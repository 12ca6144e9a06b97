"""What every torch layer block builds on: the activations, the weight copies, and the `Block` base class.

The twin of models_tf/base.py. Each block knows the tensor layout it wants ("last": channels last, as in the spec
and Keras; "first": NCHW, what torch's convolutions take; "any": element-wise), the regularization penalties on
its parameters, and how its parameters map to the canonical layout (Keras `get_weights()` order and shapes).
"""

import numpy as np
import torch
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
    "log_softmax": lambda: nn.LogSoftmax(dim=-1),
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
