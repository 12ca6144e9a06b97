"""Initial weights drawn once in numpy, in the canonical layout (Keras `get_weights()` order and shapes).

Both adapters load these same arrays, so a run's two models start from the same point. The distributions are
the Keras ones (keras/src/initializers): fans computed from the tensor's shape as Keras does; truncated normals
cut at two standard deviations and rescaled by 0.8796 so the variance is the nominal one; orthogonal from the
QR decomposition of a normal matrix with the sign correction.
"""

from math import prod

import numpy as np

from harness.core import registry, shapes
from harness.core.spec import ModelSpec
from harness.core.spec_layers import as_tuple

_TRUNCATED_STDDEV = 0.87962566103423978  # stddev of a unit normal truncated to [-2, 2]

# name -> (scale, fan mode, distribution), as in keras/src/initializers/random_initializers.py
_VARIANCE_SCALING = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}


def fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """(fan_in, fan_out) as Keras computes them: a kernel (..., in, out) counts its receptive field."""
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_normal(rng: np.random.Generator, stddev: float, shape) -> np.ndarray:
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(outside.sum())
        outside = np.abs(values) > 2
    return values * stddev


def _orthogonal(rng: np.random.Generator, shape) -> np.ndarray:
    rows, cols = prod(shape[:-1]), shape[-1]
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q *= np.sign(np.diag(r))
    return (q.T if rows < cols else q).reshape(shape)


def draw(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """One tensor from the named initializer, float32."""
    registry.get(registry.INITIALIZERS, name, "initializer")
    if name in ("zeros", "ones"):
        return np.full(shape, 0.0 if name == "zeros" else 1.0, np.float32)
    if name == "orthogonal":
        return _orthogonal(rng, shape).astype(np.float32)
    if name == "random_uniform":
        return rng.uniform(-0.05, 0.05, shape).astype(np.float32)
    scale, mode, distribution = _VARIANCE_SCALING[name]
    fan_in, fan_out = fans(shape)
    fan = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2
    if distribution == "uniform":
        limit = np.sqrt(3.0 * scale / fan)
        return rng.uniform(-limit, limit, shape).astype(np.float32)
    return _truncated_normal(rng, np.sqrt(scale / fan) / _TRUNCATED_STDDEV, shape).astype(np.float32)


# ------------------------------------------------------------------------------------- per layer type
# Each rule returns the layer's weights in Keras order as (name, array, trainable).

def _kernel_and_bias(layer, kernel_shape, rng):
    weights = [("kernel", draw(layer.kernel_initializer, kernel_shape, rng), True)]
    if layer.use_bias:
        weights.append(("bias", draw(layer.bias_initializer, kernel_shape[-1:], rng), True))
    return weights


def _dense(layer, info, rng):
    return _kernel_and_bias(layer, (info.input_shape[-1], layer.units), rng)


def _conv(layer, info, rng):
    rank = 1 if layer.type == "conv1d" else 2
    return _kernel_and_bias(layer, (*as_tuple(layer.kernel_size, rank), info.input_shape[-1], layer.filters), rng)


def _batch_norm(layer, info, rng):
    channels = info.input_shape[-1]
    weights = [("gamma", np.ones(channels, np.float32), True)] if layer.scale else []
    weights += [("beta", np.zeros(channels, np.float32), True)] if layer.center else []
    return weights + [("moving_mean", np.zeros(channels, np.float32), False),
                      ("moving_variance", np.ones(channels, np.float32), False)]


def _recurrent(layer, info, rng):
    """One direction: kernel (D, gH), recurrent_kernel (H, gH), bias (gH,) or (2, 3H) for the GRU; gates g in
    Keras order. Bidirectional: the forward layer's weights, then the backward layer's (Keras' order), each
    direction drawn on its own."""
    if not layer.bidirectional:
        return _one_direction(layer, info, rng)
    return [(f"{direction}.{name}", array, trainable) for direction in ("forward", "backward")
            for name, array, trainable in _one_direction(layer, info, rng)]


def _one_direction(layer, info, rng):
    gates = {"simple_rnn": 1, "lstm": 4, "gru": 3}[layer.type]
    units, width = layer.units, gates * layer.units
    weights = [("kernel", draw(layer.kernel_initializer, (info.input_shape[-1], width), rng), True),
               ("recurrent_kernel", draw(layer.recurrent_initializer, (units, width), rng), True)]
    if not layer.use_bias:
        return weights
    if layer.type == "gru":
        return weights + [("bias", draw(layer.bias_initializer, (2, width), rng), True)]
    bias = draw(layer.bias_initializer, (width,), rng)
    if layer.type == "lstm" and layer.unit_forget_bias:
        bias[units:2 * units] = 1.0  # gates i, f, c, o: the forget gate starts open
    return weights + [("bias", bias, True)]


def _embedding(layer, info, rng):
    return [("embeddings", draw(layer.embeddings_initializer, (layer.input_dim, layer.output_dim), rng), True)]


_RULES = {"dense": _dense, "conv1d": _conv, "conv2d": _conv, "batch_normalization": _batch_norm,
          "simple_rnn": _recurrent, "lstm": _recurrent, "gru": _recurrent, "embedding": _embedding}


def canonical_weights(model: ModelSpec, seed: int) -> list[tuple[str, np.ndarray, bool]]:
    """(name such as 'layers[0].kernel', initial array, trainable) for every weight, in canonical order."""
    rng = np.random.default_rng([seed, 0x1A17])
    weights = []
    for info, layer in zip(shapes.infer(model), model.layers):
        if layer.type in _RULES:
            weights += [(f"layers[{info.index}].{name}", array, trainable)
                        for name, array, trainable in _RULES[layer.type](layer, info, rng)]
    return weights


def initial_weights(model: ModelSpec, seed: int) -> list[np.ndarray]:
    """Every weight of the model (moving statistics included), in canonical order and layout."""
    return [array for _, array, _ in canonical_weights(model, seed)]
