"""`model_keras.py`: the spec as a Keras Sequential, compiled and fitted, every hyperparameter written out. The
twin of torch_script.py."""

from harness.code import loss_lines, optimizer_lines
from harness.code.common import (
    ARGUMENTS,
    WRITE_LOSSES,
    Raw,
    call,
    constants,
    differs,
    docstring,
    formatted,
    py,
    shape_comment,
    usage,
)
from harness.core import shapes
from harness.core.spec_layers import as_tuple, pad_pairs

POOLS = {"max_pool1d": "MaxPooling1D", "average_pool1d": "AveragePooling1D", "max_pool2d": "MaxPooling2D",
         "average_pool2d": "AveragePooling2D", "global_average_pool1d": "GlobalAveragePooling1D",
         "global_max_pool1d": "GlobalMaxPooling1D", "global_average_pool2d": "GlobalAveragePooling2D",
         "global_max_pool2d": "GlobalMaxPooling2D"}
RNNS = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
REGULARIZERS = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "embeddings_regularizer")


def _regularizer(spec):
    if spec is None:
        return None
    if spec.l1 and spec.l2:
        return Raw(call("keras.regularizers.L1L2", l1=spec.l1, l2=spec.l2))
    return Raw(call("keras.regularizers.L1", l1=spec.l1) if spec.l1 else call("keras.regularizers.L2", l2=spec.l2))


def _weighted(layer) -> dict:
    return dict(activation=layer.activation, use_bias=layer.use_bias, kernel_initializer=layer.kernel_initializer,
                bias_initializer=layer.bias_initializer, kernel_regularizer=_regularizer(layer.kernel_regularizer),
                bias_regularizer=_regularizer(layer.bias_regularizer))


def _recurrent(layer) -> dict:
    gates = dict(activation="tanh", recurrent_activation="sigmoid") if layer.type != "simple_rnn" else \
        dict(activation=layer.activation)
    extra = dict(unit_forget_bias=layer.unit_forget_bias) if layer.type == "lstm" else \
        dict(reset_after=True) if layer.type == "gru" else {}
    return dict(**gates, use_bias=layer.use_bias, kernel_initializer=layer.kernel_initializer,
                recurrent_initializer=layer.recurrent_initializer, bias_initializer=layer.bias_initializer,
                kernel_regularizer=_regularizer(layer.kernel_regularizer),
                recurrent_regularizer=_regularizer(layer.recurrent_regularizer),
                bias_regularizer=_regularizer(layer.bias_regularizer), dropout=0.0, recurrent_dropout=0.0,
                return_sequences=layer.return_sequences, **extra)


def _topics(layer, info) -> list[str]:
    """The differences a layer's line is marked with."""
    kind, found = layer.type, []
    if kind in ("conv1d", "conv2d") and layer.padding == "same" and max(as_tuple(layer.strides, 1)) > 1:
        found.append("same_padding")
    if kind in POOLS and getattr(layer, "padding", "valid") == "same":
        found.append("same_pool")
    if kind == "flatten" and len(info.input_shape) > 1:
        found.append("flatten")
    if kind in ("simple_rnn", "lstm") and layer.use_bias:
        found.append("recurrent_bias")
    found += {"gru": ["gru_gates"], "batch_normalization": ["batch_norm"], "leaky_relu": ["leaky_relu"]}.get(kind, [])
    if kind in RNNS and not layer.return_sequences:
        found.append("last_state")
    if kind in RNNS and layer.bidirectional:
        found.append("bidirectional")
    return found


def layer_call(layer) -> str:
    """The keras.layers constructor of one spec layer, every argument that shapes the computation written."""
    kind, layers = layer.type, "keras.layers."
    if kind == "dense":
        return call(layers + "Dense", layer.units, **_weighted(layer))
    if kind in ("conv1d", "conv2d"):
        return call(layers + ("Conv1D" if kind == "conv1d" else "Conv2D"), layer.filters,
                    kernel_size=layer.kernel_size, strides=layer.strides, padding=layer.padding,
                    dilation_rate=layer.dilation_rate, **_weighted(layer))
    if kind in POOLS and not kind.startswith("global"):
        return call(layers + POOLS[kind], pool_size=layer.pool_size, strides=layer.strides, padding=layer.padding)
    if kind in POOLS:
        return call(layers + POOLS[kind])
    if kind in RNNS and layer.bidirectional:
        return call(layers + "Bidirectional", Raw(call(layers + RNNS[kind], layer.units, **_recurrent(layer))),
                    merge_mode=layer.merge_mode)
    if kind in RNNS:
        return call(layers + RNNS[kind], layer.units, **_recurrent(layer))
    simple = {
        "dropout": lambda: call(layers + "Dropout", rate=layer.rate),
        "activation": lambda: call(layers + "Activation", py(layer.activation)),
        "leaky_relu": lambda: call(layers + "LeakyReLU", negative_slope=layer.negative_slope),
        "rescaling": lambda: call(layers + "Rescaling", scale=layer.scale, offset=layer.offset),
        "flatten": lambda: call(layers + "Flatten"),
        "reshape": lambda: call(layers + "Reshape", target_shape=tuple(layer.target_shape)),
        "batch_normalization": lambda: call(layers + "BatchNormalization", axis=-1, momentum=layer.momentum,
                                            epsilon=layer.epsilon, center=layer.center, scale=layer.scale),
        "embedding": lambda: call(layers + "Embedding", layer.input_dim, layer.output_dim,
                                  embeddings_initializer=layer.embeddings_initializer,
                                  embeddings_regularizer=_regularizer(layer.embeddings_regularizer)),
        "zero_padding1d": lambda: call(layers + "ZeroPadding1D", padding=pad_pairs(layer)[0]),
        "zero_padding2d": lambda: call(layers + "ZeroPadding2D", padding=pad_pairs(layer)),
    }
    return simple[kind]()


def _model(spec) -> list[str]:
    infos = shapes.infer(spec.model)
    body = ["def build_model():",
            f'    """The spec\'s {len(infos)} layers, channels last, with Keras\' initializers."""',
            "    return keras.Sequential(", "        [",
            f"            keras.Input(shape={tuple(spec.model.input_shape)!r}),"]
    if spec.training.precision != "float32":
        body += ["            " + line for line in differs("mixed_precision", "keras", 12)]
    for layer, info in zip(spec.model.layers, infos):
        for topic in _topics(layer, info):
            body += ["            " + line for line in differs(topic, "keras", 12)]
        if any(getattr(layer, name, None) is not None for name in REGULARIZERS):
            body += ["            " + line for line in differs("l2_penalty", "keras", 12)]
        body.append(f"            {_with_policy(layer_call(layer), spec, info.index)},  "
                    f"# {shape_comment(info.output_shape)}")
    return body + ["        ]", "    )"]


def _with_policy(text: str, spec, index: int) -> str:
    """A layer call with its dtype policy under mixed precision: mixed_bfloat16, the last layer float32."""
    if spec.training.precision == "float32":
        return text
    policy = "float32" if index == len(spec.model.layers) - 1 else f"mixed_{spec.training.precision}"
    return f"{text[:-1]}{'' if text.endswith('()') else ', '}dtype={policy!r})"


def _optimizer(o) -> tuple[list[str], str]:
    """(the comment lines, the keras.optimizers call) for the spec's optimizer."""
    off = dict(**optimizer_lines.keras_clips(o), use_ema=False)
    lr = optimizer_lines.keras_learning_rate(o)  # a per-batch schedule: Keras' schedule object
    if o.type == "sgd":
        return [], call("keras.optimizers.SGD", learning_rate=lr, momentum=o.momentum,
                        nesterov=o.nesterov, weight_decay=None, **off)
    if o.type in ("adam", "adamw"):
        decay = dict(weight_decay=o.weight_decay) if o.type == "adamw" else dict(weight_decay=None)
        name = "keras.optimizers.Adam" if o.type == "adam" else "keras.optimizers.AdamW"
        return differs("adam_epsilon", "keras", 8), call(name, learning_rate=lr, beta_1=o.beta_1,
                                                         beta_2=o.beta_2, epsilon=o.epsilon, amsgrad=o.amsgrad,
                                                         **decay, **off)
    if o.type == "rmsprop":
        return differs("rmsprop_epsilon", "keras", 8), call(
            "keras.optimizers.RMSprop", learning_rate=lr, rho=o.rho, momentum=o.momentum,
            epsilon=o.epsilon, centered=o.centered, weight_decay=None, **off)
    return differs("adagrad", "keras", 8), call(
        "keras.optimizers.Adagrad", learning_rate=lr,
        initial_accumulator_value=o.initial_accumulator_value, epsilon=o.epsilon, weight_decay=None, **off)


def _loss(spec, target) -> str:
    mean = "sum_over_batch_size"  # the mean over the batch, torch's reduction="mean"
    smoothing = spec.training.label_smoothing  # integer labels with smoothing are one-hot encoded in main()
    if spec.loss == "categorical_crossentropy" and target.label_format == "sparse" and not smoothing:
        return call("keras.losses.SparseCategoricalCrossentropy", from_logits=False, reduction=mean)
    if spec.loss == "categorical_crossentropy":
        return call("keras.losses.CategoricalCrossentropy", from_logits=False, label_smoothing=smoothing,
                    reduction=mean)
    if spec.loss == "binary_crossentropy":
        return call("keras.losses.BinaryCrossentropy", from_logits=False, label_smoothing=smoothing, reduction=mean)
    return call("keras.losses.MeanSquaredError" if spec.loss == "mse" else "keras.losses.MeanAbsoluteError",
                reduction=mean)


def _compile(spec, target) -> list[str]:
    comments, optimizer = _optimizer(spec.optimizer)
    logits = spec.loss in ("categorical_crossentropy", "binary_crossentropy")
    return ["def compile_model(model):", "    model.compile(", *comments, f"        optimizer={optimizer},",
            *(["        " + line for line in differs("logits", "keras", 8)] if logits else []),
            *(differs("binary_smoothing", "keras", 8) if spec.loss == "binary_crossentropy" and
              spec.training.label_smoothing else []),
            f"        loss={_loss(spec, target)},", "        jit_compile=False,", "    )"]


LOAD_HEAD = [
    "def load_weights(model, path):",
    '    """The harness\' canonical weights (.npz), named layers[i].kernel, ..."""',
    *["    " + line for line in differs("weights", "keras", 4)],
    "    with np.load(path) as saved:",
]
LOAD = [
    *LOAD_HEAD,
    "        for index, layer in enumerate(model.layers):",
    '            layer.set_weights([saved[f"layers[{index}].{w.name}"] for w in layer.weights])',
    "", "",
]
# with a Bidirectional layer: its weights are named layers[i].forward.kernel, ..., layers[i].backward.kernel, ...
LOAD_BIDIRECTIONAL = [
    *LOAD_HEAD,
    "        for index, layer in enumerate(model.layers):",
    "            if isinstance(layer, keras.layers.Bidirectional):",
    '                halves = (("forward.", layer.forward_layer), ("backward.", layer.backward_layer))',
    "            else:",
    '                halves = (("", layer),)',
    "            names = [prefix + w.name for prefix, half in halves for w in half.weights]",
    '            layer.set_weights([saved[f"layers[{index}].{name}"] for name in names])',
    "", "",
]
LOAD_DATA = [
    "def load_data(path):",
    '    """The harness\' prepared arrays: inputs channels last; labels int64 or float32."""',
    "    with np.load(path) as saved:",
    "        return {name: saved[name] for name in saved.files}",
]


def _load(spec) -> list[str]:
    bidirectional = any(getattr(layer, "bidirectional", False) for layer in spec.model.layers)
    return LOAD_BIDIRECTIONAL if bidirectional else LOAD


TRAIN = [
    "class BatchLosses(keras.callbacks.Callback):",
    '    """Each batch\'s loss. Keras logs the running mean over the epoch; resetting the',
    "    metrics before each batch, as train_on_batch does, makes logs[\"loss\"] that batch's",
    '    own loss (before the update, the penalty included)."""',
    "", "    def __init__(self):", "        super().__init__()", "        self.losses = []", "",
    "    def on_train_batch_begin(self, batch, logs=None):", "        self.model.reset_metrics()", "",
    "    def on_train_batch_end(self, batch, logs=None):", '        self.losses.append(float(logs["loss"]))', "", "",
    "def train(model, data, epochs):",
    '    """One fit per epoch in the harness\' order; returns (epoch, batch, loss) rows."""',
    '    x, y = data["x_train"], data["y_train"]',
    "    sizes = [min(BATCH_SIZE, len(x) - start) for start in range(0, len(x), BATCH_SIZE)]",
    "    rows = []", "    for epoch in range(epochs):",
    "        # The harness' batch order: one numpy permutation per epoch, the same in both",
    "        # scripts; fit(shuffle=False) takes the batches as given.",
    "        order = np.random.default_rng([SEED, 1, epoch]).permutation(len(x))",
    "        recorder = BatchLosses()",
    "        model.fit(x[order], y[order], batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0, "
    "callbacks=[recorder])",
    "        rows += [(epoch + 1, batch + 1, loss) for batch, loss in enumerate(recorder.losses)]",
    "        loss = sum(n * value for n, value in zip(sizes, recorder.losses)) / len(x)",
    '        line = f"epoch {epoch + 1}/{epochs}  loss {loss:.6f}"', '        if len(data["x_val"]):',
    '            val = model.evaluate(data["x_val"], data["y_val"], batch_size=EVAL_BATCH_SIZE, verbose=0, '
    "return_dict=True)",
    "            line += f\"  val_loss {val['loss']:.6f}\"", "        print(line)", "    return rows",
]

MAIN = [
    "def main():", *["    " + line for line in ARGUMENTS], "    keras.utils.set_random_seed(SEED)",
    "    data = load_data(args.data)", "    model = build_model()", "    if args.weights:",
    "        load_weights(model, args.weights)", "    compile_model(model)",
    "    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)",
    '    print(f"trainable parameters: {trainable}")', "    rows = train(model, data, args.epochs)",
    "    if args.predict:",
    '        np.save(args.predict, model.predict(data["x_test"], batch_size=EVAL_BATCH_SIZE, verbose=0))',
    "    if args.batch_losses:", "        write_batch_losses(args.batch_losses, rows)",
]


def _train(target) -> list[str]:
    """TRAIN, its fit() given CLASS_WEIGHT when the spec weights classes."""
    if not loss_lines.weighted(target):
        return TRAIN
    return [line.replace("callbacks=[recorder])", "callbacks=[recorder], class_weight=CLASS_WEIGHT)") for line in TRAIN]


def _main(spec, target) -> list[str]:
    """MAIN, integer labels one-hot encoded after loading where label smoothing needs them so."""
    at = MAIN.index("    data = load_data(args.data)") + 1
    return [*MAIN[:at], *loss_lines.keras_one_hot(spec, target), *MAIN[at:]]


def keras_script(spec, target, seed: int, batch_size: int, source: str) -> str:
    """The text of model_keras.py for the spec (the arguments as torch_script's)."""
    text = [*docstring(f"{spec.name} in Keras: a Sequential model, compile and fit.", spec.name,
                       [f"Written by the harness from {source}.", *usage("model_keras.py", "model_torch.py", seed)]),
            "", "import argparse", "import csv", "from pathlib import Path", "", "import keras", "import numpy as np",
            "", *constants(spec, seed, batch_size), *loss_lines.keras_constants(target),
            *optimizer_lines.keras_constants(spec.optimizer), "", "",
            *_model(spec), "", "", *_compile(spec, target), "", "", *_load(spec), *LOAD_DATA, "", "",
            *optimizer_lines.keras_train(spec.optimizer, _train(target)), "", "",
            *WRITE_LOSSES,
            "", "", *_main(spec, target), "", "", 'if __name__ == "__main__":', "    main()"]
    return formatted(text)
