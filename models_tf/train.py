"""Training a Keras Sequential: optimizer, loss and metric from the spec; one `fit` call per epoch.

The neutral core hands over each epoch's samples already in their batch order, so `fit` runs with
`shuffle=False`; Keras keeps the last partial batch, and its epoch loss is the sample-weighted mean of the
per-batch losses before each update, regularization included (what the torch adapter reports too).
"""

import keras
import numpy as np

from harness.core import registry

# Arguments every Keras optimizer takes; set to "off" explicitly so that no Keras default applies silently.
_BASE = dict(clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
             ema_overwrite_frequency=None, loss_scale_factor=None, gradient_accumulation_steps=None)


def _sgd(o):
    return keras.optimizers.SGD, dict(learning_rate=o.learning_rate, momentum=o.momentum, nesterov=o.nesterov,
                                      weight_decay=None, **_BASE)


def _adam(o):
    return keras.optimizers.Adam, dict(learning_rate=o.learning_rate, beta_1=o.beta_1, beta_2=o.beta_2,
                                       epsilon=o.epsilon, amsgrad=o.amsgrad, weight_decay=None, **_BASE)


def _adamw(o):
    return keras.optimizers.AdamW, dict(learning_rate=o.learning_rate, weight_decay=o.weight_decay, beta_1=o.beta_1,
                                        beta_2=o.beta_2, epsilon=o.epsilon, amsgrad=o.amsgrad, **_BASE)


def _rmsprop(o):
    return keras.optimizers.RMSprop, dict(learning_rate=o.learning_rate, rho=o.rho, momentum=o.momentum,
                                          epsilon=o.epsilon, centered=o.centered, weight_decay=None, **_BASE)


def _adagrad(o):
    return keras.optimizers.Adagrad, dict(learning_rate=o.learning_rate,
                                          initial_accumulator_value=o.initial_accumulator_value,
                                          epsilon=o.epsilon, weight_decay=None, **_BASE)


OPTIMIZERS = {"sgd": _sgd, "adam": _adam, "adamw": _adamw, "rmsprop": _rmsprop, "adagrad": _adagrad}


def optimizer_arguments(optimizer_spec, native: bool = False):
    """(optimizer class, keyword arguments) for the spec's optimizer. native: only the hyperparameters the spec
    states, so that the framework's own defaults fill the rest (what a naive port does)."""
    optimizer_class, kwargs = registry.get(OPTIMIZERS, optimizer_spec.type, "optimizer")(optimizer_spec)
    if native:
        stated = {field for field in optimizer_spec.model_fields_set}
        kwargs = {name: value for name, value in kwargs.items() if name in stated}
    return optimizer_class, kwargs


def _loss_arguments(loss: str, target):
    reduction = "sum_over_batch_size"  # = mean over the batch, torch's "mean"
    if loss == "categorical_crossentropy" and target.label_format == "sparse":
        return keras.losses.SparseCategoricalCrossentropy, dict(from_logits=False, ignore_class=None,
                                                                reduction=reduction, axis=-1)
    if loss == "categorical_crossentropy":
        return keras.losses.CategoricalCrossentropy, dict(from_logits=False, label_smoothing=0.0, axis=-1,
                                                          reduction=reduction)
    if loss == "binary_crossentropy":
        return keras.losses.BinaryCrossentropy, dict(from_logits=False, label_smoothing=0.0, axis=-1,
                                                     reduction=reduction)
    table = {"mse": keras.losses.MeanSquaredError, "mae": keras.losses.MeanAbsoluteError}
    return registry.get(table, loss, "loss"), dict(reduction=reduction)


def _metric(target):
    if target.accuracy == "sparse_categorical":
        return keras.metrics.SparseCategoricalAccuracy(name="metric")
    if target.accuracy == "categorical":
        return keras.metrics.CategoricalAccuracy(name="metric")
    if target.accuracy == "binary":
        return keras.metrics.BinaryAccuracy(name="metric", threshold=0.5)
    return keras.metrics.MeanAbsoluteError(name="metric")


class Trainer:
    """execution: Keras compile arguments that choose how the steps run (run_eagerly, jit_compile,
    steps_per_execution), from `harness bench`'s modes table; None keeps the graph mode `harness run` uses."""

    def __init__(self, spec, model, target, execution: dict | None = None):
        self.model, self.target = model, target
        native = spec.optimizer_defaults == "native"
        optimizer_class, self.optimizer_kwargs = optimizer_arguments(spec.optimizer, native=native)
        loss_class, self.loss_kwargs = _loss_arguments(spec.loss, target)
        self.eval_batch_size = spec.training.eval_batch_size
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
        """One pass over (x, y) in the given order; TerminateOnNaN stops at the first non-finite batch loss."""
        history = self.model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False,
                                 callbacks=[keras.callbacks.TerminateOnNaN()], validation_split=0.0,
                                 class_weight=None, sample_weight=None)
        logs = history.history
        return float(logs["loss"][-1]), float(logs["metric"][-1])

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        logs = self.model.evaluate(x, y, batch_size=self.eval_batch_size, verbose=0, return_dict=True)
        return float(logs["loss"]), float(logs["metric"])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict(x, batch_size=self.eval_batch_size, verbose=0))

    def hyperparameters(self) -> dict:
        """What Keras actually holds, read back from the objects built."""
        optimizer = self.model.optimizer.get_config()
        optimizer["learning_rate"] = float(self.model.optimizer.learning_rate.numpy())
        loss = self.model.loss.get_config()
        layers = [{"class": type(layer).__name__, **_layer_config(layer)} for layer in self.model.layers]
        return {"optimizer": {"class": type(self.model.optimizer).__name__, **_plain(optimizer)},
                "loss": {"class": type(self.model.loss).__name__, **_plain(loss)},
                "compile": self.compile_arguments, "layers": layers}


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
