"""Learning-rate schedules, framework-free: each Keras 3.15 schedule's formula in float32, as Keras computes it
(keras/src/optimizers/schedules/learning_rate_schedule.py), and Keras ReduceLROnPlateau's rule
(keras/src/callbacks/reduce_lr_on_plateau.py), decided once per epoch by the harness.

The Keras adapter passes Keras' own schedule objects for a per-batch schedule (tests check them against these
formulas); the PyTorch adapter sets every param_group's lr from `rate` before each update; the epoch loop sets
both from `rate` before each epoch of a `step: epoch` schedule and after each epoch of reduce_on_plateau.
"""

import math
from typing import Optional

import numpy as np

_F32 = np.float32
STEPPED = ("piecewise_constant", "exponential_decay", "cosine_decay")


def per_batch(optimizer) -> bool:
    """True when the optimizer's rate changes at every update (a schedule with step: batch)."""
    schedule = optimizer.schedule
    return schedule is not None and schedule.type in STEPPED and schedule.step == "batch"


def per_epoch(optimizer) -> bool:
    """True when the optimizer's rate is set before each epoch from the epoch's index (step: epoch)."""
    schedule = optimizer.schedule
    return schedule is not None and schedule.type in STEPPED and schedule.step == "epoch"


def _piecewise(schedule, count: int) -> np.float32:
    """values[i] for boundaries[i-1] < count <= boundaries[i] (learning_rate_schedule.py:256-294)."""
    index = sum(count > boundary for boundary in schedule.boundaries)
    return _F32(schedule.values[index])


def _exponential(schedule, rate: float, count: int) -> np.float32:
    """rate * decay_rate ** p, p = count / decay_steps, floored when staircase (learning_rate_schedule.py:162-175)."""
    p = _F32(count) / _F32(schedule.decay_steps)
    if schedule.staircase:
        p = np.floor(p)
    return _F32(rate) * np.power(_F32(schedule.decay_rate), p)


def _cosine(schedule, rate: float, count: int) -> np.float32:
    """Keras CosineDecay(initial_learning_rate=warmup_start, warmup_target=rate): linear warm-up, then the
    cosine from rate to alpha * rate over decay_steps (learning_rate_schedule.py:695-757)."""
    decay_steps, warmup_steps = _F32(schedule.decay_steps), _F32(schedule.warmup_steps)
    step = np.minimum(_F32(count), decay_steps + warmup_steps)
    if step < warmup_steps:
        start = _F32(schedule.warmup_start)
        return (_F32(rate) - start) * (step / warmup_steps) + start
    fraction = (step - warmup_steps) / decay_steps
    cosine = _F32(0.5) * (_F32(1.0) + np.cos(_F32(math.pi) * fraction))
    return _F32(rate) * (_F32(1 - schedule.alpha) * cosine + _F32(schedule.alpha))


def rate(optimizer, count: int) -> float:
    """The float32 learning rate of the optimizer spec at `count`: the number of updates done (step: batch) or
    the 0-based epoch (step: epoch); the constant rate for no schedule, constant and reduce_on_plateau."""
    schedule = optimizer.schedule
    if schedule is None or schedule.type not in STEPPED:
        return float(_F32(optimizer.learning_rate))
    if schedule.type == "piecewise_constant":
        return float(_piecewise(schedule, count))
    if schedule.type == "exponential_decay":
        return float(_exponential(schedule, optimizer.learning_rate, count))
    return float(_cosine(schedule, optimizer.learning_rate, count))


class Plateau:
    """Keras ReduceLROnPlateau's rule, once per epoch: cooldown counted down first; an improvement is a monitored
    value better than the best by more than min_delta (absolute); otherwise, outside cooldown, `wait` grows and at
    `wait >= patience` the rate becomes max(rate * factor, min_lr) if rate > min_lr (in float32)."""

    def __init__(self, optimizer, metric: str):
        schedule = optimizer.schedule
        self.config = schedule if schedule is not None and schedule.type == "reduce_on_plateau" else None
        self.key = self.config.monitor if self.config else ""
        # loss and mae fall, accuracy rises (as harness.jobs.train.EarlyStopper)
        self.sign = -1.0 if self.key.endswith("metric") and metric == "accuracy" else 1.0
        self.best, self.wait, self.cooldown = math.inf, 0, 0

    def update(self, value: float, current_rate: float) -> Optional[float]:
        """Records one epoch's monitored value; returns the new float32 rate, or None to keep `current_rate`."""
        if self.config is None:
            return None
        if self.cooldown > 0:
            self.cooldown, self.wait = self.cooldown - 1, 0
        if self.sign * value < self.best - self.config.min_delta:
            self.best, self.wait = self.sign * value, 0
            return None
        if self.cooldown > 0:
            return None
        self.wait += 1
        if self.wait < self.config.patience or not current_rate > _F32(self.config.min_lr):
            return None
        self.cooldown, self.wait = self.config.cooldown, 0
        return float(_F32(max(current_rate * self.config.factor, self.config.min_lr)))


# ------------------------------------------------------------------------------ rows of the defaults-diff table
# schedule type -> (what Keras' own default or a naive Keras port does, what torch's does)
_SCHEDULE_ROWS = {
    "piecewise_constant": ("PiecewiseConstantDecay: values[i] up to and including step boundaries[i]",
                           "MultiStepLR(milestones, gamma): rate times gamma from each milestone on, per epoch"),
    "exponential_decay": ("ExponentialDecay: rate * decay_rate ** (step / decay_steps), smooth unless staircase",
                          "ExponentialLR(gamma): rate * gamma ** epoch, stepped per epoch"),
    "cosine_decay": ("CosineDecay: no warm-up unless warmup_target; alpha 0; constant after decay_steps",
                     "CosineAnnealingLR(T_max, eta_min=0) (LinearLR for a warm-up), periodic past T_max"),
    "reduce_on_plateau": ("ReduceLROnPlateau: min_delta 1e-4 absolute, reduce at wait >= patience (10)",
                          "ReduceLROnPlateau: threshold 1e-4 relative, at num_bad_epochs > patience (10), eps 1e-8"),
}
_CLIP_ROWS = {
    "clipnorm": ("each tensor on its own: g * c / max(||g||, c)", "none per tensor (clip_grad_norm_ is global)",
                 "Keras' per-tensor clip on both (written out for torch)"),
    "global_clipnorm": ("all tensors: g * c * min(1 / norm, 1 / c)", "clip_grad_norm_: g * min(1, c / (norm + 1e-6))",
                        "Keras' formula on both (written out for torch, no 1e-6)"),
    "clipvalue": ("clip(g, -v, v)", "clip_grad_value_(v)", "elementwise on both"),
}


def default_rows(optimizer) -> list[dict]:
    """Rows {setting, keras, torch, harness} for the optimizer's schedule and clipping (none without them)."""
    rows, schedule = [], optimizer.schedule
    if schedule is not None and schedule.type in _SCHEDULE_ROWS:
        keras, torch = _SCHEDULE_ROWS[schedule.type]
        step = getattr(schedule, "step", "epoch")
        counted = {"batch": "counts optimizer steps; torch schedulers are stepped once per epoch",
                   "epoch": "counts epochs: its value is set before each epoch"}[step]
        harness = ("Keras' rule, decided once per epoch by the harness, on both" if schedule.type ==
                   "reduce_on_plateau" else f"Keras' formula in float32 on both; {counted}")
        rows.append({"setting": f"schedule {schedule.type}", "keras": keras, "torch": torch, "harness": harness})
        if getattr(optimizer, "momentum", 0):
            rows.append({"setting": "momentum under a changing rate",
                         "keras": "velocity m = momentum * m - lr_t * g: each step's rate inside",
                         "torch": "buffer b = momentum * b + g, update lr_t * b: the current rate on the whole sum",
                         "harness": "torch's buffers scaled by old / new rate at each change (exact, but not for a "
                                    "new rate of 0)"})
    for name, (keras, torch, harness) in _CLIP_ROWS.items():
        if getattr(optimizer, name) is not None:
            rows.append({"setting": f"gradient clipping {name}={getattr(optimizer, name)}", "keras": keras,
                         "torch": torch, "harness": harness + ", before weight decay and the update"})
    return rows
