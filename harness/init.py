"""Initial weights drawn once in numpy, in the canonical layout (Keras `get_weights()` order and shapes).

Both adapters load these same arrays, so a run's two models start from the same point. The distributions are
the Keras ones (`keras.initializers.VarianceScaling`): truncated normals are cut at two standard deviations and
rescaled by 0.8796 so that the variance is the nominal one.
"""

import numpy as np

from harness import registry, shapes
from harness.spec import ModelSpec

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


def _truncated_normal(rng: np.random.Generator, stddev: float, shape) -> np.ndarray:
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(outside.sum())
        outside = np.abs(values) > 2
    return values * stddev


def draw(name: str, shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """One tensor from the named initializer, float32."""
    registry.get(registry.INITIALIZERS, name, "initializer")
    if name == "zeros":
        return np.zeros(shape, np.float32)
    if name == "ones":
        return np.ones(shape, np.float32)
    scale, mode, distribution = _VARIANCE_SCALING[name]
    fan = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    if distribution == "uniform":
        limit = np.sqrt(3.0 * scale / fan)
        values = rng.uniform(-limit, limit, shape)
    else:
        values = _truncated_normal(rng, np.sqrt(scale / fan) / _TRUNCATED_STDDEV, shape)
    return values.astype(np.float32)


def initial_weights(model: ModelSpec, seed: int) -> list[np.ndarray]:
    """All trainable tensors of the model, in canonical order: per dense layer kernel (in, units), then bias (units,)."""
    rng = np.random.default_rng([seed, 0x1A17])
    weights = []
    for info, layer in zip(shapes.infer(model), model.layers):
        if layer.type == "dense":
            fan_in = info.input_shape[-1]
            weights.append(draw(layer.kernel_initializer, (fan_in, layer.units), fan_in, layer.units, rng))
            if layer.use_bias:
                weights.append(draw(layer.bias_initializer, (layer.units,), fan_in, layer.units, rng))
    return weights
