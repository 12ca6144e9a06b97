"""Training a Keras Sequential: optimizer, loss and metric from the spec; one `fit` call per epoch.

The neutral core hands over each epoch's samples already in their batch order, so `fit` runs with
`shuffle=False`; Keras keeps the last partial batch. Each step writes its own loss (before the update,
regularization included) into a buffer on the device (`_StepLosses`), which is read once per epoch: there is no
host read per step, and every execution mode has the same batch losses. The epoch loss is their sample-weighted
mean, which is what the torch adapter reports too.
"""

import math

import keras
import numpy as np

from models_tf.losses import class_weight, loss_arguments, sample_weights
from models_tf.optimizers import optimizer_arguments

COMPILE_SETTINGS = ("run_eagerly", "steps_per_execution", "jit_compile")
# The trainer's own settings, each with its allowed values, and their defaults (OWN_DEFAULTS):
#   input: how each epoch's samples reach Keras: "dataset" passes tf.data.Dataset.from_tensor_slices(...).batch(B)
#     of the epoch's arrays; "arrays" passes the numpy arrays to fit, and Keras builds its own slicing pipeline
#     from them at every fit call. The same batches and bit-identical losses (tests/test_keras_modes.py); on
#     experiments/mlp_mnist1d.yaml "dataset" trains 1.34x as fast in graph mode and 2.1x with
#     steps_per_execution=32 (benchmarks/keras_levers.py). Keras on PyTorch has no tf.data without TensorFlow:
#     "arrays" there.
#   epoch_per_execution: True runs the whole epoch in one call (steps_per_execution = WHOLE_EPOCH).
OWN_SETTINGS = {"input": ("dataset", "arrays"), "epoch_per_execution": (False, True)}
OWN_DEFAULTS = {"input": "dataset" if keras.backend.backend() == "tensorflow" else "arrays",
                "epoch_per_execution": False}
# steps_per_execution for a whole epoch per call. Keras' step loop also stops where the epoch's data ends, so any
# N at least the epoch's step count makes one call per epoch. This N needs no retracing when the epoch's length
# changes (harness bench's first step, its warm-up and its repeats all have different lengths).
WHOLE_EPOCH = 2**31 - 1
# Steps per epoch that the step-loss buffer holds from the start: a longer epoch replaces it, and the step is
# traced anew (in harness bench that would land in a timed repeat). 256 KiB of float32; writing one loss into it
# per step cost nothing measurable against a buffer of 1,024 (or an in-place scatter), on this CPU.
MIN_CAPACITY = 1 << 16


def _metric(target):
    if target.accuracy == "sparse_categorical":
        return keras.metrics.SparseCategoricalAccuracy(name="metric")
    if target.accuracy == "categorical":
        return keras.metrics.CategoricalAccuracy(name="metric")
    if target.accuracy == "binary":
        return keras.metrics.BinaryAccuracy(name="metric", threshold=0.5)
    return keras.metrics.MeanAbsoluteError(name="metric")


class _StepLosses:
    """Each training step's loss, before the update and with the penalty, written by the step itself into a
    buffer (capacity,) on the device at position `count`, in the loss tracker's dtype (float32, or float64 for a
    float64 model), and read once per epoch.

    The recording step first resets Keras' loss tracker (train_on_batch resets every metric the same way), so
    the tracker's result is the batch's own loss, (loss * B) / B: the value the graph mode's per-batch callback
    used to read from the host after every step."""

    def __init__(self, model):
        self.model = model
        self.tracker = next(metric for metric in model.metrics if metric.name == "loss")
        self.count = keras.Variable(0, dtype="int32", trainable=False, name="step_count")
        self.values = None
        model.train_step = self._recording(model.train_step)  # fit traces model.train_step into its step function

    def _recording(self, step):
        def train_step(data):
            self.tracker.reset_state()
            logs = step(data)
            position = keras.ops.reshape(self.count.value, (1, 1))
            loss = keras.ops.reshape(self.tracker.result(), (1,))
            self.values.assign(keras.ops.scatter_update(self.values.value, position, loss))
            self.count.assign_add(1)
            return logs

        return train_step

    def start(self, steps: int) -> None:
        """Before an epoch of `steps` steps: a buffer large enough (grown at most a few times a run)."""
        if self.values is None or self.values.shape[0] < steps:
            held = 0 if self.values is None else self.values.shape[0]
            capacity = max(steps, MIN_CAPACITY, 2 * held)
            self.values = keras.Variable(np.zeros(capacity, self.tracker.dtype), trainable=False, name="step_losses")
            self.model.train_function = None  # the traced step wrote the old buffer: Keras traces it anew
        self.count.assign(0)

    def read(self) -> list[float]:
        """The losses of the steps since `start`: one host read of the buffer."""
        count = int(self.count.numpy())
        return [float(value) for value in self.values.numpy()[:count]]


def _own_settings(execution: dict) -> dict:
    """The trainer's own settings asked for, checked against OWN_SETTINGS; a ValueError names a bad one."""
    unknown = set(execution) - set(COMPILE_SETTINGS) - set(OWN_SETTINGS)
    if unknown:
        raise ValueError(f"unknown Keras execution settings {sorted(unknown)}; expected among "
                         f"{', '.join(COMPILE_SETTINGS + tuple(OWN_SETTINGS))}")
    asked = {name: value for name, value in execution.items() if name in OWN_SETTINGS}
    for name, value in asked.items():
        if value not in OWN_SETTINGS[name] or isinstance(value, bool) is not isinstance(OWN_SETTINGS[name][0], bool):
            raise ValueError(f"Keras execution setting {name}: expected one of "
                             f"{', '.join(map(repr, OWN_SETTINGS[name]))}; received {value!r}")
    return asked


def _dataset(x: np.ndarray, y: np.ndarray, weights, batch_size: int):
    """The epoch as a tf.data.Dataset of batches in the given order, the last partial one kept: x (B, ...),
    y (B, ...) and, with class weights, each sample's weight (B,), as Keras' fit(class_weight=...) makes them."""
    import tensorflow as tf

    arrays = (x, y) if weights is None else (x, y, weights)
    return tf.data.Dataset.from_tensor_slices(arrays).batch(batch_size)


class Trainer:
    """Keras fit, one call per epoch, in the harness' batch order.

    execution: Keras compile arguments that choose how the steps run (run_eagerly, jit_compile,
    steps_per_execution) and the trainer's own settings (OWN_SETTINGS: input, epoch_per_execution), from the
    execution modes table (harness.core.execution); None keeps the graph mode that `harness run` uses by default.

    Every mode, steps_per_execution = N included, records every batch's loss on the device, and the epoch loss is
    their sample-weighted mean. A non-finite batch loss is found once per epoch, when the buffer is read: the
    epoch runs to its end (on NaN weights from there on), its batch losses stop at the first non-finite one and
    its loss is NaN, so the run is marked diverged after that epoch. Keras' own fit loop still converts each
    call's logs to Python floats in its callback thread (once per step in graph mode, once per N steps with
    steps_per_execution = N); the trainer reads nothing per step."""

    def __init__(self, spec, model, target, execution: dict | None = None):
        self.model, self.target = model, target
        native = spec.optimizer_defaults == "native"
        optimizer_class, self.optimizer_kwargs = optimizer_arguments(spec.optimizer, native=native)
        loss_class, self.loss_kwargs = loss_arguments(spec, target)
        self.eval_batch_size = spec.training.eval_batch_size
        self.batch_losses = []  # the last epoch's batch losses
        self.asked = _own_settings(execution or {})
        self.settings = {**OWN_DEFAULTS, **self.asked}
        # jit_compile "auto" would resolve differently on a GPU machine; graph mode without XLA, stated.
        self.compile_arguments = dict(run_eagerly=False, steps_per_execution=1, jit_compile=False,
                                      auto_scale_loss=False)
        self.compile_arguments.update({k: v for k, v in (execution or {}).items() if k in COMPILE_SETTINGS})
        if self.settings["epoch_per_execution"]:
            self.compile_arguments["steps_per_execution"] = WHOLE_EPOCH
        model.compile(optimizer=optimizer_class(**self.optimizer_kwargs), loss=loss_class(**self.loss_kwargs),
                      metrics=[_metric(target)], loss_weights=None, weighted_metrics=None, **self.compile_arguments)
        self.step_losses = _StepLosses(model)

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[float, float]:
        """One pass over (x, y) in the given order. Returns (epoch loss, epoch metric): the loss is the
        sample-weighted mean of the batch losses (`batch_losses`, kept until the next epoch), as the torch adapter
        computes it; (NaN, NaN) when a batch loss is not finite, with the batch losses up to that one."""
        steps = math.ceil(len(x) / batch_size)
        self.step_losses.start(steps)
        metric = self._fit(x, y, batch_size)
        losses = self.step_losses.read()
        assert len(losses) == steps, f"Keras ran {len(losses)} steps of an epoch of {steps}"
        finite = [math.isfinite(value) for value in losses]
        if not all(finite):
            self.batch_losses = losses[:finite.index(False) + 1]
            return float("nan"), float("nan")
        self.batch_losses = losses
        sizes = [min(batch_size, len(x) - start) for start in range(0, len(x), batch_size)]
        return sum(size * value for size, value in zip(sizes, losses)) / len(x), metric

    def _fit(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
        """One fit call over the epoch; returns Keras' epoch metric."""
        if self.settings["input"] == "dataset":
            data = _dataset(x, y, sample_weights(self.target, y), batch_size)
            history = self.model.fit(data, epochs=1, verbose=0, shuffle=False, callbacks=[], validation_split=0.0,
                                     class_weight=None, sample_weight=None)
        else:
            history = self.model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False, callbacks=[],
                                     validation_split=0.0, class_weight=class_weight(self.target),
                                     sample_weight=None)
        return float(history.history["metric"][-1])

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
        jit_compile, auto_scale_loss), the input in force, and the trainer's own settings (OWN_SETTINGS) that the
        mode asked for."""
        return {**self.compile_arguments, "input": self.settings["input"], **self.asked}

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
