"""Keras 3's optimizer updates written out in numpy, for the reference model (`harness.core.reference`): each
rule cites the lines of keras/src/optimizers (Keras 3.15) it follows."""

import numpy as np


def tf_cast(value: float, dtype) -> np.generic:
    """What `ops.cast(value, dtype)` gives for a python float on TensorFlow: the float32 value, then dtype."""
    return np.dtype(dtype).type(np.float32(value))


# ------------------------------------------------------------------------------------------- optimizers
# name -> update(opt, w, g, state, iterations, lr): updates w and its slots (state, a dict) in place, in w's dtype.
# `iterations` counts the steps already taken (Keras increments it after the update, base_optimizer.py:533).

def _sgd(opt, w, g, state, iterations, lr):
    """sgd.py:95-123: m = momentum m - lr g; w += m, or w += momentum m - lr g (nesterov)."""
    if opt.momentum == 0:
        w -= g * lr
        return
    momentum = tf_cast(opt.momentum, w.dtype)  # sgd.py:104
    m = state.setdefault("momentum", np.zeros_like(w))
    m[...] = m * momentum - g * lr
    w += (m * momentum - g * lr) if opt.nesterov else m


def _adam(opt, w, g, state, iterations, lr):
    """adam.py:102-137: moments first, then w -= m alpha / (sqrt(v) + eps), alpha with the bias corrections."""
    dtype = w.dtype.type
    local_step = dtype(iterations + 1)
    beta_1_power = tf_cast(opt.beta_1, w.dtype) ** local_step  # adam.py:107-112
    beta_2_power = tf_cast(opt.beta_2, w.dtype) ** local_step
    alpha = lr * np.sqrt(1 - beta_2_power) / (1 - beta_1_power)
    m = state.setdefault("momentum", np.zeros_like(w))
    v = state.setdefault("velocity", np.zeros_like(w))
    m += (g - m) * dtype(1 - opt.beta_1)  # python 1 - beta: float64 precision, unlike the powers above
    v += (np.square(g) - v) * dtype(1 - opt.beta_2)
    if opt.amsgrad:
        v = state.setdefault("velocity_hat", np.zeros_like(w))
        np.maximum(v, state["velocity"], out=v)
    w -= m * alpha / (np.sqrt(v) + dtype(opt.epsilon))


def _adamw(opt, w, g, state, iterations, lr):
    """Decoupled decay w -= w wd lr of every weight, before the Adam update (base_optimizer.py:589;
    backend/tensorflow/optimizer.py:94-98)."""
    w -= w * tf_cast(opt.weight_decay, w.dtype) * lr
    _adam(opt, w, g, state, iterations, lr)


def _rmsprop(opt, w, g, state, iterations, lr):
    """rmsprop.py:109-154: epsilon inside the square root; momentum accumulates the increments."""
    dtype = w.dtype.type
    rho, epsilon = dtype(opt.rho), dtype(opt.epsilon)
    v = state.setdefault("velocity", np.zeros_like(w))
    v[...] = rho * v + dtype(1 - opt.rho) * np.square(g)
    if opt.centered:
        average = state.setdefault("average_gradient", np.zeros_like(w))
        average[...] = rho * average + dtype(1 - opt.rho) * g
        denominator = v - np.square(average) + epsilon
    else:
        denominator = v + epsilon
    increment = lr * g / np.sqrt(denominator)
    if opt.momentum > 0:
        buffer = state.setdefault("momentum", np.zeros_like(w))
        buffer[...] = dtype(opt.momentum) * buffer + increment
        w -= buffer
    else:
        w -= increment


def _adagrad(opt, w, g, state, iterations, lr):
    """adagrad.py:73-92: the accumulator starts at initial_accumulator_value (cast by Constant,
    initializers/constant_initializers.py:36)."""
    start = tf_cast(opt.initial_accumulator_value, w.dtype)
    accumulator = state.setdefault("accumulator", np.full_like(w, start))
    accumulator += np.square(g)
    w -= lr * g / np.sqrt(accumulator + w.dtype.type(opt.epsilon))


OPTIMIZERS = {"sgd": _sgd, "adam": _adam, "adamw": _adamw, "rmsprop": _rmsprop, "adagrad": _adagrad}


def clip_gradients(opt, grads: list[np.ndarray]) -> list[np.ndarray]:
    """base_optimizer.py `_clip_gradients`, before weight decay and the update: clipnorm per tensor (tf
    clip_ops.clip_by_norm: g clip / max(||g||, clip)); global_clipnorm over all tensors (`clip_by_global_norm`:
    g (clip min(1 / norm, 1 / clip) + (norm - norm))); clipvalue elementwise."""
    if opt.clipnorm:
        clipped = []
        for g in grads:
            clip, l2sum = g.dtype.type(opt.clipnorm), np.sum(g * g)
            norm = np.sqrt(l2sum) if l2sum > 0 else l2sum
            clipped.append(g * clip / np.maximum(norm, clip))
        return clipped
    if opt.global_clipnorm and grads:
        norm = np.sqrt(np.sum(np.stack([np.sum(np.square(g)) for g in grads])))
        dtype = norm.dtype.type
        scale = dtype(opt.global_clipnorm) * np.minimum(dtype(1.0) / norm, dtype(1.0 / opt.global_clipnorm))
        return [g * (scale + (norm - norm)) for g in grads]
    if opt.clipvalue:
        return [np.clip(g, -opt.clipvalue, opt.clipvalue).astype(g.dtype) for g in grads]
    return grads
