"""Keras optimizers from the spec, every constructor argument stated so that no Keras default applies silently.

The twin of models_torch/optimizers.py. There, parity mode needs optimizers that reimplement Keras' update rules
(`keras_exact_arguments`); here Keras' own optimizers are those rules, so both functions build the same ones.
"""

import keras

from harness.core import registry, schedules

# Arguments every Keras optimizer takes; set to "off" explicitly so that no Keras default applies silently. The
# clipping arguments (clipnorm, global_clipnorm, clipvalue) come from the spec, None unless it states one.
_BASE = dict(use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
             gradient_accumulation_steps=None)


def _piecewise_constant(o, s):
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries=list(s.boundaries), values=list(s.values),
                                                             name="PiecewiseConstant")


def _exponential_decay(o, s):
    return keras.optimizers.schedules.ExponentialDecay(initial_learning_rate=o.learning_rate,
                                                       decay_steps=s.decay_steps, decay_rate=s.decay_rate,
                                                       staircase=s.staircase, name="ExponentialDecay")


def _cosine_decay(o, s):
    # Keras' warm-up runs from initial_learning_rate to warmup_target: the spec's warmup_start to learning_rate.
    return keras.optimizers.schedules.CosineDecay(initial_learning_rate=s.warmup_start, decay_steps=s.decay_steps,
                                                  alpha=s.alpha, name="CosineDecay", warmup_target=o.learning_rate,
                                                  warmup_steps=s.warmup_steps)


SCHEDULES = {"piecewise_constant": _piecewise_constant, "exponential_decay": _exponential_decay,
             "cosine_decay": _cosine_decay}


def _learning_rate(optimizer_spec):
    """The optimizer's learning_rate argument: Keras' own schedule object for a per-batch schedule (it counts
    optimizer.iterations), else the float rate, which the epoch loop reassigns for step: epoch and plateau."""
    if schedules.per_batch(optimizer_spec):
        return SCHEDULES[optimizer_spec.schedule.type](optimizer_spec, optimizer_spec.schedule)
    return schedules.rate(optimizer_spec, 0) if schedules.per_epoch(optimizer_spec) else optimizer_spec.learning_rate


def _common(o) -> dict:
    return dict(learning_rate=_learning_rate(o), clipnorm=o.clipnorm, global_clipnorm=o.global_clipnorm,
                clipvalue=o.clipvalue, **_BASE)


def _sgd(o):
    return keras.optimizers.SGD, dict(momentum=o.momentum, nesterov=o.nesterov, weight_decay=None, **_common(o))


def _adam(o):
    return keras.optimizers.Adam, dict(beta_1=o.beta_1, beta_2=o.beta_2, epsilon=o.epsilon, amsgrad=o.amsgrad,
                                       weight_decay=None, **_common(o))


def _adamw(o):
    return keras.optimizers.AdamW, dict(weight_decay=o.weight_decay, beta_1=o.beta_1, beta_2=o.beta_2,
                                        epsilon=o.epsilon, amsgrad=o.amsgrad, **_common(o))


def _rmsprop(o):
    return keras.optimizers.RMSprop, dict(rho=o.rho, momentum=o.momentum, epsilon=o.epsilon, centered=o.centered,
                                          weight_decay=None, **_common(o))


def _adagrad(o):
    return keras.optimizers.Adagrad, dict(initial_accumulator_value=o.initial_accumulator_value, epsilon=o.epsilon,
                                          weight_decay=None, **_common(o))


OPTIMIZERS = {"sgd": _sgd, "adam": _adam, "adamw": _adamw, "rmsprop": _rmsprop, "adagrad": _adagrad}


def optimizer_arguments(optimizer_spec, native: bool = False):
    """(optimizer class, keyword arguments) for the spec's optimizer. native: only the hyperparameters the spec
    states, so that the framework's own defaults fill the rest (what a naive port does)."""
    optimizer_class, kwargs = registry.get(OPTIMIZERS, optimizer_spec.type, "optimizer")(optimizer_spec)
    if native:
        stated = set(optimizer_spec.model_fields_set)
        if optimizer_spec.schedule is not None:  # a stated schedule is the learning rate a port would pass
            stated.add("learning_rate")
        kwargs = {name: value for name, value in kwargs.items() if name in stated}
    return optimizer_class, kwargs


def keras_exact_arguments(optimizer_spec):
    """(optimizer class, keyword arguments) running Keras' update rule, for parity mode: Keras' own optimizer,
    every argument stated (`optimizer_arguments` without `native`)."""
    return optimizer_arguments(optimizer_spec)
