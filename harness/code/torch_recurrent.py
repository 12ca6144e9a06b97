"""Recurrent and embedding layers as PyTorch code: batch-first RNN / LSTM / GRU with Keras' single bias (the
second held at zero), the last step where Keras returns it, and the weights mapped onto Keras' gate layout. A
bidirectional layer maps the backward direction onto the `*_reverse` parameters and merges torch's two output
halves as Keras' merge_mode does."""

from harness.code.common import call, differs
from harness.code.torch_init import init_lines
from harness.code.torch_lines import Lines, penalize, shape_text

RNNS = {"simple_rnn": "nn.RNN", "lstm": "nn.LSTM", "gru": "nn.GRU"}


# Keras' merge_mode on torch's two output halves
MERGES = {"concat": "torch.cat([{f}, {b}], dim=-1)", "sum": "{f} + {b}", "ave": "({f} + {b}) / 2", "mul": "{f} * {b}"}


def _directions(layer, index: int) -> list[tuple[str, str]]:
    """(torch parameter suffix, canonical name prefix) per direction, forward first (Keras' get_weights order)."""
    if not layer.bidirectional:
        return [("_l0", f"layers[{index}].")]
    return [("_l0", f"layers[{index}].forward."), ("_l0_reverse", f"layers[{index}].backward.")]


def recurrent(layer, info, name, lines: Lines) -> None:
    units, features = layer.units, info.input_shape[-1]
    options = dict(num_layers=1, bias=layer.use_bias, batch_first=True, dropout=0.0,
                   bidirectional=layer.bidirectional)
    if layer.type == "simple_rnn":
        options = dict(nonlinearity=layer.activation, **options)
    lines.init.append(f"self.{name} = " + call(RNNS[layer.type], features, units, **options))
    gates = {"simple_rnn": 1, "lstm": 4, "gru": 3}[layer.type]
    directions = _directions(layer, info.index)
    if layer.use_bias and layer.type != "gru":
        lines.init += differs("recurrent_bias", "torch", 8)
        lines.init += [f"self.{name}.bias_hh{suffix}.requires_grad_(False)" for suffix, _ in directions]
    raw = (info.input_shape[0], units * len(directions))
    if layer.bidirectional:
        lines.forward += differs("bidirectional", "torch", 8)
    lines.forward.append(f"x, _ = self.{name}(x)  # {shape_text(raw, 'last')}")
    if layer.bidirectional:
        _merge(layer, info, lines)
    elif not layer.return_sequences:
        lines.forward += differs("last_state", "torch", 8)
        lines.forward.append(f"x = x[:, -1]  # {shape_text(info.output_shape, 'last')}")
    for suffix, prefix in directions:
        _recurrent_weights(layer, info, name, lines, gates * units, suffix, prefix)


def _merge(layer, info, lines: Lines) -> None:
    """torch's (N, T, 2H): the forward half, then the backward half, in time order. Keras' last state is the
    forward direction's last step and the backward direction's first (it has read the whole sequence then)."""
    units = layer.units
    if layer.return_sequences and layer.merge_mode == "concat":
        return
    forward, backward = (f"x[..., :{units}]", f"x[..., {units}:]") if layer.return_sequences else \
        (f"x[:, -1, :{units}]", f"x[:, 0, {units}:]")
    merged = MERGES[layer.merge_mode].format(f=forward, b=backward)
    lines.forward.append(f"x = {merged}  # {shape_text(info.output_shape, 'last')}")


def _recurrent_weights(layer, info, name, lines, width, suffix: str, prefix: str):
    gru = layer.type == "gru"
    order = (lambda text: f"torch_gates({text}, {layer.units})") if gru else (lambda text: text)
    if gru and suffix == "_l0":  # once per layer
        lines.load += differs("gru_gates", "torch", 4)
        lines.gru = True
    param = f"self.{name}.{{}}{suffix}"
    kernel, recurrent = f'w["{prefix}kernel"]', f'w["{prefix}recurrent_kernel"]'
    lines.load.append(f"model.{name}.weight_ih{suffix}.copy_({order(kernel)}.T)")
    lines.load.append(f"model.{name}.weight_hh{suffix}.copy_({order(recurrent)}.T)")
    lines.reset += init_lines(layer.kernel_initializer, param.format("weight_ih"), (info.input_shape[-1], width))
    lines.reset += init_lines(layer.recurrent_initializer, param.format("weight_hh"), (layer.units, width))
    penalize(lines, param.format("weight_ih"), layer.kernel_regularizer)
    penalize(lines, param.format("weight_hh"), layer.recurrent_regularizer)
    if not layer.use_bias:
        return
    bias = f'w["{prefix}bias"]'
    if gru:
        lines.load += [f"model.{name}.bias_ih{suffix}.copy_({order(bias + '[0]')})",
                       f"model.{name}.bias_hh{suffix}.copy_({order(bias + '[1]')})"]
        for part in ("ih", "hh"):
            lines.reset += init_lines(layer.bias_initializer, param.format(f"bias_{part}"), (2, width))
            penalize(lines, param.format(f"bias_{part}"), layer.bias_regularizer)
        return
    lines.load.append(f"model.{name}.bias_ih{suffix}.copy_({bias})")
    lines.reset += init_lines(layer.bias_initializer, param.format("bias_ih"), (width,))
    lines.reset.append(f"nn.init.zeros_({param.format('bias_hh')})")
    if layer.type == "lstm" and layer.unit_forget_bias:
        units = layer.units
        lines.reset.append(f"{param.format('bias_ih')}[{units}:{2 * units}] = 1.0  # unit_forget_bias, as in Keras")
    penalize(lines, param.format("bias_ih"), layer.bias_regularizer)


def embedding(layer, info, name, lines: Lines) -> None:
    lines.init.append(f"self.{name} = " + call("nn.Embedding", layer.input_dim, layer.output_dim))
    lines.forward.append(f"x = self.{name}(x)  # {shape_text(info.output_shape, 'last')}")
    lines.load.append(f'model.{name}.weight.copy_(w["layers[{info.index}].embeddings"])')
    lines.reset += init_lines(layer.embeddings_initializer, f"self.{name}.weight",
                              (layer.input_dim, layer.output_dim))
    penalize(lines, f"self.{name}.weight", layer.embeddings_regularizer)
