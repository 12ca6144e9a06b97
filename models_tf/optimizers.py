"""Keras optimizers from the spec, every constructor argument stated so that no Keras default applies silently.

The twin of models_torch/optimizers.py. There, parity mode needs optimizers that reimplement Keras' update rules
(`keras_exact_arguments`); here Keras' own optimizers are those rules, so both functions build the same ones.
"""

import keras

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


def keras_exact_arguments(optimizer_spec):
    """(optimizer class, keyword arguments) running Keras' update rule, for parity mode: Keras' own optimizer,
    every argument stated (`optimizer_arguments` without `native`)."""
    return optimizer_arguments(optimizer_spec)
