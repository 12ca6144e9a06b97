"""The spec's loss as a PyTorch function (every argument but the tensors stated), and its class weights.

The cross-entropies take the model's logits when the output is softmax/sigmoid (Keras takes the same logits path
internally); mse and mae take the output, of the labels' shape (B, units): no broadcasting. With class weights a
batch's loss is sum(w[y_i] * loss_i) / batch size, Keras' "sum_over_batch_size": F.cross_entropy(weight=w) with
reduction "mean" would divide by sum(w[y_i]) instead. Validation and test losses are not weighted, as in Keras.
"""

import torch
import torch.nn.functional as F

from harness.core import registry

# name -> (torch function, its arguments but the tensors and the reduction; takes logits?; what it is)
LOSSES = {
    "categorical_crossentropy": (F.cross_entropy, dict(weight=None, ignore_index=-100), True,
                                 "F.cross_entropy on logits (the last layer before its softmax)"),
    "binary_crossentropy": (F.binary_cross_entropy_with_logits, dict(weight=None, pos_weight=None), True,
                            "F.binary_cross_entropy_with_logits (the last layer before its sigmoid)"),
    "mse": (F.mse_loss, {}, False, "F.mse_loss on the model output"),
    "mae": (F.l1_loss, {}, False, "F.l1_loss on the model output"),
}


class _Loss:
    """loss(raw, y, sample_weight=None) -> the batch's loss: the per-sample losses' mean, or with sample weights
    (B,) their weighted sum over the batch size. Label smoothing: F.cross_entropy's own label_smoothing (integer
    and one-hot labels); binary_cross_entropy_with_logits has none, so the target is smoothed as Keras does,
    y * (1 - s) + 0.5 * s."""

    def __init__(self, name: str, smoothing: float):
        self.func, keywords, _, _ = LOSSES[name]
        self.keywords = dict(keywords, label_smoothing=smoothing) if name == "categorical_crossentropy" else keywords
        self.binary_smoothing = smoothing if name == "binary_crossentropy" else 0.0

    def settings(self, target) -> dict:
        """The reduction, smoothing and class weights in force, for the manifest."""
        weighted = target.class_weights is not None
        return {"reduction": "sum(w * loss) / batch size" if weighted else "mean",
                "label_smoothing": self.keywords.get("label_smoothing", self.binary_smoothing),
                "class_weight": dict(enumerate(target.class_weights)) if weighted else None}

    def __call__(self, raw: torch.Tensor, y: torch.Tensor, sample_weight=None) -> torch.Tensor:
        if self.binary_smoothing:
            y = y * (1.0 - self.binary_smoothing) + 0.5 * self.binary_smoothing
        if sample_weight is None:
            return self.func(raw, y, reduction="mean", **self.keywords)
        values = self.func(raw, y, reduction="none", **self.keywords)
        if values.ndim > 1:  # (B, units): Keras averages the last axis per sample first
            values = values.mean(-1)
        return (values * sample_weight).sum() / len(values)


def loss_arguments(spec, target):
    """(loss(raw, y, sample_weight=None), whether it takes logits, its description) for the spec's loss and
    training.label_smoothing. `target` is unused: F.cross_entropy takes integer and one-hot labels alike, where
    Keras needs two classes."""
    _, _, on_logits, description = registry.get(LOSSES, spec.loss, "loss")
    return _Loss(spec.loss, spec.training.label_smoothing), on_logits, description


def class_weight(target) -> torch.Tensor | None:
    """The weight of each class index (classes,) float32 (harness.core.class_weights), or None."""
    if target.class_weights is None:
        return None
    return torch.tensor(target.class_weights, dtype=torch.float32)


def sample_weights(target, y: torch.Tensor) -> torch.Tensor | None:
    """Each sample's weight (B,) by its class, read as Keras reads labels (indices; one-hot rows by argmax; a
    binary label rounded), or None."""
    weights = class_weight(target)
    if weights is None:
        return None
    if target.label_format == "sparse":
        labels = y.reshape(-1)
    elif target.accuracy == "binary":
        labels = torch.round(y).long().reshape(-1)
    else:
        labels = y.argmax(-1)
    return weights.to(y.device)[labels]


def metric_sum(target, out, y) -> torch.Tensor:
    """Sum over the batch of the per-sample metric (accuracy or mean absolute error), on the model's output."""
    if target.accuracy == "sparse_categorical":
        return (out.argmax(-1) == y).float().sum()
    if target.accuracy == "categorical":
        return (out.argmax(-1) == y.argmax(-1)).float().sum()
    if target.accuracy == "binary":  # a probability of exactly 0.5 counts as class 0, as in Keras
        return ((out > 0.5).float() == y).float().mean(-1).sum()
    return (out - y).abs().mean(-1).sum()
