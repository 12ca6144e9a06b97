"""The epoch loop, shared by both frameworks: batch order, validation, early stopping, divergence, test figures.

It talks to a framework only through the adapter functions (`build_model`, `set_weights`, `make_trainer`, ...),
so whatever it decides (order of samples, when to stop, how figures are computed) is the same on both sides.
"""

import math
import time
from typing import Callable, Optional

from harness.core import metrics, schedules, shapes, weights_npz
from harness.core.data import Dataset, batch_size_of, epoch_order
from harness.core.spec import Spec
from harness.jobs.resume import Checkpoints

# A run keeps each epoch's batch losses while their count stays within this (100,000 numbers are about 2 MB of
# run record); a longer run keeps those of its first epochs.
MAX_BATCH_LOSSES = 100_000


class EarlyStopper:
    """Stops after `patience` epochs without an improvement larger than `min_delta` (as Keras' EarlyStopping)."""

    def __init__(self, config, metric: str):
        self.config = config
        self.key = config.monitor if config else None
        self.restore = bool(config and config.restore_best_weights)
        # loss and mae fall, accuracy rises
        self.sign = -1.0 if (self.key and self.key.endswith("metric") and metric == "accuracy") else 1.0
        self.best, self.best_epoch, self.wait = math.inf, None, 0

    def update(self, epoch: int, row: dict) -> bool:
        """Records one epoch; True when training should stop."""
        if self.config is None:
            return False
        value = self.sign * row[self.key]
        if value < self.best - self.config.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return False
        self.wait += 1
        return self.wait >= self.config.patience


def build_checked(adapter, model_spec, seed: int, dtype: str = "float32"):
    """The adapter's model for the spec, refused when its trainable parameter count differs from the spec's;
    dtype: float32, or bfloat16 for mixed precision (training.precision)."""
    model = adapter.build_model(model_spec, seed=seed, dtype=dtype)
    expected = shapes.count_params(model_spec)
    if adapter.count_params(model) != expected:  # a translation error, not a user error
        raise RuntimeError(f"the built model has {adapter.count_params(model)} trainable parameters, the spec "
                           f"{expected}")
    return model


def fit(adapter, spec: Spec, dataset: Dataset, seed: int, weights: Optional[list] = None,
        log: Callable[[str], None] = lambda line: None, on_epoch: Callable[[dict], None] = lambda row: None,
        on_finish: Callable[[object], None] = lambda model: None, checkpoints: Optional[Checkpoints] = None,
        execution: Optional[tuple[str, dict]] = None) -> dict:
    """Trains one (framework, seed) run. Returns a plain dict: per-epoch history, test figures, timing, status.

    on_epoch(row) gets each epoch's {epoch, loss, metric, epoch_seconds[, learning_rate (with a schedule),
    batch_losses, val_loss, val_metric]} outside the timed part (TensorBoard, progress); a resumed run replays its
    checkpoint's rows first. on_finish(model) gets the trained model (the restored best weights where early
    stopping restores) of a run that did not diverge. checkpoints: where and how often the run saves its state,
    and whether it resumes. execution: (mode name, the adapter's execution settings) of
    harness.core.execution.MODES; None: the framework's default mode."""
    model = build_checked(adapter, spec.model, seed, spec.training.precision)
    if weights is not None:
        adapter.set_weights(model, weights)
    mode, settings = execution or ("default", None)
    trainer = adapter.make_trainer(spec, model, dataset.target, settings)
    batch_size = batch_size_of(spec, dataset.n_train)
    stopper = EarlyStopper(spec.training.early_stopping, dataset.target.metric)
    plateau = schedules.Plateau(spec.optimizer, dataset.target.metric)
    counters = {"early_stopping": stopper, "plateau": plateau}  # what a checkpoint saves of the loop's own state
    best_weights, epochs, status, kept = None, [], "ok", 0
    if checkpoints is not None and checkpoints.resume:
        epochs, best_weights = _resume(checkpoints, trainer, counters, spec, log, on_epoch)
        kept = sum(len(row.get("batch_losses", [])) for row in epochs)
    for epoch in range(len(epochs), spec.training.epochs):
        row, kept = _train_epoch(trainer, spec, dataset, seed, epoch, batch_size, kept)
        epochs.append(row)
        if not math.isfinite(row["loss"]):
            on_epoch(row)
            status = "diverged"
            log(f"epoch {epoch + 1}: loss is {row['loss']}, stopping (diverged)")
            break
        log(_epoch_line(row, spec.training.epochs, dataset.target.metric))
        on_epoch(row)
        stop = stopper.update(epoch, row)
        _reduce_on_plateau(plateau, trainer, row, log)
        if stopper.restore and stopper.best_epoch == epoch:
            best_weights = adapter.get_weights(model)
        if stop:
            log(f"early stopping after epoch {epoch + 1} (best epoch {stopper.best_epoch + 1})")
            break
        if checkpoints is not None and checkpoints.due(epoch + 1, spec.training.epochs):
            checkpoints.save(trainer, epochs, counters, best_weights)
    _finish(adapter, model, best_weights, status, on_finish)
    return {"status": status, "epochs": epochs, "test": _test_figures(trainer, dataset) if status == "ok" else {},
            "batch_size": batch_size, "stopped_early": status == "ok" and len(epochs) < spec.training.epochs,
            "best_epoch": None if stopper.best_epoch is None else stopper.best_epoch + 1,
            "params": adapter.count_params(model), "hyperparameters": trainer.hyperparameters(),
            "execution": {"mode": mode, **trainer.execution_settings()}}


def _train_epoch(trainer, spec: Spec, dataset: Dataset, seed: int, epoch: int, batch_size: int,
                 kept: int) -> tuple[dict, int]:
    """One epoch in the harness' batch order, timed, then the validation figures (unless it diverged). Returns
    its row and the run's count of batch losses kept."""
    order = epoch_order(seed, epoch, dataset.n_train)
    x, y = dataset.x_train[order], dataset.y_train[order]
    learning_rate = _epoch_learning_rate(trainer, spec, epoch)
    start = time.perf_counter()
    loss, metric = trainer.train_epoch(x, y, batch_size)
    row = {"epoch": epoch + 1, "loss": loss, "metric": metric, "epoch_seconds": time.perf_counter() - start,
           **learning_rate}
    kept = _keep_batch_losses(row, trainer.batch_losses, kept)
    if math.isfinite(loss) and len(dataset.x_val):
        row["val_loss"], row["val_metric"] = trainer.evaluate(dataset.x_val, dataset.y_val)
    return row, kept


def _epoch_learning_rate(trainer, spec: Spec, epoch: int) -> dict:
    """Sets a step: epoch schedule's rate for this epoch. Returns {"learning_rate": the rate of the epoch's first
    update, read back from the framework's optimizer} for a spec with a schedule; {} for a constant rate."""
    if schedules.per_epoch(spec.optimizer):
        trainer.set_learning_rate(schedules.rate(spec.optimizer, epoch))
    return {} if spec.optimizer.schedule is None else {"learning_rate": trainer.learning_rate()}


def _reduce_on_plateau(plateau: schedules.Plateau, trainer, row: dict, log) -> None:
    """reduce_on_plateau's decision on the finished epoch, applied to the framework's optimizer."""
    reduced = plateau.update(row[plateau.key], trainer.learning_rate()) if plateau.config else None
    if reduced is not None:
        trainer.set_learning_rate(reduced)
        log(f"epoch {row['epoch']}: {plateau.key} on a plateau, learning rate reduced to {reduced:.6g}")


def _resume(checkpoints: Checkpoints, trainer, counters: dict, spec: Spec, log, on_epoch) -> tuple:
    """The checkpoint's epoch rows (replayed to on_epoch: TensorBoard gets the whole run) and best weights."""
    canonical = [(shape, "float32") for _, shape in weights_npz.layout(spec.model)]
    rows, best_weights = checkpoints.restore(trainer, counters, canonical, spec.training.epochs, log)
    for row in rows:
        on_epoch(row)
    return rows, best_weights


def _keep_batch_losses(row: dict, losses: list, kept: int) -> int:
    """Adds the epoch's batch losses to its row while the run's count stays within MAX_BATCH_LOSSES."""
    kept += len(losses)
    if kept <= MAX_BATCH_LOSSES:
        row["batch_losses"] = list(losses)
    return kept


def _finish(adapter, model, best_weights: Optional[list], status: str, on_finish) -> None:
    """The restored best weights (early stopping), then on_finish(model) for a run that did not diverge."""
    if best_weights is not None:
        adapter.set_weights(model, best_weights)
    if status == "ok":
        on_finish(model)


def _test_figures(trainer, dataset: Dataset) -> dict:
    loss, _ = trainer.evaluate(dataset.x_test, dataset.y_test)
    predictions = trainer.predict(dataset.x_test)
    return {"test_loss": loss, **metrics.test_set_figures(dataset, predictions)}


def _epoch_line(row: dict, epochs: int, metric: str) -> str:
    line = f"epoch {row['epoch']}/{epochs}  loss {row['loss']:.4f}  {metric} {row['metric']:.4f}"
    if "val_loss" in row:
        line += f"  val_loss {row['val_loss']:.4f}  val_{metric} {row['val_metric']:.4f}"
    return line + f"  ({row['epoch_seconds']:.2f} s)"
