"""The translation of each supported ATen op into spec layers: `HANDLERS`, op name -> handler, for
models_torch.import_graph.translate.

A handler takes (node, the chain's Value, the Translation, whether the op before emitted a dense/conv whose
activation may absorb this one), emits layers with their torch-layout parameters, and returns the Value after the
op. It refuses, with the reason, whatever the spec cannot express exactly.
"""

from math import prod

from models_torch import import_layout as layout
from models_torch.import_graph import (
    ACTIVATIONS,
    FIXED,
    LEAKY_RELU_SLOPE,
    PERMUTES,
    RECURRENT,
    RESHAPES,
    TORCH_LEAKY_RELU_SLOPE,
    Ref,
    Value,
    ahead,
    chain_input,
    feature_axis,
    ints,
    permuted_kernel,
    spec_size,
)


def _dense(node, value, chain, mergeable):
    if value.layout in ("first", "pooled"):
        chain.refuse(node, "a Linear on a channels-first map acts on its last spatial axis: flatten it first")
    weight, bias = chain.tensor(node, node.arg("weight")), chain.tensor(node, node.arg("bias"))
    if value.order:
        weight = permuted_kernel(weight, value.order)
        chain.notes.append(f"{node.where}: reads a flattened {list(value.order)} channels-first map; its kernel rows "
                           f"were permuted from PyTorch's (C, *spatial) order to the spec's channels-last order")
    chain.emit({"type": "dense", "units": weight.shape[0], "use_bias": bias is not None},
               {"linear.weight": weight, "linear.bias": bias})
    chain.mergeable = True
    return Value(chain.out_shape(node), value.layout)


def _conv(node, value, chain, mergeable):
    rank = int(node.name[-2])
    if value.layout != "first" or len(value.shape) != rank + 2:
        chain.refuse(node, f"expects a channels-first input of rank {rank + 2}; received {list(value.shape)}")
    if node.arg("groups", 1) != 1:
        chain.refuse(node, f"a grouped convolution (groups={node.arg('groups')}): the spec's convolutions have "
                           f"groups 1")
    weight, bias, padding = chain.tensor(node, node.arg("weight")), chain.tensor(node, node.arg("bias")), \
        node.arg("padding", 0)
    layer = {"type": f"conv{rank}d", "filters": weight.shape[0], "kernel_size": spec_size(tuple(weight.shape[2:])),
             "strides": spec_size(ints(node.arg("stride", 1), rank)), "padding": "valid",
             "dilation_rate": spec_size(ints(node.arg("dilation", 1), rank)), "use_bias": bias is not None}
    if padding == "same":
        layer["padding"] = "same"
    elif padding != "valid" and any(ints(padding, rank)):
        chain.emit({"type": f"zero_padding{rank}d", "padding": spec_size(ints(padding, rank))})
        chain.notes.append(f"{node.where}: padding={padding} became a zero_padding{rank}d layer and a 'valid' "
                           f"convolution (exactly PyTorch's zero padding)")
    chain.emit(layer, {"conv.weight": weight, "conv.bias": bias})
    chain.mergeable = True
    return Value(chain.out_shape(node), "first")


def _activation(node, value, chain, mergeable):
    name = node.name
    for key, (wanted, default) in FIXED.get(name, {}).items():
        if node.arg(key, default) != wanted:
            chain.refuse(node, f"{key}={node.arg(key, default)}: the spec's {name} has {key} {wanted} only")
    if name in ("softmax", "log_softmax") and node.arg("dim") % len(value.shape) != feature_axis(value):
        chain.refuse(node, f"over axis {node.arg('dim')}: the spec's {name} is over the features (axis "
                           f"{feature_axis(value)} of {list(value.shape)})")
    slope = node.arg("negative_slope", TORCH_LEAKY_RELU_SLOPE)
    if name == "leaky_relu" and not (isinstance(slope, float) and slope >= 0):
        chain.refuse(node, f"negative_slope={slope}: the spec's leaky_relu takes a slope >= 0")
    if name == "leaky_relu" and slope != LEAKY_RELU_SLOPE:
        chain.emit({"type": "leaky_relu", "negative_slope": slope})
    elif mergeable and chain.layers[-1].get("activation", "linear") == "linear":
        chain.layers[-1]["activation"] = name
    else:
        chain.emit({"type": "activation", "activation": name})
    return value


def _dropout(node, value, chain, mergeable):
    if node.arg("train"):
        chain.refuse(node, "traced in training mode: export the module after .eval()")
    chain.emit({"type": "dropout", "rate": node.arg("p")})
    return value


def _pool(node, value, chain, mergeable):
    rank, kind = int(node.name[-2]), "max" if node.name.startswith("max") else "average"
    if value.layout != "first" or len(value.shape) != rank + 2:
        chain.refuse(node, f"expects a channels-first input of rank {rank + 2}; received {list(value.shape)}")
    kernel = ints(node.arg("kernel_size"), rank)
    stride, padding = ints(node.arg("stride") or kernel, rank), ints(node.arg("padding", 0), rank)
    reasons = {"ceil_mode=True: Keras pools with floor": node.arg("ceil_mode", False),
               "dilation: Keras pools have none": kind == "max" and set(ints(node.arg("dilation", 1), rank)) != {1},
               "padding pads with -inf: Keras has no equivalent": kind == "max" and any(padding),
               "padding with count_include_pad=False averages only the real elements: no exact Keras equivalent":
                   kind == "average" and any(padding) and not node.arg("count_include_pad", True),
               "divisor_override: Keras has none": node.arg("divisor_override") is not None}
    for reason, applies in reasons.items():
        if applies:
            chain.refuse(node, reason)
    if any(padding):
        chain.emit({"type": f"zero_padding{rank}d", "padding": spec_size(padding)})
    chain.emit({"type": f"{kind}_pool{rank}d", "pool_size": spec_size(kernel), "strides": spec_size(stride),
                "padding": "valid"})
    return Value(chain.out_shape(node), "first")


def _global_pool(node, value, chain, mergeable):
    shape, rank = value.shape, len(value.shape)
    kind = "max" if node.name in ("amax", "adaptive_max_pool1d", "adaptive_max_pool2d") else "average"
    if node.name.startswith("adaptive"):
        axes, keep = set(range(2, rank)), True
        if set(ints(node.arg("output_size"), rank - 2)) != {1}:
            chain.refuse(node, f"output size {node.arg('output_size')}: only a pool to size 1 (a global average "
                               f"pool) is exact in the spec")
    else:
        axes, keep = {d % rank for d in node.arg("dim")}, node.arg("keepdim", False)
    spatial = {"first": set(range(2, rank)), "last": {1}, "time": {0}}.get(value.layout)
    if axes != spatial or (keep and value.layout != "first"):
        chain.refuse(node, f"a mean over axes {sorted(axes)} of {list(shape)} ({value.layout} layout): only the "
                           f"spatial or steps axes average to a spec global pool")
    chain.emit({"type": f"global_{kind}_pool{rank - 2}d"})
    return Value(chain.out_shape(node), "pooled" if keep else "flat")


def _reshape(node, value, chain, mergeable):
    shape, out = value.shape, chain.out_shape(node)
    if out == shape:
        return value
    if value.layout in ("time", "ids", "time_ids") or len(out) < 2 or out[0] != shape[0]:
        chain.refuse(node, f"a view from {list(shape)} to {list(out)} moves or merges the batch axis")
    if len(out) == 2:
        if value.layout in ("flat", "pooled"):
            return Value(out, "flat", value.order)
        chain.emit({"type": "flatten"})
        in_order = value.layout != "first" or shape[1] == 1 or prod(shape[2:]) == 1
        return Value(out, "flat", None if in_order else tuple(shape[1:]))
    if value.layout == "flat" and not value.order:
        layout = ahead(chain.program.nodes, chain.position) if len(out) == 3 else "first"
        if layout == "first" and out[1] != 1:
            chain.refuse(node, f"a view of a flat vector to {out[1]} channels ({list(out)}): the spec's reshape is "
                               f"channels last, so only a view to 1 channel is exact")
        if layout == "time":
            chain.refuse(node, "a view of a flat vector to a (T, N, D) sequence moves the batch axis")
        chain.emit({"type": "reshape", "target_shape": [*out[2:], 1] if layout == "first" else list(out[1:])})
        return Value(out, layout)
    chain.refuse(node, f"a view from {list(shape[1:])} to {list(out[1:])} (per sample): only a flatten, or a view "
                       f"of a flat vector, has an exact spec translation")


def _batch_norm(node, value, chain, mergeable):
    if value.layout not in ("flat", "first"):
        chain.refuse(node, f"normalizes axis 1 of a {value.layout} tensor {list(value.shape)}, not its features")
    mean, var, weight, bias = (chain.tensor(node, node.arg(key)) for key in ("running_mean", "running_var",
                                                                             "weight", "bias"))
    momentum = node.arg("momentum")
    reasons = {"track_running_stats=False normalizes by batch statistics in eval mode too: the spec's batch "
               "normalization keeps moving statistics": mean is None or var is None,
               "traced in training mode: export the module after .eval()": node.arg("training"),
               "momentum=None (a cumulative average): Keras keeps an exponential one only":
                   not isinstance(momentum, float) or not 0 < momentum <= 1,
               "a weight without a bias (or the reverse): no spec equivalent": (weight is None) != (bias is None)}
    for reason, applies in reasons.items():
        if applies:
            chain.refuse(node, reason)
    affine = weight is not None
    chain.emit({"type": "batch_normalization", "momentum": 1.0 - momentum, "epsilon": node.arg("eps"),
                "center": affine, "scale": affine},
               {"norm.weight": weight, "norm.bias": bias, "norm.running_mean": mean, "norm.running_var": var})
    chain.notes.append(f"{node.where}: torch momentum {momentum:g} is Keras momentum {1.0 - momentum:g}, eps "
                       f"{node.arg('eps'):g} carried; in training the spec updates the moving variance the Keras "
                       f"way (biased batch variance), torch stores the unbiased one")
    return Value(chain.out_shape(node), value.layout)


def _embedding(node, value, chain, mergeable):
    if chain.layers or value.layout not in ("ids", "time_ids"):
        chain.refuse(node, "an Embedding must be the first op and take the model's input ids")
    if node.arg("padding_idx", -1) != -1 or node.arg("scale_grad_by_freq", False):
        chain.refuse(node, "padding_idx or scale_grad_by_freq: the spec's embedding has neither")
    weight = chain.tensor(node, node.arg("weight"))
    chain.emit({"type": "embedding", "input_dim": weight.shape[0], "output_dim": weight.shape[1]},
               {"embedding.weight": weight})
    return Value(chain.out_shape(node), "time" if value.layout == "time_ids" else "last")


def _last_step(node, on_sequence: bool, time_axis: int, shape: tuple) -> bool:
    """out[:, -1] (out[-1] with batch_first=False) of the sequence, or h_n[-1] / h_n[0] / h_n.squeeze(0)."""
    if node.name == "select":
        axis, index = node.arg("dim") % len(shape), node.arg("index")
        return (axis, index % shape[axis]) == ((time_axis, shape[time_axis] - 1) if on_sequence else (0, 0))
    dims = node.arg("dim")
    return node.name == "squeeze" and not on_sequence and [d % 3 for d in ints(dims, 1)] == [0]


def _return_sequences(node, chain, time_axis: int) -> bool:
    """Whether the output sequence is used (True), or only its last step; the last-step op is taken here."""
    used = [name for name in node.outputs if chain.uses.get(name)]
    if len(used) != 1 or chain.uses[used[0]] != 1:
        chain.refuse(node, "only one of its outputs, read once, translates: the output sequence, its last step, "
                           "or the last hidden state h_n")
    if used[0] not in node.outputs[:2]:
        chain.refuse(node, "uses the final cell state c_n: the spec's LSTM returns hidden states only")
    after, on_sequence = chain.peek(), used[0] == node.outputs[0]
    if after is not None and chain_input(after) == used[0] and \
            _last_step(after, on_sequence, time_axis, chain.program.shapes[used[0]]):
        chain.position += 1
        chain.current = after.outputs[0]
        return False
    if not on_sequence:
        chain.refuse(node, "uses h_n (layers, N, H) as it is: take h_n[-1] or h_n.squeeze(0)")
    return True


def _direction(kind: str, params: list, suffix: str) -> dict:
    """One direction's torch tensors under the harness block's names (`rnn.weight_ih_l0`, `..._l0_reverse`)."""
    w_ih, w_hh, *biases = params
    tensors = {f"rnn.weight_ih{suffix}": w_ih, f"rnn.weight_hh{suffix}": w_hh}
    if biases and kind == "gru":
        tensors.update({f"rnn.bias_ih{suffix}": biases[0], f"rnn.bias_hh{suffix}": biases[1]})
    elif biases:
        tensors.update({f"rnn.bias_ih{suffix}": biases[0] + biases[1], f"rnn.bias_hh{suffix}": biases[1] * 0})
    return tensors


def _recurrent(node, value, chain, mergeable):
    kind, batch_first = RECURRENT[node.name], node.arg("batch_first")
    if value.layout != ("last" if batch_first else "time"):
        chain.refuse(node, f"expects a sequence with batch_first={batch_first}; received a {value.layout} tensor")
    hx = node.arg("hx") if isinstance(node.arg("hx"), list) else [node.arg("hx")]
    params, bias = [chain.tensor(node, ref) for ref in node.arg("params")], node.arg("has_biases")
    directions = 2 if node.arg("bidirectional") else 1
    reasons = {f"num_layers={node.arg('num_layers')}: stack one-layer modules instead": node.arg("num_layers") != 1,
               "traced in training mode: export the module after .eval()": node.arg("train"),
               "an initial state other than zeros: the spec's recurrent layers start from zeros":
                   any(not isinstance(h, Ref) or h.name not in chain.zeros for h in hx),
               "proj_size: the spec's LSTM has no projection": len(params) != directions * (4 if bias else 2)}
    for reason, applies in reasons.items():
        if applies:
            chain.refuse(node, reason)
    sequences = _return_sequences(node, chain, 1 if batch_first else 0)
    if directions == 2 and not sequences:
        chain.refuse(node, "bidirectional: only its whole output sequence (N, T, 2H) translates (Keras' last state "
                           "is out[:, -1, :H] with out[:, 0, H:], which neither out[:, -1] nor h_n[-1] is)")
    layer = {"type": kind, "units": params[1].shape[1], "use_bias": bool(bias), "return_sequences": sequences,
             **({"bidirectional": True} if directions == 2 else {})}
    if kind == "simple_rnn":
        layer["activation"] = "relu" if node.name == "rnn_relu" else "tanh"
    if bias:
        chain.notes.append(f"{node.where}: " + ("gate blocks reordered from torch's [r, z, n] to Keras' [z, r, h]"
                                                if kind == "gru" else "bias_ih + bias_hh folded into Keras' one bias"))
    per = len(params) // directions
    chain.emit(layer, {key: tensor for index, suffix in enumerate(("_l0", "_l0_reverse")[:directions])
                       for key, tensor in _direction(kind, params[index * per:(index + 1) * per], suffix).items()})
    if sequences:
        return Value(chain.out_shape(node), value.layout)
    return Value(chain.program.shapes[chain.current], "flat")


def _index(node, value, chain, mergeable):
    chain.refuse(node, "indexing translates only as out[:, -1], h_n[-1] or h_n.squeeze(0) right after a recurrent "
                       "layer")


HANDLERS = {"linear": _dense, "conv1d": _conv, "conv2d": _conv, **dict.fromkeys(ACTIVATIONS, _activation),
            "dropout": _dropout, **dict.fromkeys(["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"], _pool),
            **dict.fromkeys(["adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d",
                             "mean", "amax"], _global_pool),
            **dict.fromkeys(RESHAPES, _reshape), "batch_norm": _batch_norm, "embedding": _embedding,
            **dict.fromkeys(RECURRENT, _recurrent), **dict.fromkeys(PERMUTES, layout.transpose),
            "pad": layout.pad, "constant_pad_nd": layout.pad, **dict.fromkeys(["mul", "div", "add", "sub"],
                                                                              layout.rescale),
            "to": layout.cast, "select": _index, "squeeze": _index}
# every op target a program may hold (the "torch.ops." prefix dropped); anything else is refused by name
TARGETS = frozenset("aten." + target for target in (
    "linear.default conv1d.default conv1d.padding conv2d.default conv2d.padding dropout.default relu.default "
    "relu_.default tanh.default tanh_.default sigmoid.default sigmoid_.default softmax.int log_softmax.int "
    "gelu.default gelu_.default elu.default elu_.default leaky_relu.default leaky_relu_.default softplus.default "
    "max_pool1d.default max_pool2d.default avg_pool1d.default avg_pool2d.default adaptive_avg_pool1d.default "
    "adaptive_avg_pool2d.default mean.dim flatten.using_ints view.default reshape.default unflatten.int "
    "batch_norm.default embedding.default lstm.input gru.input rnn_tanh.input rnn_relu.input transpose.int "
    "permute.default select.int squeeze.dim squeeze.dims zeros.default movedim.int pad.default "
    "constant_pad_nd.default mul.Tensor div.Tensor add.Tensor sub.Tensor to.dtype _assert_tensor_metadata.default "
    "amax.default adaptive_max_pool1d.default adaptive_max_pool2d.default").split())
SUPPORTED = ("Linear, Conv1d/Conv2d (groups 1), ReLU, Tanh, Sigmoid, Softmax, LogSoftmax, GELU, ELU (alpha 1), "
             "LeakyReLU (slope >= 0), Softplus (beta 1), Dropout, MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool to 1, "
             "AdaptiveMaxPool to 1, mean or amax over spatial or steps axes, Flatten/view/reshape, transpose/permute/"
             "movedim (a relabeling), zero padding (F.pad, ZeroPad), x * c, x / c, x + c, x - c (rescaling), "
             "BatchNorm1d/2d, Embedding, RNN/LSTM/GRU (one layer; bidirectional with its whole output sequence)")
