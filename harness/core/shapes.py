"""Shape inference and parameter counts, computed from the spec alone (no framework).

Each layer maps one sample's shape (no batch axis, channels last) to its output shape. An impossible stack is
rejected here with the layer's index, type and incoming shape, before any framework is loaded.
"""

import math
from dataclasses import dataclass
from math import prod

from harness.core.errors import SpecError
from harness.core.spec import ModelSpec
from harness.core.spec_layers import as_tuple, pad_pairs


@dataclass(frozen=True)
class LayerInfo:
    index: int
    type: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int              # trainable
    non_trainable: int = 0   # batch normalization's moving mean and variance


class Impossible(Exception):
    """Raised by a rule; `infer` turns it into a SpecError naming the layer."""


def _rank(shape, ranks, what):
    if len(shape) not in ranks:
        raise Impossible(f"needs {what}")


def window_output(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Output length along one axis, as TensorFlow computes it: valid floor((n - d(k-1) - 1) / s) + 1,
    same ceil(n / s)."""
    if padding == "same":
        return math.ceil(size / stride)
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding along one axis: (before, after), the extra element after."""
    effective = dilation * (kernel - 1) + 1
    total = max((window_output(size, kernel, stride, dilation, "same") - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _windows(shape, kernel, strides, dilation, padding):
    spatial = []
    for size, k, s, d in zip(shape, kernel, strides, dilation):
        out = window_output(size, k, s, d, padding)
        if out < 1:
            raise Impossible(f"a window of {d * (k - 1) + 1} is larger than the input ({size}) with padding 'valid'")
        spatial.append(out)
    return tuple(spatial)


def _dense(layer, shape):
    return shape[:-1] + (layer.units,), shape[-1] * layer.units + (layer.units if layer.use_bias else 0)


def _conv(layer, shape):
    rank = 1 if layer.type == "conv1d" else 2
    axes = "steps, channels" if rank == 1 else "height, width, channels"
    _rank(shape, [rank + 1], f"input of rank {rank + 1} ({axes})")
    kernel = as_tuple(layer.kernel_size, rank)
    spatial = _windows(shape[:-1], kernel, as_tuple(layer.strides, rank), as_tuple(layer.dilation_rate, rank),
                       layer.padding)
    params = prod(kernel) * shape[-1] * layer.filters + (layer.filters if layer.use_bias else 0)
    return spatial + (layer.filters,), params


def _pool(layer, shape):
    rank = 1 if layer.type.endswith("1d") else 2
    _rank(shape, [rank + 1], f"input of rank {rank + 1}")
    pool = as_tuple(layer.pool_size, rank)
    strides = as_tuple(layer.strides, rank) if layer.strides is not None else pool
    return _windows(shape[:-1], pool, strides, (1,) * rank, layer.padding) + shape[-1:], 0


def _global_pool(layer, shape):
    rank = 1 if layer.type.endswith("1d") else 2
    _rank(shape, [rank + 1], f"input of rank {rank + 1}")
    return shape[-1:], 0


def _zero_padding(layer, shape):
    pads = pad_pairs(layer)
    _rank(shape, [len(pads) + 1], f"input of rank {len(pads) + 1}")
    return tuple(size + before + after for size, (before, after) in zip(shape, pads)) + shape[-1:], 0


def _reshape(layer, shape):
    target, size = list(layer.target_shape), prod(shape)
    if -1 in target:
        known = prod(v for v in target if v != -1)
        if size % known:
            raise Impossible(f"{size} values cannot be reshaped to {layer.target_shape}")
        target[target.index(-1)] = size // known
    if prod(target) != size:
        raise Impossible(f"{size} values cannot be reshaped to {layer.target_shape}")
    return tuple(target), 0


def _batch_norm(layer, shape):
    channels = shape[-1]
    return shape, channels * (int(layer.center) + int(layer.scale))


def _recurrent(layer, shape):
    _rank(shape, [2], "input of rank 2 (timesteps, features)")
    gates = {"simple_rnn": 1, "lstm": 4, "gru": 3}[layer.type]
    units, features = layer.units, shape[-1]
    bias = gates * units * (2 if layer.type == "gru" else 1) if layer.use_bias else 0
    params = gates * units * (features + units) + bias
    directions = 2 if layer.bidirectional else 1
    width = units * (2 if layer.bidirectional and layer.merge_mode == "concat" else 1)
    return ((shape[0], width) if layer.return_sequences else (width,)), directions * params


def _embedding(layer, shape):
    _rank(shape, [1], "input of rank 1 (timesteps,) of integer ids")
    return shape + (layer.output_dim,), layer.input_dim * layer.output_dim


def _same(layer, shape):
    return shape, 0


def _flatten(layer, shape):
    return (prod(shape),), 0


_RULES = {"dense": _dense, "dropout": _same, "activation": _same, "flatten": _flatten, "reshape": _reshape,
          "batch_normalization": _batch_norm, "conv1d": _conv, "conv2d": _conv, "max_pool1d": _pool,
          "average_pool1d": _pool, "max_pool2d": _pool, "average_pool2d": _pool,
          "global_average_pool1d": _global_pool, "global_max_pool1d": _global_pool,
          "global_average_pool2d": _global_pool, "global_max_pool2d": _global_pool, "simple_rnn": _recurrent,
          "lstm": _recurrent, "gru": _recurrent, "embedding": _embedding, "zero_padding1d": _zero_padding,
          "zero_padding2d": _zero_padding, "rescaling": _same, "leaky_relu": _same}


def infer(model: ModelSpec) -> list[LayerInfo]:
    """Per layer: incoming shape, output shape (without the batch axis) and parameter counts."""
    infos, shape = [], tuple(model.input_shape)
    for index, layer in enumerate(model.layers):
        if layer.type == "embedding" and index > 0:
            raise SpecError(f"model.layers[{index}]", f"embedding cannot take input of shape {list(shape)}: it must "
                                                      "be the first layer (it takes integer ids)")
        try:
            out, params = _RULES[layer.type](layer, shape)
        except Impossible as error:
            raise SpecError(f"model.layers[{index}]", f"{layer.type} cannot take input of shape {list(shape)}: "
                                                      f"{error}") from None
        non_trainable = 2 * shape[-1] if layer.type == "batch_normalization" else 0
        infos.append(LayerInfo(index, layer.type, shape, out, params, non_trainable))
        shape = out
    return infos


def output_shape(model: ModelSpec) -> tuple[int, ...]:
    return infer(model)[-1].output_shape


def count_params(model: ModelSpec) -> int:
    """Trainable parameters, the figure both frameworks must report."""
    return sum(info.params for info in infer(model))
