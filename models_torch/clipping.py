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


def _by_norm(group: list, clip: float) -> list:
    """tf.clip_by_norm of one Keras variable (one tensor, or the torch tensors it is made of): g * clip /
    max(||g||, clip). TensorFlow takes the root only where the sum is positive (for its gradient); sqrt(0) is
    0 as well, so the root is taken everywhere, without reading the sum back to the host."""
    norm = _sqrt(torch.stack([(g * g).sum() for g in group]).sum())
    return [(g * clip) / torch.maximum(norm, torch.tensor(clip, dtype=g.dtype)) for g in group]


def _by_global_norm(gradients: list, clip: float) -> list:
    """Keras clip_by_global_norm: scale = clip * min(1 / norm, 1 / clip) + (norm - norm), NaN for a non-finite
    norm, as Keras."""
    norm = _sqrt(torch.stack([g.square().sum() for g in gradients]).sum())
    dtype = norm.dtype
    scale = clip * torch.minimum(1.0 / norm, torch.tensor(1.0 / clip, dtype=dtype)) + (norm - norm)
    return [g * scale for g in gradients]


def gradient_groups(model) -> list[list[torch.Tensor]]:
    """The model's gradients grouped as Keras' variables (`parameter_groups`)."""
    parameters = dict(model.named_parameters())
    return [[parameters[name].grad for name in group] for group in parameter_groups(model)
            if all(parameters[name].grad is not None for name in group)]


def parameter_groups(model) -> list[list[str]]:
    """The model's trainable parameter names grouped as Keras' variables: a torch GRU's bias_ih and bias_hh (per
    direction) are one Keras bias of shape (2, 3H), every other parameter one variable of its own. Frozen
    parameters (the second bias of an LSTM or SimpleRNN, which Keras does not have) are left out."""
    groups = []
    for prefix, module in model.named_modules():
        own = {name: p for name, p in module.named_parameters(recurse=False) if p.requires_grad}
        full = {name: f"{prefix}.{name}" if prefix else name for name in own}
        if isinstance(module, torch.nn.GRU):
            for name in [name for name in own if name.startswith("bias_ih")]:
                partner = name.replace("bias_ih", "bias_hh")
                groups.append([full[name], full[partner]])
                own.pop(name), own.pop(partner)
        groups += [[full[name]] for name in own]
    return groups


def clip_gradients(gradients: list, optimizer_spec) -> list:
    """The gradients clipped as the spec's Keras optimizer would: clipnorm per Keras variable, global_clipnorm
    over all, clipvalue elementwise; unchanged without clipping. An entry is a tensor or array, or a list of the
    torch tensors that make one Keras variable (`gradient_groups`). Tensors (a model's .grad) are clipped in
    place; arrays come back as new arrays."""
    grouped = [list(g) if isinstance(g, (list, tuple)) else [g] for g in gradients]
    arrays = not all(isinstance(g, torch.Tensor) for group in grouped for g in group)
    groups = [[torch.as_tensor(np.asarray(g)) for g in group] if arrays else group for group in grouped]
    clipped = clipped_groups(groups, optimizer_spec)
    if arrays:
        return [[t.numpy() for t in group] if isinstance(entry, (list, tuple)) else group[0].numpy()
                for entry, group in zip(gradients, clipped)]
    with torch.no_grad():
        for group, values in zip(groups, clipped):
            for tensor, value in zip(group, values):
                if value is not tensor:
                    tensor.copy_(value)
    return gradients


def clipped_groups(groups: list, optimizer_spec) -> list:
    """The groups' tensors clipped (new tensors; the same lists without clipping)."""
    tensors = [g for group in groups for g in group]
    if optimizer_spec.clipnorm:
        return [_by_norm(group, optimizer_spec.clipnorm) for group in groups]
    if optimizer_spec.global_clipnorm and tensors:
        flat = iter(_by_global_norm(tensors, optimizer_spec.global_clipnorm))
    elif optimizer_spec.clipvalue:
        flat = iter([g.clamp(-optimizer_spec.clipvalue, optimizer_spec.clipvalue) for g in tensors])
    else:
        return groups
    return [[next(flat) for _ in group] for group in groups]


def clipping_convention() -> str:
    return "Keras' clipnorm / global_clipnorm / clipvalue arithmetic, written out (models_torch.clipping)"
