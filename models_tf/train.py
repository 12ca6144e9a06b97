"""Training a Keras Sequential: optimizer, loss and metric from the spec; one `fit` call per epoch.

The neutral core hands over each epoch's samples already in their batch order, so `fit` runs with
`shuffle=False`; Keras keeps the last partial batch, and its epoch loss is the sample-weighted mean of the
per-batch losses before each update, regularization included (what the torch adapter reports too).
"""

import math

import keras
import numpy as np

from models_tf.losses import class_weight, loss_arguments
from models_tf.optimizers import optimizer_arguments


def _metric(target):
    if target.accuracy == "sparse_categorical":
        return keras.metrics.SparseCategoricalAccuracy(name="metric")
    if target.accuracy == "categorical":
        return keras.metrics.CategoricalAccuracy(name="metric")
    if target.accuracy == "binary":
        return keras.metrics.BinaryAccuracy(name="metric", threshold=0.5)
    return keras.metrics.MeanAbsoluteError(name="metric")


class _BatchLosses(keras.callbacks.Callback):
    """Each batch's loss, before the update and with the penalty, and a stop at the first non-finite one (what
    keras.callbacks.TerminateOnNaN does). Keras logs the running mean over the epoch; resetting its loss tracker
    before each batch, as train_on_batch resets every metric, makes logs["loss"] that batch's own loss."""

    def __init__(self, tracker, per_batch: bool):
        super().__init__()
        self.tracker, self.per_batch, self.losses = tracker, per_batch, []

    def on_train_batch_begin(self, batch, logs=None):
        if self.per_batch:  # with steps_per_execution > 1 (harness bench) Keras calls back once per N steps
            self.tracker.reset_state()

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))
        if not math.isfinite(self.losses[-1]):
            self.model.stop_training = True


class Trainer:
    """execution: Keras compile arguments that choose how the steps run (run_eagerly, jit_compile,
    steps_per_execution), from `harness bench`'s modes table; None keeps the graph mode `harness run` uses."""

    def __init__(self, spec, model, target, execution: dict | None = None):
        self.model, self.target = model, target
        native = spec.optimizer_defaults == "native"
        optimizer_class, self.optimizer_kwargs = optimizer_arguments(spec.optimizer, native=native)
        loss_class, self.loss_kwargs = loss_arguments(spec, target)
        self.eval_batch_size = spec.training.eval_batch_size
        self.batch_losses = []  # the last epoch's batch losses
        # jit_compile "auto" would resolve differently on a GPU machine; graph mode without XLA, stated.
        self.compile_arguments = dict(run_eagerly=False, steps_per_execution=1, jit_compile=False,
                                      auto_scale_loss=False)
        unknown = set(execution or {}) - {"run_eagerly", "steps_per_execution", "jit_compile"}
        if unknown:
            raise ValueError(f"unknown Keras execution settings {sorted(unknown)}")
        self.compile_arguments.update(execution or {})
        model.compile(optimizer=optimizer_class(**self.optimizer_kwargs), loss=loss_class(**self.loss_kwargs),
                      metrics=[_metric(target)], loss_weights=None, weighted_metrics=None, **self.compile_arguments)

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[float, float]:
        """One pass over (x, y) in the given order, stopped at the first non-finite batch loss (then NaN). The
        epoch loss is the sample-weighted mean of the batch losses (`batch_losses`, kept until the next epoch), as
        the torch adapter computes it; with steps_per_execution > 1 it is Keras' running mean, and there are
        no batch losses."""
        tracker = next(metric for metric in self.model.metrics if metric.name == "loss")
        recorder = _BatchLosses(tracker, per_batch=self.compile_arguments["steps_per_execution"] == 1)
        history = self.model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False,
                                 callbacks=[recorder], validation_split=0.0,
                                 class_weight=class_weight(self.target), sample_weight=None)
        metric = float(history.history["metric"][-1])
        if recorder.losses and not math.isfinite(recorder.losses[-1]):
            self.batch_losses = recorder.losses
            return float("nan"), float("nan")
        if not recorder.per_batch:  # one running mean per N steps: Keras' own epoch mean
            self.batch_losses = []
            return float(history.history["loss"][-1]), metric
        self.batch_losses = recorder.losses
        sizes = [min(batch_size, len(x) - start) for start in range(0, len(x), batch_size)]
        return sum(size * value for size, value in zip(sizes, recorder.losses)) / len(x), metric

    def learning_rate(self) -> float:
        """The rate the next update applies, read back from the optimizer (a schedule's value at its iterations)."""
        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def set_learning_rate(self, rate: float) -> None:
        """Assigns the optimizer's rate variable (a step: epoch schedule, reduce_on_plateau)."""
        self.model.optimizer.learning_rate = rate

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        logs = self.model.evaluate(x, y, batch_size=self.eval_batch_size, verbose=0, return_dict=True)
        return float(logs["loss"]), float(logs["metric"])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(x, batch_size=self.eval_batch_size, verbose=0))

    def execution_settings(self) -> dict:
        """How the steps run: the Keras compile arguments in force (run_eagerly, steps_per_execution,
        jit_compile, auto_scale_loss)."""
        return dict(self.compile_arguments)

    def hyperparameters(self) -> dict:
        """What Keras actually holds, read back from the objects built. The same keys as the torch adapter's:
        optimizer and loss ({"class": ..., their config}), layers, and under "framework" what only Keras has
        (the compile arguments)."""
        optimizer = self.model.optimizer.get_config()
        optimizer["learning_rate"] = float(self.model.optimizer.learning_rate.numpy())
        loss = self.model.loss.get_config()
        layers = [{"class": type(layer).__name__, **_layer_config(layer)} for layer in self.model.layers]
        return {"optimizer": {"class": type(self.model.optimizer).__name__, **_plain(optimizer)},
                "loss": {"class": type(self.model.loss).__name__, **_plain(loss),
                         "class_weight": class_weight(self.target)},
                "layers": layers, "framework": {"compile": self.compile_arguments}}


def _layer_config(layer) -> dict:
    keys = ("units", "activation", "use_bias", "rate", "kernel_regularizer", "bias_regularizer")
    config = layer.get_config()
    return _plain({k: config[k] for k in keys if k in config})


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def make_trainer(spec, model, target, execution: dict | None = None) -> Trainer:
    return Trainer(spec, model, target, execution)
