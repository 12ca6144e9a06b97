"""Recurrent and embedding layers as PyTorch code: batch-first RNN / LSTM / GRU with Keras' single bias (the
second held at zero), the last step where Keras returns it, and the weights mapped onto Keras' gate layout."""

from harness.code.common import call, differs
from harness.code.torch_init import init_lines
from harness.code.torch_lines import Lines, penalize, shape_text

RNNS = {"simple_rnn": "nn.RNN", "lstm": "nn.LSTM", "gru": "nn.GRU"}


def recurrent(layer, info, name, lines: Lines) -> None:
    units, features = layer.units, info.input_shape[-1]
    options = dict(num_layers=1, bias=layer.use_bias, batch_first=True, dropout=0.0, bidirectional=False)
    if layer.type == "simple_rnn":
        options = dict(nonlinearity=layer.activation, **options)
    lines.init.append(f"self.{name} = " + call(RNNS[layer.type], features, units, **options))
    gates = {"simple_rnn": 1, "lstm": 4, "gru": 3}[layer.type]
    if layer.use_bias and layer.type != "gru":
        lines.init += differs("recurrent_bias", "torch", 8)
        lines.init.append(f"self.{name}.bias_hh_l0.requires_grad_(False)")
    lines.forward.append(f"x, _ = self.{name}(x)  # {shape_text((info.input_shape[0], units), 'last')}")
    if not layer.return_sequences:
        lines.forward += differs("last_state", "torch", 8)
        lines.forward.append(f"x = x[:, -1]  # {shape_text(info.output_shape, 'last')}")
    _recurrent_weights(layer, info, name, lines, gates * units)


def _recurrent_weights(layer, info, name, lines, width):
    index, gru = info.index, layer.type == "gru"
    order = (lambda text: f"torch_gates({text}, {layer.units})") if gru else (lambda text: text)
    if gru:
        lines.load += differs("gru_gates", "torch", 4)
        lines.gru = True
    kernel, recurrent = f'w["layers[{index}].kernel"]', f'w["layers[{index}].recurrent_kernel"]'
    lines.load.append(f"model.{name}.weight_ih_l0.copy_({order(kernel)}.T)")
    lines.load.append(f"model.{name}.weight_hh_l0.copy_({order(recurrent)}.T)")
    lines.reset += init_lines(layer.kernel_initializer, f"self.{name}.weight_ih_l0", (info.input_shape[-1], width))
    lines.reset += init_lines(layer.recurrent_initializer, f"self.{name}.weight_hh_l0", (layer.units, width))
    penalize(lines, f"self.{name}.weight_ih_l0", layer.kernel_regularizer)
    penalize(lines, f"self.{name}.weight_hh_l0", layer.recurrent_regularizer)
    if not layer.use_bias:
        return
    bias = f'w["layers[{index}].bias"]'
    if gru:
        lines.load += [f"model.{name}.bias_ih_l0.copy_({order(bias + '[0]')})",
                       f"model.{name}.bias_hh_l0.copy_({order(bias + '[1]')})"]
        for part in ("ih", "hh"):
            lines.reset += init_lines(layer.bias_initializer, f"self.{name}.bias_{part}_l0", (2, width))
            penalize(lines, f"self.{name}.bias_{part}_l0", layer.bias_regularizer)
        return
    lines.load.append(f"model.{name}.bias_ih_l0.copy_({bias})")
    lines.reset += init_lines(layer.bias_initializer, f"self.{name}.bias_ih_l0", (width,))
    lines.reset.append(f"nn.init.zeros_(self.{name}.bias_hh_l0)")
    if layer.type == "lstm" and layer.unit_forget_bias:
        units = layer.units
        lines.reset.append(f"self.{name}.bias_ih_l0[{units}:{2 * units}] = 1.0  # unit_forget_bias, as in Keras")
    penalize(lines, f"self.{name}.bias_ih_l0", layer.bias_regularizer)


def embedding(layer, info, name, lines: Lines) -> None:
    lines.init.append(f"self.{name} = " + call("nn.Embedding", layer.input_dim, layer.output_dim))
    lines.forward.append(f"x = self.{name}(x)  # {shape_text(info.output_shape, 'last')}")
    lines.load.append(f'model.{name}.weight.copy_(w["layers[{info.index}].embeddings"])')
    lines.reset += init_lines(layer.embeddings_initializer, f"self.{name}.weight",
                              (layer.input_dim, layer.output_dim))
    penalize(lines, f"self.{name}.weight", layer.embeddings_regularizer)
