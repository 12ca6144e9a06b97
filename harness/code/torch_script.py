"""`model_torch.py`: the spec as an nn.Module with `__init__` and `forward`, its optimizer, its loss and the
training loop, every hyperparameter written out. The twin of keras_script.py."""

from harness.code import loss_lines, optimizer_lines
from harness.code.common import ARGUMENTS, WRITE_LOSSES, call, constants, differs, docstring, formatted, usage
from harness.code.torch_layers import WANTS, add_layer
from harness.code.torch_lines import Lines, activation, shape_text
from harness.core import shapes

LOGIT_LOSSES = ("categorical_crossentropy", "binary_crossentropy")
LOSSES = {
    "categorical_crossentropy": 'nn.CrossEntropyLoss(weight=None, ignore_index=-100, reduction="mean", '
                                'label_smoothing=0.0)',
    "binary_crossentropy": 'nn.BCEWithLogitsLoss(weight=None, reduction="mean", pos_weight=None)',
    "mse": 'nn.MSELoss(reduction="mean")',
    "mae": 'nn.L1Loss(reduction="mean")',
}


def _optimizer(o) -> tuple[list[str], str]:
    """(the comment lines, the torch.optim call) for the spec's optimizer."""
    params = "model.parameters()"
    if o.type == "sgd":
        return [], call("torch.optim.SGD", params, lr=o.learning_rate, momentum=o.momentum, dampening=0.0,
                        weight_decay=0.0, nesterov=o.nesterov)
    if o.type in ("adam", "adamw"):
        name = "Adam" if o.type == "adam" else "AdamW"
        decay = o.weight_decay if o.type == "adamw" else 0.0
        return differs("adam_epsilon", "torch", 4), call(f"torch.optim.{name}", params, lr=o.learning_rate,
                                                         betas=(o.beta_1, o.beta_2), eps=o.epsilon,
                                                         weight_decay=decay, amsgrad=o.amsgrad)
    if o.type == "rmsprop":
        return differs("rmsprop_epsilon", "torch", 4), call(
            "torch.optim.RMSprop", params, lr=o.learning_rate, alpha=o.rho, eps=o.epsilon, weight_decay=0.0,
            momentum=o.momentum, centered=o.centered)
    return differs("adagrad", "torch", 4), call("torch.optim.Adagrad", params, lr=o.learning_rate, lr_decay=0.0,
                                                weight_decay=0.0, initial_accumulator_value=o.initial_accumulator_value,
                                                eps=o.epsilon)


def _layers(spec) -> tuple[Lines, str]:
    """The layers' code and the activation predict() applies to forward()'s logits ('linear': none)."""
    lines, infos = Lines(layout=input_layout(spec)), shapes.infer(spec.model)
    layers = spec.model.layers
    last = len(layers) - 1
    logits = spec.loss in LOGIT_LOSSES
    tail = "linear"
    for index, (layer, info) in enumerate(zip(layers, infos)):
        following = next((later.type for later in layers[index + 1:] if later.type not in
                          ("dropout", "activation")), None)
        own = getattr(layer, "activation", "linear") if layer.type in ("dense", "conv1d", "conv2d", "activation") \
            else "linear"
        if index == last and logits:
            own, tail = "linear", own
        if index == last:
            lines.last_start = len(lines.forward)
        add_layer(lines, layer, info, following, own)
    if lines.layout == "first" and len(infos[-1].output_shape) > 1:
        lines.forward.append(f"x = x.movedim(1, -1)  # {shape_text(infos[-1].output_shape, 'last')}")
    return lines, tail


def input_layout(spec) -> str:
    """The layout the script's data has: load_data moves it channels first when the first layer that cares
    (a convolution, a pooling, a batch norm) takes channels first."""
    wanted = next((WANTS[layer.type] for layer in spec.model.layers if layer.type in WANTS), "last")
    return "first" if wanted == "first" and len(spec.model.input_shape) > 1 else "last"


def _indent(lines: list[str], depth: int = 1) -> list[str]:
    return [("    " * depth + line) if line else "" for line in lines]


def _forward(spec, lines: Lines) -> list[str]:
    """forward()'s body; under mixed precision every layer but the last inside torch.autocast."""
    if spec.training.precision == "float32":
        return lines.forward
    dtype = f"torch.{spec.training.precision}"
    return [*differs("mixed_precision", "torch", 8), f"with torch.autocast(x.device.type, dtype={dtype}):",
            *_indent(lines.forward[:lines.last_start]), "x = x.float()", *lines.forward[lines.last_start:]]


def _model_class(spec, lines: Lines, tail: str) -> list[str]:
    out = shape_text(shapes.output_shape(spec.model), "last")
    source = shape_text(tuple(spec.model.input_shape), input_layout(spec))
    body = ["class Net(nn.Module):", f'    """The spec\'s {len(spec.model.layers)} layers: {source} -> {out}."""', "",
            "    def __init__(self):", "        super().__init__()", *_indent(lines.init, 2),
            "        self.init_weights()", "", "    @torch.no_grad()", "    def init_weights(self):",
            *_indent(differs("init", "torch", 8), 2), *_indent(lines.reset or ["pass"], 2), "",
            "    def forward(self, x):",
            f'        """{"Logits " + out + ": predict() applies the " + tail if tail != "linear" else out}."""']
    if tail != "linear":
        body += _indent(differs("logits", "torch", 8), 2)
    body += [*_indent(_forward(spec, lines), 2), "        return x"]
    if lines.penalty:
        body += ["", "    def penalty(self):",
                 "        \"\"\"Keras' regularization loss, added to the training loss.\"\"\"",
                 *_indent(differs("l2_penalty", "torch", 8), 2), "        return " + " + ".join(lines.penalty)]
    return body


def _load_functions(lines: Lines) -> list[str]:
    body = ["@torch.no_grad()", "def load_weights(model, path):",
            "    \"\"\"The harness' canonical weights (.npz) into the module.\"\"\"",
            *_indent(differs("weights", "torch", 4)), "    with np.load(path) as saved:",
            "        w = {name: torch.from_numpy(saved[name]) for name in saved.files}",
            *_indent(lines.load or ["pass"])]
    if lines.gru:
        body += ["", "", "def torch_gates(array, units):", '    """[z, r, h] blocks (Keras) -> [r, z, n] (torch)."""',
                 "    z, r, h = array[..., :units], array[..., units : 2 * units], array[..., 2 * units :]",
                 "    return torch.cat([r, z, h], dim=-1)"]
    return body


def _data_function(spec) -> list[str]:
    body = ["def load_data(path):",
            "    \"\"\"The harness' prepared arrays as tensors: float32, labels int64 or float32.\"\"\"",
            "    with np.load(path) as saved:",
            "        data = {name: torch.from_numpy(saved[name]) for name in saved.files}"]
    rank = len(spec.model.input_shape)
    if input_layout(spec) == "first":
        body += [*_indent(differs("channels_first", "torch", 4)), '    for name in ("x_train", "x_val", "x_test"):',
                 f"        data[name] = data[name].permute{(0, rank, *range(1, rank))}.contiguous()"]
    if spec.model.layers[0].type == "embedding":
        body += ["    # The token ids are stored as float32; nn.Embedding takes int64.",
                 '    for name in ("x_train", "x_val", "x_test"):', "        data[name] = data[name].long()"]
    return body + ["    return data"]


def _training_functions(spec, lines: Lines, tail: str) -> list[str]:
    penalty = " + model.penalty()" if lines.penalty else ""
    final = "out" if tail == "linear" else activation(tail, "out", -1)
    return [
        "def train(model, optimizer, loss_fn, data, epochs):",
        '    """Mini-batches in the harness\' order; returns (epoch, batch, loss) rows."""',
        '    x, y = data["x_train"], data["y_train"]', "    rows = []", "    for epoch in range(epochs):",
        "        model.train()",
        "        # The harness' batch order: one numpy permutation per epoch, the same in both",
        "        # scripts.",
        "        order = torch.from_numpy(np.random.default_rng([SEED, 1, epoch]).permutation(len(x)))",
        "        total = 0.0", "        for batch, start in enumerate(range(0, len(x), BATCH_SIZE)):",
        "            index = order[start : start + BATCH_SIZE]", "            optimizer.zero_grad()",
        f"            loss = loss_fn(model(x[index]), y[index]){penalty}", "            loss.backward()",
        "            optimizer.step()", "            rows.append((epoch + 1, batch + 1, loss.item()))",
        "            total += loss.item() * len(index)",
        '        line = f"epoch {epoch + 1}/{epochs}  loss {total / len(x):.6f}"', '        if len(data["x_val"]):',
        '            val_loss = evaluate(model, loss_fn, data["x_val"], data["y_val"])',
        '            line += f"  val_loss {val_loss:.6f}"', "        print(line)", "    return rows", "", "",
        "@torch.no_grad()", "def evaluate(model, loss_fn, x, y):",
        '    """The loss in inference mode (no dropout), as Keras\' evaluate."""',
        "    model.eval()", "    total = 0.0", "    for start in range(0, len(x), EVAL_BATCH_SIZE):",
        "        xb, yb = x[start : start + EVAL_BATCH_SIZE], y[start : start + EVAL_BATCH_SIZE]",
        "        total += loss_fn(model(xb), yb).item() * len(xb)",
        f"    return total / len(x){' + model.penalty().item()' if lines.penalty else ''}", "", "",
        "@torch.no_grad()", "def predict(model, x):",
        f'    """The model\'s outputs{", the " + tail + " applied to the logits" if tail != "linear" else ""}."""',
        "    model.eval()",
        "    out = torch.cat([model(x[s : s + EVAL_BATCH_SIZE]) for s in range(0, len(x), EVAL_BATCH_SIZE)])",
        f"    return {final}.numpy()"]


def _main(spec, target) -> list[str]:
    comments, optimizer = _optimizer(spec.optimizer)
    return [
        "def main():", *_indent(ARGUMENTS), "    torch.manual_seed(SEED)", "    data = load_data(args.data)",
        "    model = Net()", "    if args.weights:", "        load_weights(model, args.weights)",
        "    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)",
        '    print(f"trainable parameters: {trainable}")', *comments, f"    optimizer = {optimizer}",
        *_loss_module(spec, target), "    rows = train(model, optimizer, loss_fn, data, args.epochs)",
        "    if args.predict:", '        np.save(args.predict, predict(model, data["x_test"]))',
        "    if args.batch_losses:", "        write_batch_losses(args.batch_losses, rows)"]


def _loss_module(spec, target) -> list[str]:
    """main()'s loss_fn: the nn loss module with the spec's label smoothing; none where loss_lines writes a
    loss_fn function (class weights, binary smoothing)."""
    if loss_lines.torch_loss_function(spec, target):
        return []
    smoothing = spec.training.label_smoothing
    text = LOSSES[spec.loss].replace("label_smoothing=0.0", f"label_smoothing={smoothing!r}")
    return [*(differs("label_smoothing", "torch", 4) if loss_lines.sparse_smoothing(spec, target) else []),
            f"    loss_fn = {text}"]


def _training(spec, target, lines, tail) -> list[str]:
    """The training functions; with class weights the training loss is the weighted one."""
    body = _training_functions(spec, lines, tail)
    if not loss_lines.weighted(target):
        return body
    return [line.replace("loss_fn(model(x[index]), y[index])", "loss_fn(model(x[index]), y[index], weighted=True)")
            for line in body]


def torch_script(spec, target, seed: int, batch_size: int, source: str) -> str:
    """The text of model_torch.py for the spec. target: the prepared data's (harness.core.data.Target);
    batch_size: the resolved one ('full' is the training set's size); source: the spec file's name."""
    lines, tail = _layers(spec)
    functional = any("F." in line for line in lines.forward)
    text = [*docstring(f"{spec.name} in PyTorch: an nn.Module, its optimizer, its loss, the training loop.",
                       spec.name, [f"Written by the harness from {source}.",
                                   *usage("model_torch.py", "model_keras.py", seed)]),
            "", "import argparse", "import csv", "from pathlib import Path", "", "import numpy as np", "import torch",
            *(["import torch.nn.functional as F"] if functional else []), "from torch import nn", "",
            *constants(spec, seed, batch_size), *loss_lines.torch_constants(target), "", "",
            *_model_class(spec, lines, tail), "", "", *_load_functions(lines), "", "", *_data_function(spec), "", "",
            *loss_lines.torch_loss_function(spec, target),
            *optimizer_lines.torch_functions(spec.optimizer),
            *optimizer_lines.torch_train(spec.optimizer, _training(spec, target, lines, tail)), "", "",
            *WRITE_LOSSES, "", "", *_main(spec, target), "", "",
            'if __name__ == "__main__":', "    main()"]
    return formatted(text)
