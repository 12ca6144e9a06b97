"""The spec's initializers as torch.nn.init calls, each drawing from the distribution Keras draws from.

Fans are Keras' (harness.core.init.fans of the canonical shape). A torch weight (out, in, k...) has the same fans
as its canonical (k..., in, out) kernel, so xavier_ and kaiming_ apply to matrices and kernels as they are; a
bias, or a GRU bias Keras draws as one (2, 3H) tensor, gets its bounds written out.
"""

import math

from harness.core.init import fans

_TRUNCATED_STDDEV = 0.87962566103423978  # stddev of a unit normal cut at two standard deviations (as Keras)
# Keras name -> (scale, fan mode, distribution), keras/src/initializers/random_initializers.py
_VARIANCE_SCALING = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"), "glorot_normal": (1.0, "fan_avg", "normal"),
    "he_uniform": (2.0, "fan_in", "uniform"), "he_normal": (2.0, "fan_in", "normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"), "lecun_normal": (1.0, "fan_in", "normal"),
}
# torch's own call for a matrix or kernel, where it draws exactly Keras' uniform distribution
_TORCH_UNIFORM = {"glorot_uniform": "nn.init.xavier_uniform_({})",
                  "he_uniform": 'nn.init.kaiming_uniform_({}, nonlinearity="relu")',
                  "lecun_uniform": 'nn.init.kaiming_uniform_({}, nonlinearity="linear")'}


def _number(value: float) -> str:
    return f"{value:.9g}"


def init_lines(name: str, target: str, canonical_shape: tuple) -> list[str]:
    """The lines that initialize the parameter `target` (a torch expression) as Keras' `name` initializer
    initializes a tensor of the canonical shape."""
    if name == "zeros":
        return [f"nn.init.zeros_({target})"]
    if name == "ones":
        return [f"nn.init.ones_({target})"]
    if name == "random_uniform":
        return [f"nn.init.uniform_({target}, -0.05, 0.05)"]
    matrix = len(canonical_shape) >= 2 and not target.endswith(("bias_ih_l0", "bias_hh_l0", "bias_ih_l0_reverse",
                                                                   "bias_hh_l0_reverse"))
    if name == "orthogonal":
        return [f"nn.init.orthogonal_({target if matrix else target + '.view(1, -1)'}, gain=1.0)"]
    scale, mode, distribution = _VARIANCE_SCALING[name]
    fan_in, fan_out = fans(tuple(canonical_shape))
    n = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2
    if distribution == "uniform":
        if matrix:
            return [_TORCH_UNIFORM[name].format(target)]
        limit = _number(math.sqrt(3.0 * scale / n))
        return [f"nn.init.uniform_({target}, -{limit}, {limit})  # {name}"]
    std = math.sqrt(scale / n) / _TRUNCATED_STDDEV
    return [f"nn.init.trunc_normal_({target}, std={_number(std)}, a={_number(-2 * std)}, b={_number(2 * std)})"
            f"  # {name}"]
