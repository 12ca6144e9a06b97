"""Parity mode for PyTorch: every layer's output, and training steps on shared dropout masks with Keras'
optimizer update rules (epsilon placement included), so that the only differences left are numerical."""

import copy

import numpy as np
import torch

from harness.core import schedules
from models_torch.clipping import clip_gradients, gradient_groups
from models_torch.losses import loss_arguments, sample_weights
from models_torch.model import get_weights
from models_torch.optimizers import keras_exact_arguments


def layer_outputs(model, x: np.ndarray) -> list[np.ndarray]:
    """Each layer's output for x in inference mode, channels last: [(N, *shape_i)]."""
    model.eval()
    outputs = []
    with torch.no_grad():
        model(torch.from_numpy(x), outputs=outputs)
    return [(output.float() if output.dtype == torch.bfloat16 else output).numpy() for output in outputs]


def _canonical_gradients(model, trainable: list[bool]) -> list[np.ndarray]:
    """The parameters' gradients in the canonical layout, trainable weights only.

    A copy of the model holds the gradients in place of the values, so the one weight mapping serves both;
    a frozen parameter (the second RNN bias) contributes zeros.
    """
    shadow = copy.deepcopy(model)
    with torch.no_grad():
        for copied, param in zip(shadow.parameters(), model.parameters()):
            copied.copy_(param.grad if param.grad is not None else torch.zeros_like(param))
    return [array for array, keep in zip(get_weights(shadow), trainable) if keep]


class ParityTrainer:
    def __init__(self, spec, model, target, dtype: str, trainable: list[bool]):
        self.model, self.trainable, self.target = model, trainable, target
        optimizer_class, kwargs = keras_exact_arguments(spec.optimizer)
        self.optimizer = optimizer_class([p for p in model.parameters() if p.requires_grad], **kwargs)
        self.loss_fn, self.on_logits, _ = loss_arguments(spec, target)
        self.optimizer_spec, self.updates = spec.optimizer, 0

    def step(self, x: np.ndarray, y: np.ndarray, masks: dict) -> tuple[float, list[np.ndarray]]:
        """One update. Returns the pre-update loss (penalty included) and the gradients, canonical layout."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        shared = {index: torch.from_numpy(mask) for index, mask in masks.items()}
        raw = self.model(torch.from_numpy(x), logits=self.on_logits, masks=shared)
        labels = torch.from_numpy(y)
        loss = self.loss_fn(raw, labels, sample_weights(self.target, labels)) + self.model.penalty()
        loss.backward()
        gradients = _canonical_gradients(self.model, self.trainable)  # as Keras' tape gives them: before clipping
        clip_gradients(gradient_groups(self.model), self.optimizer_spec)
        if schedules.per_batch(self.optimizer_spec):  # what Keras' schedule gives at its iterations
            self.set_learning_rate(schedules.rate(self.optimizer_spec, self.updates))
        self.optimizer.step()
        self.updates += 1
        return loss.item(), gradients

    def set_learning_rate(self, rate: float) -> None:
        """The rate of the next updates (a step: epoch schedule, reduce_on_plateau)."""
        for group in self.optimizer.param_groups:
            group["lr"] = rate


def make_parity_trainer(spec, model, target, dtype: str, trainable: list[bool]) -> ParityTrainer:
    """`trainable` marks the canonical weights that train (not batch normalization's moving statistics)."""
    return ParityTrainer(spec, model, target, dtype, trainable)


def optimizer_convention() -> str:
    return "Keras' update rule, reimplemented for PyTorch (models_torch.optimizers)"
