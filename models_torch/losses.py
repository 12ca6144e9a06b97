"""The spec's loss as a PyTorch function: every argument but the tensors stated.

The cross-entropies take the model's logits when the output is softmax/sigmoid (Keras takes the same logits path
internally); mse and mae take the output, of the labels' shape (B, units): no broadcasting.
"""

import functools

import torch.nn.functional as F

from harness.core import registry

# name -> (loss(raw, y), every argument but the tensors bound; takes logits?; what it is, for the manifest)
LOSSES = {
    "categorical_crossentropy": (
        functools.partial(F.cross_entropy, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0),
        True, "F.cross_entropy on logits (the last layer before its softmax)"),
    "binary_crossentropy": (
        functools.partial(F.binary_cross_entropy_with_logits, weight=None, reduction="mean", pos_weight=None),
        True, "F.binary_cross_entropy_with_logits (the last layer before its sigmoid)"),
    "mse": (functools.partial(F.mse_loss, reduction="mean"), False, "F.mse_loss on the model output"),
    "mae": (functools.partial(F.l1_loss, reduction="mean"), False, "F.l1_loss on the model output"),
}


def loss_arguments(loss: str, target):
    """(loss function, whether it takes logits, its description) for the spec's loss name. `target` is unused:
    F.cross_entropy takes integer and one-hot labels alike, where Keras needs two classes."""
    return registry.get(LOSSES, loss, "loss")
