"""Training a SpecModel: optimizer and loss from the spec, the epoch loop, evaluation.

Reported numbers follow the Keras convention so the two columns mean the same thing: the epoch loss is the
sample-weighted mean of the per-batch losses computed before each update, regularization penalty included.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from harness.core import registry


# Every constructor argument is passed, so no PyTorch default can leak in (tests compare with the signatures).
def _sgd(o):
    return torch.optim.SGD, dict(lr=o.learning_rate, momentum=o.momentum, dampening=0.0, weight_decay=0.0,
                                 nesterov=o.nesterov, maximize=False, foreach=None, differentiable=False, fused=None)


def _adam(o):
    return torch.optim.Adam, dict(lr=o.learning_rate, betas=(o.beta_1, o.beta_2), eps=o.epsilon, weight_decay=0.0,
                                  amsgrad=o.amsgrad, foreach=None, maximize=False, capturable=False,
                                  differentiable=False, fused=None, decoupled_weight_decay=False)


def _adamw(o):
    return torch.optim.AdamW, dict(lr=o.learning_rate, betas=(o.beta_1, o.beta_2), eps=o.epsilon,
                                   weight_decay=o.weight_decay, amsgrad=o.amsgrad, maximize=False, foreach=None,
                                   capturable=False, differentiable=False, fused=None)


def _rmsprop(o):
    return torch.optim.RMSprop, dict(lr=o.learning_rate, alpha=o.rho, eps=o.epsilon, weight_decay=0.0,
                                     momentum=o.momentum, centered=o.centered, capturable=False, foreach=None,
                                     maximize=False, differentiable=False)


def _adagrad(o):
    return torch.optim.Adagrad, dict(lr=o.learning_rate, lr_decay=0.0, weight_decay=0.0,
                                     initial_accumulator_value=o.initial_accumulator_value, eps=o.epsilon,
                                     foreach=None, maximize=False, differentiable=False, fused=None)


# spec field -> torch argument, where the names differ
_TORCH_NAMES = {"learning_rate": "lr", "epsilon": "eps", "rho": "alpha", "beta_1": "betas", "beta_2": "betas"}

OPTIMIZERS = {"sgd": _sgd, "adam": _adam, "adamw": _adamw, "rmsprop": _rmsprop, "adagrad": _adagrad}


def optimizer_arguments(optimizer_spec, native: bool = False):
    """(optimizer class, keyword arguments) for the spec's optimizer. native: only the hyperparameters the spec
    states, so that the framework's own defaults fill the rest (what a naive port does)."""
    optimizer_class, kwargs = registry.get(OPTIMIZERS, optimizer_spec.type, "optimizer")(optimizer_spec)
    if native:
        stated = {_TORCH_NAMES.get(field, field) for field in optimizer_spec.model_fields_set}
        kwargs = {name: value for name, value in kwargs.items() if name in stated}
    return optimizer_class, kwargs


# Losses on the model's logits when the output is softmax/sigmoid (Keras takes the same logits path internally).
def _cce(out, y):
    return F.cross_entropy(out, y, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0)


def _bce(out, y):
    return F.binary_cross_entropy_with_logits(out, y, weight=None, reduction="mean", pos_weight=None)


def _mse(out, y):
    return F.mse_loss(out, y, reduction="mean")  # shapes are equal, (B, units): no broadcasting


def _mae(out, y):
    return F.l1_loss(out, y, reduction="mean")


# name -> (function, takes logits?, what it is in torch terms, for the manifest)
LOSSES = {
    "categorical_crossentropy": (_cce, True, "F.cross_entropy on logits (the last layer before its softmax)"),
    "binary_crossentropy": (_bce, True, "F.binary_cross_entropy_with_logits (the last layer before its sigmoid)"),
    "mse": (_mse, False, "F.mse_loss on the model output"),
    "mae": (_mae, False, "F.l1_loss on the model output"),
}


def _metric_sum(target, out, y) -> torch.Tensor:
    """Sum over the batch of the per-sample metric (accuracy or mean absolute error), on the model's output."""
    if target.accuracy == "sparse_categorical":
        return (out.argmax(-1) == y).float().sum()
    if target.accuracy == "categorical":
        return (out.argmax(-1) == y.argmax(-1)).float().sum()
    if target.accuracy == "binary":  # a probability of exactly 0.5 counts as class 0, as in Keras
        return ((out > 0.5).float() == y).float().mean(-1).sum()
    return (out - y).abs().mean(-1).sum()


class Trainer:
    """execution: {"compile": True} runs the model through torch.compile (`harness bench`'s compile mode); None or
    {} is eager PyTorch. Batches go to the device the model's parameters are on."""

    def __init__(self, spec, model, target, execution: dict | None = None):
        self.model, self.target = model, target
        unknown = set(execution or {}) - {"compile"}
        if unknown:
            raise ValueError(f"unknown PyTorch execution settings {sorted(unknown)}")
        self.execution = {"compile": False, **(execution or {})}
        # Every torch.compile argument stated: the default backend (inductor), no CUDA graphs, shapes specialised
        # first and made dynamic only if they change (torch's own rule, stated here rather than inherited).
        self.forward = (torch.compile(model, fullgraph=False, dynamic=None, backend="inductor", mode="default")
                        if self.execution["compile"] else model)
        self.device = next(model.parameters()).device
        native = spec.optimizer_defaults == "native"
        optimizer_class, self.optimizer_kwargs = optimizer_arguments(spec.optimizer, native=native)
        self.optimizer = optimizer_class(model.parameters(), **self.optimizer_kwargs)
        self.loss_fn, self.on_logits, self.loss_description = registry.get(LOSSES, spec.loss, "loss")
        self.loss_name = spec.loss
        self.eval_batch_size = spec.training.eval_batch_size

    def _outputs(self, x):
        """(what the loss takes, the model's output) for a batch."""
        raw = self.forward(x, logits=self.on_logits)
        output = self.model.blocks[-1].activation(raw) if self.on_logits else raw
        return raw, output

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[float, float]:
        """One pass over (x, y) in the given order. Returns (loss, metric), or stops at the first non-finite loss."""
        self.model.train()
        x_all, y_all = torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device)
        loss_sum = metric_sum = 0.0
        for start in range(0, len(x), batch_size):
            xb, yb = x_all[start:start + batch_size], y_all[start:start + batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            raw, output = self._outputs(xb)
            loss = self.loss_fn(raw, yb) + self.model.penalty()
            loss.backward()
            self.optimizer.step()
            batch_loss = loss.item()
            loss_sum += batch_loss * len(xb)
            metric_sum += _metric_sum(self.target, output.detach(), yb).item()
            if not math.isfinite(batch_loss):
                return float("nan"), float("nan")
        return loss_sum / len(x), metric_sum / len(x)

    @torch.no_grad()
    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(loss including the penalty, metric) in inference mode, sample-weighted over eval batches."""
        self.model.eval()
        loss_sum = metric_sum = 0.0
        penalty = self.model.penalty().item()
        for start in range(0, len(x), self.eval_batch_size):
            xb = torch.from_numpy(x[start:start + self.eval_batch_size]).to(self.device)
            yb = torch.from_numpy(y[start:start + self.eval_batch_size]).to(self.device)
            raw, output = self._outputs(xb)
            loss_sum += (self.loss_fn(raw, yb).item() + penalty) * len(xb)
            metric_sum += _metric_sum(self.target, output, yb).item()
        return loss_sum / len(x), metric_sum / len(x)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        self.model.eval()
        parts = [self.forward(torch.from_numpy(x[s:s + self.eval_batch_size]).to(self.device)).cpu().numpy()
                 for s in range(0, len(x), self.eval_batch_size)]
        return np.concatenate(parts)

    def hyperparameters(self) -> dict:
        """What PyTorch actually holds, read back from the objects built."""
        group = {k: v for k, v in self.optimizer.param_groups[0].items() if k != "params"}
        dropout = [round(m.p, 6) for m in self.model.modules() if isinstance(m, torch.nn.Dropout)]
        return {
            "optimizer": {"class": type(self.optimizer).__name__, **{k: _plain(v) for k, v in group.items()}},
            "loss": {"function": self.loss_description, "reduction": "mean", "label_smoothing": 0.0},
            "dropout_rates": dropout,
            "regularized_tensors": len(self.model.penalties),
            "layers": [repr(block).replace("\n", " ") for block in self.model.blocks],
        }


def _plain(value):
    if isinstance(value, torch.Tensor):
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def make_trainer(spec, model, target, execution: dict | None = None) -> Trainer:
    return Trainer(spec, model, target, execution)
