"""ATen ops that move, pad, cast or rescale the chain's tensor: the handlers import_ops.HANDLERS takes from here.

A permutation is a relabeling of the layout (channels first <-> channels last, a sequence's steps <-> features)
and emits nothing; zero padding becomes a zero_padding layer; a multiplication, division, addition or
subtraction by a number becomes a rescaling layer; a cast of float ids to int64 before an Embedding is the spec's
way already (it holds token ids as float32).
"""

from models_torch.import_graph import ROLES, Value, permutation, relabel, to_first, to_last

INT64 = "torch.int64"


def transpose(node, value, chain, mergeable):
    rank = len(value.shape)
    perm = permutation(node, rank)
    if perm == tuple(range(rank)):
        return value
    layout = relabel(value.layout, perm) if rank == 3 and value.layout in ROLES else None
    if rank > 3 and (value.layout, perm) in (("first", to_last(rank)), ("last", to_first(rank))):
        layout = "last" if value.layout == "first" else "first"
    if layout is None:
        chain.refuse(node, f"permutes {list(value.shape)} ({value.layout} layout) by {list(perm)}: only moving the "
                           f"channels between axis 1 and the last, or swapping a sequence's axes, is exact in the "
                           f"spec")
    return Value(chain.out_shape(node), layout)


def pad(node, value, chain, mergeable):
    """F.pad / nn.ZeroPad*d / nn.ConstantPad*d(0) on a channels-first map: a zero_padding layer."""
    pads, rank = list(node.arg("pad")), len(value.shape) - 2
    mode, fill = node.arg("mode", "constant"), node.arg("value", 0.0)
    if value.layout != "first" or len(pads) != 2 * rank or rank not in (1, 2):
        chain.refuse(node, f"pads {list(value.shape)} ({value.layout} layout) by {pads}: only zero padding of every "
                           f"spatial axis of a channels-first map (1-D or 2-D) is exact in the spec")
    if mode != "constant" or (fill or 0.0) != 0.0 or min(pads) < 0:
        chain.refuse(node, f"mode={mode!r}, value={fill}, pads {pads}: the spec pads with zeros only")
    pairs = [[pads[2 * axis], pads[2 * axis + 1]] for axis in reversed(range(rank))]  # F.pad: last axis first
    chain.emit({"type": f"zero_padding{rank}d", "padding": pairs[0] if rank == 1 else pairs})
    return Value(chain.out_shape(node), "first")


def rescale(node, value, chain, mergeable):
    """x * c, x / c, x + c, x - c with a number c: a rescaling layer (x * scale + offset)."""
    other = node.arg("other")
    if isinstance(other, bool) or not isinstance(other, (int, float)) or node.arg("alpha", 1) != 1:
        chain.refuse(node, "an element-wise op with a tensor (a residual, a learned scale): only a number "
                           "rescales exactly in the spec")
    scale, offset = {"mul": (other, 0.0), "div": (1.0 / other if other else None, 0.0), "add": (1.0, other),
                     "sub": (1.0, -other)}[node.name]
    if scale is None:
        chain.refuse(node, "a division by zero")
    chain.emit({"type": "rescaling", "scale": float(scale), "offset": float(offset)})
    return value


def cast(node, value, chain, mergeable):
    """x.long() of float token ids before the Embedding; any other cast changes values the spec keeps float32."""
    if str(node.arg("dtype")) != INT64 or value.layout not in ("flat", "time", "ids", "time_ids"):
        chain.refuse(node, f"a cast to {node.arg('dtype')}: the spec computes in float32 (only token ids cast to "
                           f"int64 before an Embedding translate)")
    return Value(chain.out_shape(node), "time_ids" if value.layout.startswith("time") else "ids")
