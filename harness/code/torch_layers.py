"""The spec's layers as PyTorch code: for each layer, its module in `__init__`, its lines in `forward`, its
initialization in `init_weights` and its canonical weights in `load_weights` (`Lines`).

PyTorch's convolutions, pooling and batch norm take channels first, the spec (and Keras, and the data) channels
last: the code tracks the layout and moves the channel axis only where it changes, as models_torch does.
"""

import math

from harness.code.common import call, differs, py
from harness.code.torch_init import init_lines
from harness.code.torch_lines import Lines, activation, channel_dim, move, penalize, shape_text
from harness.code.torch_recurrent import RNNS, embedding, recurrent
from harness.core.shapes import same_padding
from harness.core.spec_layers import as_tuple, pad_pairs

# The layout a layer's torch code takes: channels "first", "last", or "any" (element-wise).
WANTS = {"conv1d": "first", "conv2d": "first", "max_pool1d": "first", "average_pool1d": "first",
         "max_pool2d": "first", "average_pool2d": "first", "global_average_pool1d": "first",
         "global_max_pool1d": "first", "global_average_pool2d": "first", "global_max_pool2d": "first",
         "zero_padding1d": "first", "zero_padding2d": "first", "batch_normalization": "first",
         "dense": "last", "flatten": "last", "reshape": "last", "simple_rnn": "last", "lstm": "last", "gru": "last",
         "embedding": "last"}
SHORT = {"dense": "dense", "conv1d": "conv", "conv2d": "conv", "batch_normalization": "norm", "simple_rnn": "rnn",
         "lstm": "lstm", "gru": "gru", "embedding": "embedding", "dropout": "dropout", "leaky_relu": "leaky_relu",
         "max_pool1d": "pool", "average_pool1d": "pool", "max_pool2d": "pool", "average_pool2d": "pool"}


def _dense(layer, info, name, lines, last_activation):
    lines.init.append(f"self.{name} = " + call("nn.Linear", info.input_shape[-1], layer.units, bias=layer.use_bias))
    out = activation(last_activation, f"self.{name}(x)", -1)
    lines.forward.append(f"x = {out}  # {shape_text(info.output_shape, 'last')}")
    kernel = f'w["layers[{info.index}].kernel"]'
    if lines.flat_from:
        rank = len(lines.flat_from) - 1  # (spatial..., channels, out) -> (channels, spatial..., out)
        order = (rank,) + tuple(range(rank)) + (rank + 1,)
        lines.load += differs("flatten", "torch", 4)
        kernel = (f"{kernel}.reshape({', '.join(map(str, lines.flat_from))}, {layer.units})"
                  f".permute{order}.reshape(-1, {layer.units})")
        lines.flat_from = ()
    lines.load.append(f"model.{name}.weight.copy_({kernel}.T)")
    lines.reset += init_lines(layer.kernel_initializer, f"self.{name}.weight", (info.input_shape[-1], layer.units))
    penalize(lines, f"self.{name}.weight", layer.kernel_regularizer)
    if layer.use_bias:
        lines.load.append(f'model.{name}.bias.copy_(w["layers[{info.index}].bias"])')
        lines.reset += init_lines(layer.bias_initializer, f"self.{name}.bias", (layer.units,))
        penalize(lines, f"self.{name}.bias", layer.bias_regularizer)


def _conv(layer, info, name, lines, last_activation):
    rank = len(info.input_shape) - 1
    kernel, strides = as_tuple(layer.kernel_size, rank), as_tuple(layer.strides, rank)
    dilation = as_tuple(layer.dilation_rate, rank)
    padding, pads = 0, ()
    if layer.padding == "same" and max(strides) == 1:
        padding = "same"  # stride 1: torch's 'same' splits the padding as TensorFlow does (the extra after)
    elif layer.padding == "same":
        pairs = [same_padding(n, k, s, d) for n, k, s, d in zip(info.input_shape[:-1], kernel, strides, dilation)]
        pads = tuple(value for pair in reversed(pairs) for value in pair)
    module = "nn.Conv1d" if rank == 1 else "nn.Conv2d"
    lines.init.append(f"self.{name} = " + call(
        module, info.input_shape[-1], layer.filters, kernel_size=kernel if rank > 1 else kernel[0],
        stride=strides if rank > 1 else strides[0], padding=padding,
        dilation=dilation if rank > 1 else dilation[0], bias=layer.use_bias))
    x = "x"
    if any(pads):
        lines.forward += differs("same_padding", "torch", 8)
        x = f"F.pad(x, {py(pads)})"
    out = activation(last_activation, f"self.{name}({x})", channel_dim(lines, info.output_shape))
    lines.forward.append(f"x = {out}  # {shape_text(info.output_shape, 'first')}")
    axes = (rank + 1, rank) + tuple(range(rank))  # canonical (k..., in, out) -> torch (out, in, k...)
    canonical = (*kernel, info.input_shape[-1], layer.filters)
    lines.load.append(f'model.{name}.weight.copy_(w["layers[{info.index}].kernel"].permute{axes})')
    lines.reset += init_lines(layer.kernel_initializer, f"self.{name}.weight", canonical)
    penalize(lines, f"self.{name}.weight", layer.kernel_regularizer)
    if layer.use_bias:
        lines.load.append(f'model.{name}.bias.copy_(w["layers[{info.index}].bias"])')
        lines.reset += init_lines(layer.bias_initializer, f"self.{name}.bias", (layer.filters,))
        penalize(lines, f"self.{name}.bias", layer.bias_regularizer)


def _pool(layer, info, name, lines):
    rank = len(info.input_shape) - 1
    window = as_tuple(layer.pool_size, rank)
    strides = as_tuple(layer.strides, rank) if layer.strides is not None else window
    kind = "Max" if layer.type.startswith("max") else "Avg"
    one = rank == 1  # nn.MaxPool1d takes an int, as it prints itself
    lines.init.append(f"self.{name} = " + call(f"nn.{kind}Pool{rank}d", kernel_size=window[0] if one else window,
                                               stride=strides[0] if one else strides, padding=0))
    pairs = [same_padding(n, k, s) if layer.padding == "same" else (0, 0)
             for n, k, s in zip(info.input_shape[:-1], window, strides)]
    pads = tuple(value for pair in reversed(pairs) for value in pair)
    shape = shape_text(info.output_shape, "first")
    if not any(pads):
        lines.forward.append(f"x = self.{name}(x)  # {shape}")
        return
    lines.forward += differs("same_pool", "torch", 8)
    if kind == "Max":
        lines.forward.append(f'x = self.{name}(F.pad(x, {py(pads)}, value=float("-inf")))  # {shape}')
    else:
        real = f"self.{name}(F.pad(torch.ones_like(x[:1, :1]), {py(pads)}))"
        lines.forward.append(f"x = self.{name}(F.pad(x, {py(pads)})) / {real}  # {shape}")


def _global_pool(layer, info, name, lines):
    dims = (2,) if layer.type.endswith("1d") else (2, 3)
    reduce = "amax" if "max" in layer.type else "mean"
    lines.forward.append(f"x = x.{reduce}(dim={py(dims)})  # {shape_text(info.output_shape, 'last')}")


def _zero_padding(layer, info, name, lines):
    pads = tuple(value for pair in reversed(pad_pairs(layer)) for value in pair)
    lines.forward.append(f"x = F.pad(x, {py(pads)})  # {shape_text(info.output_shape, 'first')}")


def _flatten(layer, info, name, lines, next_type):
    shape = shape_text(info.output_shape, "last")
    if lines.layout != "first" or len(info.input_shape) < 2:
        lines.forward.append(f"x = torch.flatten(x, 1)  # {shape}")
    elif next_type == "dense":
        lines.forward += differs("flatten", "torch", 8)
        lines.forward.append(f"x = torch.flatten(x, 1)  # {shape}")
        lines.flat_from = info.input_shape
    else:
        lines.forward += differs("flatten_last", "torch", 8)
        lines.forward.append(f"x = torch.flatten(x.movedim(1, -1), 1)  # {shape}")
    lines.layout = "last"


def _batch_norm(layer, info, name, lines):
    module = "nn.BatchNorm2d" if len(info.input_shape) == 3 else "nn.BatchNorm1d"
    channels, affine = info.input_shape[-1], layer.center or layer.scale
    lines.init += differs("batch_norm", "torch", 8)
    lines.init.append(f"self.{name} = " + call(module, channels, eps=layer.epsilon,
                                               momentum=float(f"{1.0 - layer.momentum:.12g}"), affine=affine,
                                               track_running_stats=True))
    if affine and not layer.scale:
        lines.init.append(f"self.{name}.weight.requires_grad_(False)  # Keras scale=False: gamma stays 1")
    if affine and not layer.center:
        lines.init.append(f"self.{name}.bias.requires_grad_(False)  # Keras center=False: beta stays 0")
    lines.forward.append(f"x = self.{name}(x)  # {shape_text(info.output_shape, 'first')}")
    index = info.index
    pairs = ([("gamma", "weight")] if layer.scale else []) + ([("beta", "bias")] if layer.center else [])
    pairs += [("moving_mean", "running_mean"), ("moving_variance", "running_var")]
    lines.load += [f'model.{name}.{ours}.copy_(w["layers[{index}].{theirs}"])' for theirs, ours in pairs]


def _elementwise(layer, info, name, lines, last_activation):
    shape = shape_text(info.output_shape, lines.layout)
    if layer.type == "dropout":
        lines.init.append(f"self.{name} = " + call("nn.Dropout", p=layer.rate))
        lines.forward.append(f"x = self.{name}(x)")
    elif layer.type == "leaky_relu":
        lines.init += differs("leaky_relu", "torch", 8)
        lines.init.append(f"self.{name} = " + call("nn.LeakyReLU", negative_slope=layer.negative_slope))
        lines.forward.append(f"x = self.{name}(x)")
    elif layer.type == "rescaling":
        lines.forward.append(f"x = x * {py(layer.scale)} + {py(layer.offset)}  # {shape}")
    elif last_activation != "linear":
        lines.forward.append(f"x = {activation(last_activation, 'x', channel_dim(lines, info.output_shape))}")


def add_layer(lines: Lines, layer, info, next_type, last_activation) -> None:
    """The code of one spec layer. last_activation: the layer's activation as forward applies it ('linear' for
    the last layer when the loss takes logits)."""
    name = f"{SHORT.get(layer.type, layer.type)}{info.index}"
    if layer.type != "flatten":  # a flatten reads either layout (_flatten)
        move(lines, WANTS.get(layer.type, "any"), info.input_shape)
    kind = layer.type
    if kind == "dense":
        _dense(layer, info, name, lines, last_activation)
    elif kind in ("conv1d", "conv2d"):
        _conv(layer, info, name, lines, last_activation)
    elif kind.startswith(("max_pool", "average_pool")):
        _pool(layer, info, name, lines)
    elif kind.startswith("global"):
        _global_pool(layer, info, name, lines)
    elif kind.startswith("zero_padding"):
        _zero_padding(layer, info, name, lines)
    elif kind == "flatten":
        _flatten(layer, info, name, lines, next_type)
    elif kind == "reshape":
        lines.forward.append(f"x = x.reshape(x.shape[0], {', '.join(map(str, info.output_shape))})")
    elif kind == "batch_normalization":
        _batch_norm(layer, info, name, lines)
    elif kind in RNNS:
        recurrent(layer, info, name, lines)
    elif kind == "embedding":
        embedding(layer, info, name, lines)
    else:
        _elementwise(layer, info, name, lines, last_activation)
    if kind.startswith("global") and math.prod(info.output_shape) == info.output_shape[-1]:
        lines.layout = "last"  # (N, C): no channel axis to move any more
