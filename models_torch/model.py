"""The spec compiled into one torch nn.Module, and the canonical weight layout.

Between blocks a tensor is channels last (as in the spec and Keras) unless consecutive blocks want channels
first (convolution, pooling, batch normalization): the model permutes only where the wanted layout changes, so
a stack of convolutions runs in torch's native NCHW and a flatten still reads Keras' (H, W, C) order.
"""

import contextlib
from typing import Optional

import numpy as np
import torch
from torch import nn

from harness.core import registry, shapes
from models_torch.layers import LAYERS
from models_torch.weights_file import load_weights_file

MIXED = {"bfloat16": torch.bfloat16}  # training.precision -> the dtype autocast computes in


def _to_first(x):  # (N, *spatial, C) -> (N, C, *spatial)
    return x.movedim(-1, 1) if x.dim() > 2 else x


def _to_last(x):  # (N, C, *spatial) -> (N, *spatial, C)
    return x.movedim(1, -1) if x.dim() > 2 else x


class SpecModel(nn.Module):
    """Runs the spec's layers in order. `forward(x)` is the whole network, output activation included, so it
    computes the same function as the Keras model; `forward(x, logits=True)` stops before the last layer's
    activation, which the cross-entropy losses take (as Keras does internally for a softmax/sigmoid output)."""

    def __init__(self, model_spec):
        super().__init__()
        infos = shapes.infer(model_spec)
        self.blocks = nn.ModuleList(registry.get(LAYERS, layer.type, "layer")(layer, info)
                                    for layer, info in zip(model_spec.layers, infos))
        self.penalties = [pair for block in self.blocks for pair in block.penalties]
        # the layout each block runs in: "any" blocks keep whatever layout the tensor already has
        layouts, current = [], "last"
        for block in self.blocks:
            current = current if block.wants == "any" else block.wants
            layouts.append(current)
        self.layouts = layouts
        self.autocast: Optional[torch.dtype] = None  # mixed precision: the dtype blocks compute in (build_model)
        # Keras' softmax is over the last axis, the channels: in a channels-first block that is axis 1
        for block, layout in zip(self.blocks, layouts):
            for module in block.modules():
                if layout == "first" and isinstance(module, (nn.Softmax, nn.LogSoftmax)):
                    module.dim = 1

    def forward(self, x, logits: bool = False, masks: Optional[dict] = None, outputs: Optional[list] = None):
        """x (N, *input_shape) -> (N, units). Parity mode only: `masks` {layer index: 0/1 tensor, channels last}
        replaces those dropout layers by x * mask / (1 - rate); `outputs` collects every layer's output
        (channels last). With `autocast` (mixed precision) every block but the last runs under torch.autocast;
        the last one gets float32 input and runs in float32, as the Keras model's last layer does."""
        current, last = "last", len(self.blocks) - 1
        for index, (block, layout) in enumerate(zip(self.blocks, self.layouts)):
            if layout != current:
                x = _to_first(x) if layout == "first" else _to_last(x)
                current = layout
            mixed = self.autocast is not None and index != last
            if self.autocast is not None and index == last:
                x = x.float()
            if masks is not None and index in masks:
                mask = masks[index] if current == "last" else _to_first(masks[index])
                x = x * mask.to(x.dtype) / (1.0 - block.dropout.p)
            else:
                with torch.autocast(x.device.type, dtype=self.autocast) if mixed else contextlib.nullcontext():
                    x = block.pre_activation(x) if logits and index == last else block(x)
            if outputs is not None:
                outputs.append(_to_last(x) if current == "first" else x)
        return _to_last(x) if current == "first" else x

    def penalty(self, weights: Optional[list] = None) -> torch.Tensor:
        """Keras' regularization loss, l1 * sum|w| + l2 * sum w^2. Keras turns l1 and l2 into float32 tensors
        before the product even for float64 weights, so they are rounded the same way here (no effect in
        float32). weights: the regularized tensors in `penalties` order, where they are not the module's own
        parameters (torch.func's functional parameters in the compiled step)."""
        total = torch.zeros((), dtype=torch.float32)
        weights = [weight for weight, _ in self.penalties] if weights is None else weights
        for weight, (_, regularizer) in zip(weights, self.penalties):
            if regularizer.l1:
                total = total + float(np.float32(regularizer.l1)) * weight.abs().sum()
            if regularizer.l2:
                total = total + float(np.float32(regularizer.l2)) * weight.square().sum()
        return total


def build_model(model_spec, seed: int = 0, dtype: str = "float32") -> SpecModel:
    """The spec as an nn.Module with PyTorch's own initialization (seeded); `set_weights` loads matched ones.
    dtype: 'float32' or 'float64' (parameters and buffers), or 'bfloat16': mixed precision, float32 parameters
    and every block but the last under torch.autocast(bfloat16)."""
    torch.manual_seed(seed)
    model = SpecModel(model_spec).to(torch.float32 if dtype in MIXED else getattr(torch, dtype))
    model.autocast = MIXED.get(dtype)
    return model


def get_weights(model: SpecModel) -> list[np.ndarray]:
    """Every weight in the canonical layout (Keras get_weights order and shapes), moving statistics included."""
    return [array for block in model.blocks for array in block.to_canonical()]


def set_weights(model: SpecModel, weights: list[np.ndarray]) -> None:
    counts = [len(block.to_canonical()) for block in model.blocks]
    if sum(counts) != len(weights):
        raise ValueError(f"expected {sum(counts)} weight arrays, received {len(weights)}")
    start = 0
    for block, count in zip(model.blocks, counts):
        block.from_canonical(weights[start:start + count])
        start += count


@torch.no_grad()
def predict(model: SpecModel, x: np.ndarray) -> np.ndarray:
    """The model's outputs in inference mode (dropout off, moving statistics), one call."""
    model.eval()
    return model(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()


def count_params(model: SpecModel) -> int:
    """Trainable parameters (the frozen second RNN bias and switched-off BatchNorm parts excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_weights(model: SpecModel, path) -> None:
    """A torch state_dict file (.pt)."""
    torch.save(model.state_dict(), str(path))


def load_weights(model: SpecModel, path) -> None:
    """A torch state dict file, read by models_torch.weights_file (zip archives only, weights_only unpickling)."""
    load_weights_file(model, path)
