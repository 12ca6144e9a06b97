"""Keras SimpleRNN / LSTM / GRU configs, alone or wrapped in Bidirectional -> the spec's recurrent layers.

Part of the Keras importer (import_layers.py holds the other layers). A Bidirectional wrapper becomes the inner
layer's spec with `bidirectional: true` and its merge_mode; its backward layer must be the forward one's twin
(go_backwards=True, every other argument the same), which is what the spec's two directions are. Nothing here
needs Keras.
"""

from harness.core.errors import SpecError
from harness.core.spec_layers import brief
from models_tf.import_arguments import Arguments

RNNS = {"SimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru"}
MERGES = ("concat", "sum", "ave", "mul")


def recurrent(args: Arguments, kind: str, go_backwards: bool = False) -> dict:
    """A SimpleRNN / LSTM / GRU config; go_backwards: the backward layer of a Bidirectional wrapper."""
    spec = {"type": kind, "units": args.get("units"), "return_sequences": args.flag("return_sequences"),
            "use_bias": args.flag("use_bias")}
    for key in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
        spec[key] = args.initializer(key)
    for key in ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer"):
        if (penalty := args.regularizer(key)) is not None:
            spec[key] = penalty
    if kind == "simple_rnn":
        spec["activation"] = args.activation(allowed=("tanh", "relu"))
    else:
        args.activation(allowed=("tanh",))
        args.activation("recurrent_activation", allowed=("sigmoid",))
    if kind == "lstm":
        spec["unit_forget_bias"] = args.flag("unit_forget_bias")
    if kind == "gru":
        args.expect("reset_after", (True,), "PyTorch's GRU applies the reset gate after the recurrent matmul")
    for key in ("dropout", "recurrent_dropout"):
        args.expect(key, (0.0,), "the spec's recurrent layers have no dropout")
    args.expect("go_backwards", (go_backwards,), "a backward pass is the spec's bidirectional: true")
    for key in ("return_state", "stateful"):
        args.expect(key, (False,), "the spec's recurrent layers run from a zero state and return outputs")
    args.absent("activity_regularizer", why="the spec has no activity penalty")
    args.absent("kernel_constraint", "recurrent_constraint", "bias_constraint",
                why="a constraint changes training; the spec has none")
    args.ignore("unroll", "zero_output_for_mask", "seed", "implementation")  # same outputs; no mask; no dropout
    return spec


def _inner(args: Arguments, key: str, go_backwards: bool, notes: list) -> dict:
    """The wrapped layer under `key` ('layer' or 'backward_layer'), translated as a recurrent layer."""
    value = args.get(key)
    kind = value.get("class_name") if isinstance(value, dict) else None
    config = value.get("config") if isinstance(value, dict) else None
    if kind not in RNNS or not isinstance(config, dict) or value.get("module") not in (None, "keras.layers"):
        args.refuse(key, value, "a Keras SimpleRNN, LSTM or GRU")
    where = f"{args.where}, its {key} {kind}"
    if config.get("trainable", True) is not True:
        raise SpecError(args.field, f"{where}: trainable={brief(config['trainable'])} (a frozen direction) has no "
                                    f"spec equivalent; allowed: True")
    inner = Arguments(kind, config, args.rank, args.field, where, notes)
    return inner.finish(recurrent(inner, RNNS[kind], go_backwards))


def bidirectional(args: Arguments) -> dict:
    """keras.layers.Bidirectional: the forward layer's spec, bidirectional, with the wrapper's merge_mode."""
    merge = args.expect("merge_mode", MERGES, "None returns the two directions apart; the spec merges them")
    forward = _inner(args, "layer", False, args.notes)
    if args.config.get("backward_layer") is not None and _inner(args, "backward_layer", True, []) != forward:
        args.refuse("backward_layer", args.config["backward_layer"],
                    "None, or the forward layer's twin with go_backwards=True (the spec's backward direction is a "
                    "copy of the forward layer)")
    args.get("backward_layer", None)
    return {**forward, "bidirectional": True, "merge_mode": merge}
