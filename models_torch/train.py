"""Training a SpecModel: optimizer and loss from the spec, the epoch loop, evaluation.

Reported numbers follow the Keras convention so the two columns mean the same thing: the epoch loss is the
sample-weighted mean of the per-batch losses computed before each update, regularization penalty included.
"""

import numpy as np
import torch

from harness.core import schedules
from harness.core.spec_options import CLIPS
from models_torch.clipping import clip_gradients, gradient_groups
from models_torch.losses import loss_arguments, metric_sum, sample_weights
from models_torch.optimizers import optimizer_arguments


class Trainer:
    """execution (harness.core.execution.MODES): {"compile": True} runs the model's forward through torch.compile;
    {"compiled_step": True} runs each whole training step as one compiled graph (models_torch.compiled_step);
    None or {} is eager PyTorch. Batches go to the device the model's parameters are on.

    No step reads anything back to the host: each batch's loss and metric sum stay on the device until the epoch
    ends, when they are read in one transfer. A non-finite loss is therefore detected at the end of its epoch: the
    epoch's later batches still run (on weights that no longer mean anything), and the run is marked diverged."""

    def __init__(self, spec, model, target, execution: dict | None = None):
        self.model, self.target = model, target
        unknown = set(execution or {}) - {"compile", "compiled_step"}
        if unknown:
            raise ValueError(f"unknown PyTorch execution settings {sorted(unknown)}")
        self.execution = {"compile": False, "compiled_step": False, **(execution or {})}
        # Every torch.compile argument stated: the default backend (inductor), no CUDA graphs, shapes specialised
        # first and made dynamic only if they change (torch's own rule, stated here rather than inherited).
        self.forward = (torch.compile(model, fullgraph=False, dynamic=None, backend="inductor", mode="default")
                        if self.execution["compile"] else model)
        self.device = next(model.parameters()).device
        native = spec.optimizer_defaults == "native"
        optimizer_class, self.optimizer_kwargs = optimizer_arguments(spec.optimizer, native=native)
        self.optimizer = optimizer_class(model.parameters(), **self.optimizer_kwargs)
        self.optimizer_spec, self.updates = spec.optimizer, 0
        self.clips = any(getattr(spec.optimizer, name) is not None for name in CLIPS)  # skip the walk otherwise
        if schedules.per_batch(spec.optimizer):  # the rate of update 0; Keras' schedule object counts the same way
            self.set_learning_rate(schedules.rate(spec.optimizer, 0))
        self.loss_fn, self.on_logits, self.loss_description = loss_arguments(spec, target)
        self.loss_name = spec.loss
        self.eval_batch_size = spec.training.eval_batch_size
        self.batch_losses = []  # the last epoch's batch losses
        self.step = self._eager_step
        if self.execution["compiled_step"]:
            from models_torch.compiled_step import CompiledStep

            self.step = CompiledStep(self)

    def _outputs(self, x):
        """(what the loss takes, the model's output) for a batch."""
        raw = self.forward(x, logits=self.on_logits)
        output = self.model.blocks[-1].activation(raw) if self.on_logits else raw
        return raw, output

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[float, float]:
        """One pass over (x, y) in the given order. Returns (loss, metric), NaN for an epoch with a non-finite
        batch loss; each batch's loss (up to the first non-finite one) is in `batch_losses` until the next epoch."""
        self.model.train()
        x_all, y_all = torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device)
        losses, metrics = [], []  # 0-d tensors on the device, one per batch
        for start in range(0, len(x), batch_size):
            loss, metric = self.step(x_all[start:start + batch_size], y_all[start:start + batch_size])
            losses.append(loss)
            metrics.append(metric)
            self._next_rate()
        # (2, batches) -> the host, once per epoch
        batch_losses, batch_metrics = torch.stack([torch.stack(losses), torch.stack(metrics).to(losses[0].dtype)
                                                   ]).cpu().tolist()
        sizes = [min(batch_size, len(x) - start) for start in range(0, len(x), batch_size)]
        finite = [np.isfinite(value) for value in batch_losses]
        if not all(finite):
            self.batch_losses = batch_losses[:finite.index(False) + 1]
            return float("nan"), float("nan")
        self.batch_losses = batch_losses
        return (sum(size * value for size, value in zip(sizes, batch_losses)) / len(x),
                sum(batch_metrics) / len(x))

    def _eager_step(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One eager update; (loss, metric sum) as 0-d tensors, not read back."""
        self.optimizer.zero_grad(set_to_none=True)
        raw, output = self._outputs(xb)
        loss = self.loss_fn(raw, yb, sample_weights(self.target, yb)) + self.model.penalty()
        loss.backward()
        self._update()
        return loss.detach(), metric_sum(self.target, output.detach(), yb)

    def _update(self) -> None:
        """Keras' order: the gradients clipped (written out: torch has no per-tensor clip, and clip_grad_norm_
        adds 1e-6 to the norm), then the update."""
        if self.clips:
            clip_gradients(gradient_groups(self.model), self.optimizer_spec)
        self.optimizer.step()

    def _next_rate(self) -> None:
        """Counts the update; sets the rate of the next one for a per-batch schedule."""
        self.updates += 1
        if schedules.per_batch(self.optimizer_spec):
            self.set_learning_rate(schedules.rate(self.optimizer_spec, self.updates))

    def learning_rate(self) -> float:
        """The rate the next update applies, read back from the optimizer's param_groups."""
        return float(self.optimizer.param_groups[0]["lr"])

    def set_learning_rate(self, rate: float) -> None:
        """Sets every param_group's rate (a schedule, reduce_on_plateau).

        Keras' momentum (SGD, RMSprop) holds a velocity already multiplied by each step's rate; torch's
        momentum_buffer holds a sum of unscaled steps that the current rate multiplies. With a constant rate the
        two are one update; when the rate changes, scaling the buffers by old / new keeps them one. A new rate
        of exactly 0 cannot be matched (Keras' velocity still moves the weights, torch's update is 0 * buffer):
        the buffers are then left as they are."""
        for group in self.optimizer.param_groups:
            if rate > 0 and group["lr"] != rate:
                for param in group["params"]:
                    buffer = self.optimizer.state.get(param, {}).get("momentum_buffer")
                    if buffer is not None:
                        buffer.mul_(group["lr"] / rate)
            group["lr"] = rate

    @torch.no_grad()
    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(loss including the penalty, metric) in inference mode, sample-weighted over eval batches."""
        self.model.eval()
        loss_sum = metric_total = 0.0
        penalty = self.model.penalty().item()
        for start in range(0, len(x), self.eval_batch_size):
            xb = torch.from_numpy(x[start:start + self.eval_batch_size]).to(self.device)
            yb = torch.from_numpy(y[start:start + self.eval_batch_size]).to(self.device)
            raw, output = self._outputs(xb)
            loss_sum += (self.loss_fn(raw, yb).item() + penalty) * len(xb)
            metric_total += metric_sum(self.target, output, yb).item()
        return loss_sum / len(x), metric_total / len(x)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        self.model.eval()
        parts = [self.forward(torch.from_numpy(x[s:s + self.eval_batch_size]).to(self.device)).cpu().numpy()
                 for s in range(0, len(x), self.eval_batch_size)]
        return np.concatenate(parts)

    def execution_settings(self) -> dict:
        """How the steps run: {"compile": whether the model runs through torch.compile}."""
        return dict(self.execution)

    def hyperparameters(self) -> dict:
        """What PyTorch actually holds, read back from the objects built. The same keys as the Keras adapter's:
        optimizer and loss ({"class": ..., their settings; a loss is a torch function here}), layers, and under
        "framework" what only this adapter has (dropout rates, the number of regularized tensors)."""
        group = {k: v for k, v in self.optimizer.param_groups[0].items() if k != "params"}
        dropout = [round(m.p, 6) for m in self.model.modules() if isinstance(m, torch.nn.Dropout)]
        loss_function = self.loss_fn.func
        return {
            "optimizer": {"class": type(self.optimizer).__name__, **{k: _plain(v) for k, v in group.items()}},
            "loss": {"class": f"{loss_function.__module__}.{loss_function.__name__}",
                     "function": self.loss_description, **self.loss_fn.settings(self.target)},
            "layers": [repr(block).replace("\n", " ") for block in self.model.blocks],
            "framework": {"dropout_rates": dropout, "regularized_tensors": len(self.model.penalties)},
        }


def _plain(value):
    if isinstance(value, torch.Tensor):
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def make_trainer(spec, model, target, execution: dict | None = None) -> Trainer:
    return Trainer(spec, model, target, execution)
