"""A traced PyTorch program (a chain of ATen ops, as torch.export writes it) translated into spec layers.

The walk carries one `Value`: the tensor of the chain, its torch shape (batch included) and its layout: "flat"
(N, D); "first" (N, C, *spatial), what convolutions take; "last" (N, T, D), a batch-first sequence; "time" (T, N, D)
(batch_first=False); "ids"/"time_ids" (N, T)/(T, N) token ids; "pooled" (N, C, 1, 1) after a pool to one position.
A spec tensor is always channels last without the batch axis, so a layout change (a transpose) is a relabeling and
only what changes values becomes a layer. What has no exact spec equivalent is refused with the reason.
"""

from dataclasses import dataclass, field

from harness.core.errors import SpecError

FIXED = {"gelu": {"approximate": ("none", "none")}, "elu": {"alpha": (1.0, 1.0), "scale": (1.0, 1.0),
                                                             "input_scale": (1.0, 1.0)},
         "softplus": {"beta": (1.0, 1.0), "threshold": (20.0, 20.0)}}  # argument: (the spec's, torch default)
ACTIVATIONS = {"relu", "tanh", "sigmoid", "softmax", "log_softmax", "leaky_relu", *FIXED}
LEAKY_RELU_SLOPE, TORCH_LEAKY_RELU_SLOPE = 0.2, 0.01  # the spec's leaky_relu activation; nn.LeakyReLU's default
RECURRENT = {"lstm": "lstm", "gru": "gru", "rnn_tanh": "simple_rnn", "rnn_relu": "simple_rnn"}
FIRST_OPS = {"conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "batch_norm",
             "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d", "pad",
             "constant_pad_nd"}
ROLES = {"last": "NTF", "first": "NFT", "time": "TNF"}  # what each axis of a rank-3 tensor is: batch, steps, features
RESHAPES = {"flatten", "view", "reshape", "unflatten"}
PERMUTES = {"transpose", "permute", "movedim"}
CHECKS = {"_assert_tensor_metadata"}  # ops that only check a tensor (a dtype cast's guard): not part of the chain


@dataclass(frozen=True)
class Ref:
    name: str  # a tensor of the program: a node's output, a parameter, a buffer or the input


@dataclass
class Node:
    op: str         # the ATen op and overload without "torch.ops.": "aten.linear.default"
    args: dict      # schema argument name -> value; tensors as Ref, lists of tensors as [Ref, ...]
    outputs: list   # the names of its output tensors
    where: str      # the module it came from, "module conv1 (Conv1d)"

    @property
    def name(self) -> str:  # "linear", "conv2d", "lstm"; an in-place variant ("relu_") by its plain name
        return self.op.split(".")[1].rstrip("_")

    def arg(self, key, default=None):
        return self.args.get(key, default)


@dataclass
class Program:
    nodes: list
    tensors: dict       # placeholder name -> torch tensor (parameters, buffers, constants)
    shapes: dict        # tensor name -> torch shape, batch included (the traced example's)
    input: str
    output: str
    input_is_ids: bool  # an integer input (token ids)


@dataclass
class Value:
    shape: tuple
    layout: str
    order: tuple = None  # (C, *spatial) of a channels-first map flattened in torch's order: the next dense permutes


@dataclass
class Translation:
    program: Program
    layers: list = field(default_factory=list)
    params: list = field(default_factory=list)   # per layer {block parameter name: torch-layout tensor or None}
    notes: list = field(default_factory=list)
    input_layout: str = "flat"
    output_layout: str = "flat"
    current: str = ""        # the name of the chain's tensor
    position: int = 0        # the next node
    mergeable: bool = False  # the op before emitted a dense/conv whose activation is still linear
    zeros: set = field(default_factory=set)   # outputs of aten.zeros (an RNN's initial state)
    uses: dict = field(default_factory=dict)  # tensor name -> how many ops (and the output) read it

    def refuse(self, node, reason: str):
        raise SpecError("model", f"{node.name} in {node.where}: {reason}")

    def emit(self, layer: dict, params: dict = None):
        self.layers.append(layer)
        self.params.append(params or {})

    def tensor(self, node, ref):
        if ref is None:
            return None
        if not isinstance(ref, Ref) or ref.name not in self.program.tensors:
            self.refuse(node, "a weight computed in the forward, not a parameter or buffer, has no spec equivalent")
        return self.program.tensors[ref.name]

    def out_shape(self, node, index: int = 0) -> tuple:
        return self.program.shapes[node.outputs[index]]

    def peek(self):
        nodes = self.program.nodes
        return nodes[self.position] if self.position < len(nodes) else None


def ints(value, rank: int) -> tuple:
    value = [value] if isinstance(value, int) else list(value)
    return tuple(value * rank if len(value) == 1 else value)


def spec_size(values: tuple):
    """A spec kernel/stride/padding: an int when every axis agrees, else a list."""
    return values[0] if len(set(values)) == 1 else list(values)


def to_last(rank: int) -> tuple:
    """The permutation (N, C, *S) -> (N, *S, C)."""
    return (0, *range(2, rank), 1)


def to_first(rank: int) -> tuple:
    """The permutation (N, *S, C) -> (N, C, *S)."""
    return (0, rank - 1, *range(1, rank - 1))


def permutation(node: Node, rank: int) -> tuple:
    if node.name == "permute":
        return tuple(d % rank for d in node.arg("dims"))
    if node.name == "movedim":
        axes = list(range(rank))
        sources, targets = ints(node.arg("source"), 1), ints(node.arg("destination"), 1)
        if len(sources) != 1 or len(targets) != 1:
            return tuple(range(rank)) if not sources else (-1,)  # several axes at once: refused by the caller
        axes.insert(targets[0] % rank, axes.pop(sources[0] % rank))
        return tuple(axes)
    axes, first, second = list(range(rank)), node.arg("dim0") % rank, node.arg("dim1") % rank
    axes[first], axes[second] = second, first
    return tuple(axes)


def relabel(layout: str, perm: tuple):
    """The layout of a rank-3 tensor of `layout` after permuting its axes by `perm`, or None if it is none."""
    roles = "".join(ROLES[layout][axis] for axis in perm)
    return next((name for name, known in ROLES.items() if known == roles), None)


def ahead(nodes: list, start: int) -> str:
    """The layout the next layout-deciding op wants of a rank-3 tensor: "first", "last" or "time"."""
    for index in range(start, len(nodes)):
        node = nodes[index]
        if node.name in FIRST_OPS:
            return "first"
        if node.name in RECURRENT:
            return "last" if node.arg("batch_first") else "time"
        if node.name in PERMUTES:
            perm = permutation(node, 3)
            inverse = tuple(perm.index(axis) for axis in range(3))
            return relabel(ahead(nodes, index + 1), inverse) or "last"
        if node.name in RESHAPES | {"linear"}:
            return "last"
    return "last"


def ahead_image(nodes: list, rank: int) -> str:
    """The layout of an image input (rank 4 and up): channels last when the program first moves the channels to
    axis 1 (as the harness' own torch models do), else PyTorch's channels first."""
    for node in nodes:
        if node.name in PERMUTES:
            return "last" if permutation(node, rank) == to_first(rank) else "first"
        if node.name in FIRST_OPS | RESHAPES | {"linear"}:
            return "first"
    return "first"


def input_value(program: Program) -> Value:
    shape = program.shapes[program.input]
    if program.input_is_ids:
        return Value(shape, "time_ids" if len(shape) == 2 and ahead(program.nodes, 0) == "time" else "ids")
    if len(shape) == 2:
        return Value(shape, "flat")
    return Value(shape, ahead_image(program.nodes, len(shape)) if len(shape) > 3 else ahead(program.nodes, 0))


def spec_input_shape(value: Value) -> list:
    shape = value.shape
    if value.layout in ("time", "time_ids"):
        return [shape[0], *shape[2:]]
    return [*shape[2:], shape[1]] if value.layout == "first" else list(shape[1:])


def feature_axis(value: Value) -> int:
    return 1 if value.layout in ("flat", "first", "pooled") else len(value.shape) - 1


def chain_input(node: Node):
    for key in ("input", "self", "indices"):
        if isinstance(node.arg(key), Ref):
            return node.arg(key).name
    return None


def count_uses(program: Program) -> dict:
    counts = {program.output: 1}
    for node in program.nodes:
        if node.name in CHECKS:
            continue
        for value in node.args.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Ref):
                    counts[item.name] = counts.get(item.name, 0) + 1
    return counts


def _check_link(chain: Translation, node: Node, value: Value) -> None:
    branch = "only a chain of ops translates (no residual or branching graph)"
    if chain_input(node) != chain.current:
        chain.refuse(node, f"takes {chain_input(node)}, not the output of the op before it: {branch}")
    if chain.uses.get(chain.current, 0) > 1:
        chain.refuse(node, f"{chain.current} feeds {chain.uses[chain.current]} ops: {branch}")
    if value.order and node.name not in ACTIVATIONS | {"linear", "dropout"}:
        chain.refuse(node, "after flattening a channels-first map only a Linear may read the features (its kernel "
                           "rows are permuted to the spec's channels-last order)")


def translate(program: Program, handlers: dict) -> Translation:
    """The program's chain of ops as spec layers, with each layer's parameters in torch layout. handlers: op name
    -> (node, value, chain, mergeable) -> the Value after the op (models_torch.import_ops.HANDLERS)."""
    chain = Translation(program, current=program.input, uses=count_uses(program))
    value = input_value(program)
    chain.input_layout = value.layout
    while (node := chain.peek()) is not None:
        chain.position += 1
        if node.name == "zeros":  # an RNN's initial state: the recurrent handler checks that it is one
            chain.zeros.add(node.outputs[0])
            continue
        if node.name in CHECKS:  # reads the chain's tensor, changes nothing
            continue
        _check_link(chain, node, value)
        mergeable, chain.mergeable = chain.mergeable, False
        chain.current = node.outputs[0]
        value = handlers[node.name](node, value, chain, mergeable)
    if chain.current != program.output:
        raise SpecError("model", "the program's output is not the end of its chain of ops")
    if value.order:
        raise SpecError("model", "the output is a flattened channels-first map in torch's (C, H, W) order, where the "
                                 "spec gives (H, W, C): end the model in a Linear or a global pool")
    chain.output_layout = value.layout
    return chain


def permuted_kernel(weight, order: tuple):
    """A Linear's weight (out, C * prod(S)) read in torch's (C, *S) order -> the spec's channels-last (*S, C)."""
    rank = len(order)
    return weight.reshape(weight.shape[0], *order).permute(0, *range(2, rank + 1), 1).reshape(weight.shape[0], -1)
