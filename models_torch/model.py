"""The spec compiled into one torch nn.Module, and the canonical weight layout."""

import numpy as np
import torch
from torch import nn

from harness import registry, shapes
from models_torch.layers import LAYERS


class SpecModel(nn.Module):
    """Runs the spec's layers in order. `forward(x)` is the whole network, output activation included, so it
    computes the same function as the Keras model; `forward(x, logits=True)` stops before the last layer's
    activation, which the cross-entropy losses take (as Keras does internally for a softmax/sigmoid output)."""

    def __init__(self, model_spec):
        super().__init__()
        infos = shapes.infer(model_spec)
        self.blocks = nn.ModuleList(
            registry.get(LAYERS, layer.type, "layer")(layer, info.input_shape[-1])
            for layer, info in zip(model_spec.layers, infos))
        # (parameter, Regularizer) pairs: the penalty l1 * sum|w| + l2 * sum w^2 is added to the loss.
        self.penalties = []
        for layer, block in zip(model_spec.layers, self.blocks):
            if layer.type == "dense":
                if layer.kernel_regularizer:
                    self.penalties.append((block.linear.weight, layer.kernel_regularizer))
                if layer.bias_regularizer and layer.use_bias:
                    self.penalties.append((block.linear.bias, layer.bias_regularizer))

    def forward(self, x, logits: bool = False):
        last = len(self.blocks) - 1
        for index, block in enumerate(self.blocks):
            x = block.pre_activation(x) if logits and index == last else block(x)
        return x

    def penalty(self) -> torch.Tensor:
        total = torch.zeros((), dtype=torch.float32)
        for weight, regularizer in self.penalties:
            if regularizer.l1:
                total = total + regularizer.l1 * weight.abs().sum()
            if regularizer.l2:
                total = total + regularizer.l2 * weight.square().sum()
        return total


def build_model(model_spec, seed: int = 0) -> SpecModel:
    """The spec as an nn.Module with PyTorch's own initialization (seeded); `set_weights` loads matched weights."""
    torch.manual_seed(seed)
    return SpecModel(model_spec)


def _canonical_pairs(model: SpecModel):
    """(torch parameter, is_kernel) in canonical (Keras get_weights) order."""
    for block in model.blocks:
        linear = getattr(block, "linear", None)
        if linear is not None:
            yield linear.weight, True
            if linear.bias is not None:
                yield linear.bias, False


def get_weights(model: SpecModel) -> list[np.ndarray]:
    """Canonical layout: dense kernel (in, units) = torch weight (units, in) transposed; bias as is."""
    return [(p.detach().numpy().T if kernel else p.detach().numpy()).copy() for p, kernel in _canonical_pairs(model)]


def set_weights(model: SpecModel, weights: list[np.ndarray]) -> None:
    pairs = list(_canonical_pairs(model))
    if len(pairs) != len(weights):
        raise ValueError(f"expected {len(pairs)} weight arrays, received {len(weights)}")
    with torch.no_grad():
        for (param, kernel), value in zip(pairs, weights):
            value = np.asarray(value, np.float32)
            value = value.T if kernel else value
            if tuple(param.shape) != value.shape:
                raise ValueError(f"weight shape {value.shape} does not fit parameter {tuple(param.shape)}")
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def count_params(model: SpecModel) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
