"""Gradient clipping with Keras' arithmetic, written out for PyTorch (the twin of models_tf/clipping.py).

PyTorch has no per-tensor norm clip, and its clip_grad_norm_ (global) scales by clip / (norm + 1e-6), so even
global_clipnorm is written out: every factor below is Keras' (keras/src/optimizers/base_optimizer.py
`_clip_gradients`, `clip_by_global_norm`; tensorflow clip_ops.clip_by_norm). It runs after backward and before
the optimizer's step, which is where Keras clips (before weight decay and the update rule).
"""

import numpy as np
import torch


def _sqrt(x: torch.Tensor) -> torch.Tensor:
    """The correctly rounded square root (as TensorFlow's): taken in float64, rounded back."""
    return x.double().sqrt().to(x.dtype) if x.dtype != torch.float64 else x.sqrt()


def _by_norm(g: torch.Tensor, clip: float) -> torch.Tensor:
    """tf.clip_by_norm: g * clip / max(||g||, clip), with ||0|| = 0."""
    l2sum = (g * g).sum()
    norm = _sqrt(l2sum) if l2sum > 0 else l2sum
    return (g * clip) / torch.maximum(norm, torch.tensor(clip, dtype=g.dtype))


def _by_global_norm(gradients: list, clip: float) -> list:
    """Keras clip_by_global_norm: scale = clip * min(1 / norm, 1 / clip) + (norm - norm), NaN for a non-finite
    norm, as Keras."""
    norm = _sqrt(torch.stack([g.square().sum() for g in gradients]).sum())
    dtype = norm.dtype
    scale = clip * torch.minimum(1.0 / norm, torch.tensor(1.0 / clip, dtype=dtype)) + (norm - norm)
    return [g * scale for g in gradients]


def clip_gradients(gradients: list, optimizer_spec) -> list:
    """The gradients clipped as the spec's Keras optimizer would: clipnorm per tensor, global_clipnorm over all,
    clipvalue elementwise; unchanged without clipping. Tensors (a model's .grad) are clipped in place; arrays
    come back as new arrays."""
    arrays = not all(isinstance(g, torch.Tensor) for g in gradients)
    tensors = [torch.as_tensor(np.asarray(g)) if arrays else g for g in gradients]
    if optimizer_spec.clipnorm:
        clipped = [_by_norm(g, optimizer_spec.clipnorm) for g in tensors]
    elif optimizer_spec.global_clipnorm and tensors:
        clipped = _by_global_norm(tensors, optimizer_spec.global_clipnorm)
    elif optimizer_spec.clipvalue:
        clipped = [g.clamp(-optimizer_spec.clipvalue, optimizer_spec.clipvalue) for g in tensors]
    else:
        clipped = tensors
    if arrays:
        return [t.numpy() for t in clipped]
    with torch.no_grad():
        for tensor, value in zip(tensors, clipped):
            if value is not tensor:
                tensor.copy_(value)
    return tensors


def clipping_convention() -> str:
    return "Keras' clipnorm / global_clipnorm / clipvalue arithmetic, written out (models_torch.clipping)"
