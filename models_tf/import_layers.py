"""A serialized keras.Sequential (plain data, as a model file holds it) -> the spec's model section.

`translate_model` checks the model, its InputLayer and every layer, and every serialized object the config
names against Keras' own classes (OBJECTS). Each layer's arguments are read through `import_arguments.Arguments`:
one with a spec equivalent becomes a spec field, one whose value the spec cannot express is refused in one line
naming the layer, the argument, the received value and what is allowed, and one this table does not know (a
newer Keras) is refused too, so a run never silently computes something else. Nothing here needs Keras.
"""

from functools import partial

from pydantic import ValidationError

from harness.core import registry, shapes
from harness.core.errors import SpecError
from harness.core.spec import ModelSpec
from harness.core.spec_layers import as_name, brief
from models_tf.import_arguments import ABSENT, KERAS_INITIALIZERS, REGULARIZERS, Arguments, check_objects
from models_tf.import_recurrent import bidirectional, recurrent


def weighted(args: Arguments) -> dict:
    """What Dense and Conv share: activation, bias, initializers, regularizers; constraints are refused."""
    fields = {"activation": args.activation(), "use_bias": args.flag("use_bias"),
              "kernel_initializer": args.initializer("kernel_initializer"),
              "bias_initializer": args.initializer("bias_initializer")}
    for key in ("kernel_regularizer", "bias_regularizer"):
        if (penalty := args.regularizer(key)) is not None:
            fields[key] = penalty
    args.absent("activity_regularizer", why="the spec has no activity penalty")
    args.absent("kernel_constraint", "bias_constraint", why="a constraint changes training; the spec has none")
    return fields


def dense(args: Arguments) -> dict:
    spec = {"type": "dense", "units": args.get("units"), **weighted(args)}
    args.absent("quantization_config", "lora_rank", "lora_alpha", why="the spec holds plain float kernels")
    return spec


def conv(args: Arguments, rank: int):
    """The spec's convolution; Conv1D's padding='causal' is exactly zeros before the steps (dilation * (kernel -
    1) of them) and a 'valid' convolution: two spec layers."""
    spec = {"type": f"conv{rank}d", "filters": args.get("filters")}
    for key in ("kernel_size", "strides", "dilation_rate"):
        spec[key] = args.size(key) if rank == 1 else args.get(key)
    spec["padding"] = args.expect("padding", ("valid", "same", "causal") if rank == 1 else ("valid", "same"))
    args.expect("data_format", ("channels_last",), "the spec is channels last")
    args.expect("groups", (1,), "the spec has no grouped convolution")
    spec.update(weighted(args))
    args.absent("lora_rank", "lora_alpha", "quantization_config", why="the spec holds plain float kernels")
    if spec["padding"] != "causal":
        return spec
    before = spec["dilation_rate"] * (spec["kernel_size"] - 1)
    args.notes.append(f"{args.where}: padding='causal' became a zero_padding1d layer of [{before}, 0] and a 'valid' "
                      f"convolution (exactly Keras' causal padding)")
    return [{"type": "zero_padding1d", "padding": [before, 0]}, {**spec, "padding": "valid"}]


def pool(args: Arguments, kind: str, rank: int) -> dict:
    sizes = {key: args.size(key) if rank == 1 else args.get(key) for key in ("pool_size", "strides")}
    args.expect("data_format", ("channels_last",), "the spec is channels last")
    return {"type": f"{kind}_pool{rank}d", **sizes, "padding": args.expect("padding", ("valid", "same"))}


def global_pool(args: Arguments, kind: str, rank: int) -> dict:
    args.expect("data_format", ("channels_last",), "the spec is channels last")
    args.expect("keepdims", (False,), "the spec's global pooling drops the pooled axes")
    return {"type": f"global_{kind}_pool{rank}d"}


def zero_padding(args: Arguments, rank: int) -> dict:
    args.expect("data_format", ("channels_last",), "the spec is channels last")
    return {"type": f"zero_padding{rank}d", "padding": args.get("padding")}


def flatten(args: Arguments) -> dict:
    args.expect("data_format", ("channels_last",), "channels_first reorders the values before flattening")
    return {"type": "flatten"}


def reshape(args: Arguments) -> dict:
    return {"type": "reshape", "target_shape": args.get("target_shape")}


def rescaling(args: Arguments) -> dict:
    fields = {key: args.get(key, 0.0 if key == "offset" else ABSENT) for key in ("scale", "offset")}
    for key, value in fields.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            args.refuse(key, value, "one number (the spec's rescaling is the same for every channel)")
    return {"type": "rescaling", **fields}


def dropout(args: Arguments) -> dict:
    args.absent("noise_shape", why="the spec's dropout draws one mask value per element")
    if args.get("seed", None) is not None:
        args.notes.append(f"{args.where}: the dropout seed {brief(args.config['seed'])} is not kept (the harness "
                          f"seeds every run; dropout is off in inference, so the outputs are unchanged)")
    return {"type": "dropout", "rate": args.get("rate")}


# Keras activation layer -> (the spec's activation, {argument: (the only value allowed, why)})
SLOPE, ALPHA = registry.LEAKY_RELU_NEGATIVE_SLOPE, registry.ELU_ALPHA
ACTIVATION_LAYERS = {
    "ReLU": ("relu", {"max_value": (None, "the spec's relu is unbounded"),
                      "negative_slope": (0.0, "the spec's relu is max(0, x)"),
                      "threshold": (0.0, "the spec's relu is max(0, x)")}),
    "Softmax": ("softmax", {"axis": (-1, "the spec's softmax is over the last axis")}),
    "ELU": ("elu", {"alpha": (ALPHA, f"the spec's elu has alpha {ALPHA}")}),
}


def leaky_relu(args: Arguments) -> dict:
    return {"type": "leaky_relu", "negative_slope": args.get("negative_slope")}


def activation(args: Arguments) -> dict:
    if args.kind == "Activation":
        return {"type": "activation", "activation": args.activation()}
    name, fixed = ACTIVATION_LAYERS[args.kind]
    for key, (value, why) in fixed.items():
        args.expect(key, (value,), why)
    return {"type": "activation", "activation": name}


def batch_normalization(args: Arguments) -> dict:
    last = args.rank - 1
    args.expect("axis", (-1, [-1], last, [last]), "the spec normalizes the last (channel) axis")
    spec = {"type": "batch_normalization", "momentum": args.get("momentum"), "epsilon": args.get("epsilon"),
            "center": args.flag("center"), "scale": args.flag("scale")}
    for key, default in (("beta_initializer", "zeros"), ("gamma_initializer", "ones"),
                         ("moving_mean_initializer", "zeros"), ("moving_variance_initializer", "ones")):
        args.initializer(key, default, fixed=True)
    args.absent("beta_regularizer", "gamma_regularizer", why="the spec's batch normalization has no penalty")
    args.absent("beta_constraint", "gamma_constraint", why="a constraint changes training; the spec has none")
    args.expect("synchronized", (False,), "the spec's batch normalization is per device")
    args.expect("renorm", (False,), "the spec has no batch renormalization")
    args.ignore("renorm_clipping", "renorm_momentum")  # unused without renorm
    return spec


def embedding(args: Arguments) -> dict:
    spec = {"type": "embedding", "input_dim": args.get("input_dim"), "output_dim": args.get("output_dim"),
            "embeddings_initializer": args.initializer("embeddings_initializer")}
    if (penalty := args.regularizer("embeddings_regularizer")) is not None:
        spec["embeddings_regularizer"] = penalty
    args.expect("mask_zero", (False,), "the spec has no masking")
    args.absent("activity_regularizer", why="the spec has no activity penalty")
    args.absent("embeddings_constraint", why="a constraint changes training; the spec has none")
    args.absent("quantization_config", "lora_rank", "lora_alpha", why="the spec holds plain float embeddings")
    return spec


# Keras class name -> translator (Arguments) -> spec layer
LAYERS = {
    "Dense": dense, "Conv1D": partial(conv, rank=1), "Conv2D": partial(conv, rank=2),
    "MaxPooling1D": partial(pool, kind="max", rank=1), "MaxPooling2D": partial(pool, kind="max", rank=2),
    "AveragePooling1D": partial(pool, kind="average", rank=1),
    "AveragePooling2D": partial(pool, kind="average", rank=2),
    "GlobalAveragePooling1D": partial(global_pool, kind="average", rank=1),
    "GlobalAveragePooling2D": partial(global_pool, kind="average", rank=2),
    "GlobalMaxPooling1D": partial(global_pool, kind="max", rank=1),
    "GlobalMaxPooling2D": partial(global_pool, kind="max", rank=2),
    "Flatten": flatten, "Reshape": reshape, "Rescaling": rescaling, "Dropout": dropout, "Activation": activation,
    "ReLU": activation, "Softmax": activation, "LeakyReLU": leaky_relu, "ELU": activation,
    "BatchNormalization": batch_normalization,
    "ZeroPadding1D": partial(zero_padding, rank=1), "ZeroPadding2D": partial(zero_padding, rank=2),
    "Embedding": embedding, "SimpleRNN": partial(recurrent, kind="simple_rnn"), "LSTM": partial(recurrent, kind="lstm"),
    "GRU": partial(recurrent, kind="gru"), "Bidirectional": bidirectional,
}
SUPPORTED = ", ".join(["InputLayer", *LAYERS])


def translate(kind: str, config: dict, rank: int, field: str, where: str, notes: list) -> dict:
    """One supported Keras layer's config -> its spec layer; rank: the incoming tensor's rank, batch included."""
    if not isinstance(config, dict):
        raise SpecError(field, f"{where}: the layer's config is {brief(config)}, not a mapping")
    args = Arguments(kind, config, rank, field, where, notes)
    return args.finish(LAYERS[kind](args))

# ------------------------------------------------------------------------------------------------ the model

# (module, class name) of every serialized object a config may name; an h5 file's layers name no module
OBJECTS = {"keras": {"Sequential", "DTypePolicy", "FloatDTypePolicy"}, "keras.layers": {"InputLayer", *LAYERS},
           "keras.initializers": KERAS_INITIALIZERS, "keras.regularizers": REGULARIZERS}
MODELS = ("Sequential", "Functional", "Model")
ID_DTYPES = ("float32", "int32", "int64")  # an embedding's input: token ids


def unsupported(where: str, kind: str, reason: str = "") -> str:
    if not reason:
        reason = ("a Lambda layer holds Python code, which the importer never runs" if kind == "Lambda" else
                  "a nested model: rebuild it as one flat keras.Sequential" if kind in MODELS else
                  "it has no spec equivalent")
    return f"{where} is not supported: {reason}. Supported layers: {SUPPORTED}"


def _check_descriptive(config: dict, where: str, field: str, dtypes=("float32",)) -> None:
    """trainable and dtype, which every layer has: a frozen layer or another precision has no spec form."""
    if config.get("trainable", True) is not True:
        raise SpecError(field, f"{where}: trainable={brief(config['trainable'])} (a frozen layer) has no spec "
                               f"equivalent; allowed: True (the spec trains every layer)")
    dtype = config.get("dtype", "float32")
    name = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
    if name not in dtypes:
        raise SpecError(field, f"{where}: dtype {brief(name)} has no spec equivalent; allowed: {', '.join(dtypes)}")


def _input(layers: list, body: dict, field: str, source: str) -> tuple[list, list]:
    """(input_shape without the batch axis, the layers after the InputLayer) of a Sequential's config."""
    first = layers[0] if layers and isinstance(layers[0], dict) else {}
    if first.get("class_name") == "InputLayer":
        config = first.get("config") if isinstance(first.get("config"), dict) else {}
        shape = config.get("batch_shape", config.get("batch_input_shape"))
        embedding = len(layers) > 1 and isinstance(layers[1], dict) and layers[1].get("class_name") == "Embedding"
        _check_descriptive(config, f"{source}: the InputLayer", field, ID_DTYPES if embedding else ("float32",))
        for key in ("sparse", "ragged", "optional"):
            if config.get(key, False) is not False:
                raise SpecError(field, f"{source}: the InputLayer has {key}={brief(config[key])}; allowed: False")
        layers = layers[1:]
    else:
        shape = body.get("build_input_shape")
    if not isinstance(shape, list) or len(shape) < 2 or not all(isinstance(size, int) for size in shape[1:]):
        raise SpecError(field, f"{source}: the model's input shape is {brief(shape)}; the spec needs every size "
                               f"of one sample (build the model with keras.Input(shape=...) of fixed sizes)")
    return shape[1:], layers


def _translate_layer(index: int, layer, field: str, source: str, notes: list):
    if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
        raise SpecError(field, f"{source}: layer {index} is {brief(layer)}, not a serialized Keras layer")
    kind, config, module = layer.get("class_name"), layer["config"], layer.get("module")
    where = f"{source}: layer {index} {as_name(str(config.get('name')))} ({as_name(str(kind))})"
    if kind in MODELS:
        raise SpecError(field, unsupported(where, kind))
    if module not in (None, "keras.layers") or layer.get("registered_name") not in (None, kind):
        raise SpecError(field, unsupported(where, kind, f"a custom layer (module {brief(module)}, registered as "
                                                        f"{brief(layer.get('registered_name'))}); only Keras' own "
                                                        f"layers are read"))
    if kind not in LAYERS:
        raise SpecError(field, unsupported(where, kind))
    _check_descriptive(config, where, field)
    built = layer.get("build_config", {})
    incoming = built.get("input_shape") if isinstance(built, dict) else None
    return translate(kind, config, len(incoming) if isinstance(incoming, list) else 0, field, where, notes)


def translate_model(config, field: str, source: str, notes: list) -> tuple[dict, ModelSpec]:
    """A serialized keras.Sequential (plain data) -> (the spec's model section, validated); one line on refusal."""
    kind = config.get("class_name") if isinstance(config, dict) else None
    body = config.get("config") if isinstance(config, dict) else None
    if kind != "Sequential" or config.get("module") not in (None, "keras") or not isinstance(body, dict):
        held = f"a {as_name(kind)} model" if isinstance(kind, str) else "no serialized Keras model"
        raise SpecError(field, f"{source} holds {held}; only a keras.Sequential (a plain stack of layers) is "
                               f"imported, not a functional, subclassed or custom model")
    _check_descriptive(body, f"{source}: the Sequential", field)
    layers = body.get("layers") if isinstance(body.get("layers"), list) else []
    input_shape, layers = _input(layers, body, field, source)
    translated = [_translate_layer(index, layer, field, source, notes) for index, layer in enumerate(layers)]
    model = {"input_shape": input_shape,  # a Keras layer is one spec layer, or a list of them (causal padding)
             "layers": [layer for item in translated for layer in (item if isinstance(item, list) else [item])]}
    check_objects(config, OBJECTS, field, source)
    try:
        spec = ModelSpec.model_validate(model)
        shapes.infer(spec)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise SpecError(field, f"{source}: the translated model.{where}: {problem['msg']}; received "
                               f"{brief(problem.get('input'))}") from None
    except SpecError as error:
        raise SpecError(field, f"{source}: {error}") from None
    return model, spec
