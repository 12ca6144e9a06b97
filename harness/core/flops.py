"""Floating-point operations per sample, estimated from the spec alone (no framework).

Convention:
- one multiply-add is 2 FLOPs, and only the matrix products are counted: dense, conv1d / conv2d and the input and
  recurrent products of simple_rnn / lstm / gru. Activations, pooling, batch normalization, dropout, biases,
  softmax, the loss and the optimizer step are ignored: they are linear in the activations or the parameters,
  small next to the products for the nets we bench. An embedding is a table lookup, 0 FLOPs.
- a convolution counts every kernel position at every output position, the zeros of 'same' padding included
  (both frameworks multiply them); the output shapes are those `shapes.infer` gives.
- a recurrent layer counts every input time step, whether it returns the sequence or only the last state, and
  its first step's product with the zero initial state (both frameworks compute it).
- training = forward + backward, with the usual convention backward = 2 x forward (one product for the
  gradient of the inputs, one for the gradient of the weights), so training = 3 x forward. It slightly
  over-estimates: a framework skips the gradients nobody needs (the network input's, a recurrent layer's zero
  initial state's; tests/test_flops.py checks the exact relation against PyTorch).
"""

from math import prod

from harness.core import registry, shapes
from harness.core.spec import ModelSpec
from harness.core.spec_layers import as_tuple

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def _dense(layer, info) -> int:
    # (..., in) -> (..., units): one (in,) @ (in, units) product per leading position
    return 2 * prod(info.input_shape[:-1]) * info.input_shape[-1] * layer.units


def _conv(layer, info) -> int:
    # (*spatial, in) -> (*out_spatial, filters): per output position, (prod(kernel) * in,) @ (.., filters)
    kernel = as_tuple(layer.kernel_size, len(info.input_shape) - 1)
    return 2 * prod(info.output_shape[:-1]) * prod(kernel) * info.input_shape[-1] * layer.filters


def _recurrent(layer, info) -> int:
    # (T, features): per step x_t (features,) @ (features, gates * units) and h (units,) @ (units, gates * units)
    steps, features = info.input_shape
    directions = 2 if layer.bidirectional else 1  # the merge (sum, ave, mul) is element-wise: not counted
    return directions * 2 * steps * GATES[layer.type] * layer.units * (features + layer.units)


def _free(layer, info) -> int:
    return 0


RULES = {"dense": _dense, "conv1d": _conv, "conv2d": _conv,
          "simple_rnn": _recurrent, "lstm": _recurrent, "gru": _recurrent,
          **dict.fromkeys(("embedding", "dropout", "activation", "flatten", "reshape", "batch_normalization",
                           "max_pool1d", "average_pool1d", "max_pool2d", "average_pool2d",
                           "global_average_pool1d", "global_max_pool1d", "global_average_pool2d",
                           "global_max_pool2d", "zero_padding1d", "zero_padding2d", "rescaling", "leaky_relu"),
                          _free)}


def layer_flops(model_spec: ModelSpec) -> list[tuple[int, str, int]]:
    """Forward FLOPs of one sample, per layer.

    Returns: [(index, type, flops)], one entry per layer of `model_spec.layers`, in order.
    """
    return [(info.index, layer.type, registry.get(RULES, layer.type, "layer")(layer, info))
            for layer, info in zip(model_spec.layers, shapes.infer(model_spec))]


def forward_flops(model_spec: ModelSpec) -> int:
    """Forward FLOPs of one sample: the sum of `layer_flops`."""
    return sum(flops for _, _, flops in layer_flops(model_spec))


def training_flops(model_spec: ModelSpec) -> int:
    """FLOPs of one training sample, forward and backward: 3 x `forward_flops` (backward = 2 x forward)."""
    return 3 * forward_flops(model_spec)
