"""What the torch code of every layer shares: `Lines`, the parts of the script the layers add to and the layout
state that runs through them, and the helpers for activations, shapes in comments, layout moves and penalties."""

from dataclasses import dataclass, field

from harness.code.common import differs, py, shape_comment


@dataclass
class Lines:
    """What the layers add to each part of the script, and the state that runs through them."""

    init: list[str] = field(default_factory=list)      # body of __init__
    forward: list[str] = field(default_factory=list)   # body of forward
    load: list[str] = field(default_factory=list)      # body of load_weights
    reset: list[str] = field(default_factory=list)     # body of init_weights
    penalty: list[str] = field(default_factory=list)   # terms of the regularization penalty
    layout: str = "last"
    moved: bool = False                                 # the channels_first comment is written once
    flat_from: tuple = ()                               # (spatial..., channels) a torch.flatten left for the next dense
    gru: bool = False                                   # load_weights needs the gate reordering function
    last_start: int = 0                                 # where the last layer's forward lines begin


def activation(name: str, x: str, dim: int) -> str:
    """The expression applying the named activation to `x`; `dim` is the channel axis (softmax)."""
    table = {"linear": x, "relu": f"torch.relu({x})", "sigmoid": f"torch.sigmoid({x})", "tanh": f"torch.tanh({x})",
             "softmax": f"torch.softmax({x}, dim={dim})", "log_softmax": f"torch.log_softmax({x}, dim={dim})",
             "leaky_relu": f"F.leaky_relu({x}, negative_slope=0.2)", "elu": f"F.elu({x}, alpha=1.0)",
             "gelu": f'F.gelu({x}, approximate="none")', "softplus": f"F.softplus({x}, beta=1.0, threshold=20.0)"}
    return table[name]


def shape_text(shape: tuple, layout: str) -> str:
    """One tensor's torch shape for a comment: (N, C, H, W) channels first, else as the spec has it."""
    if layout == "first" and len(shape) > 1:
        shape = (shape[-1], *shape[:-1])
    return shape_comment(shape)


def move(lines: Lines, wanted: str, shape: tuple) -> None:
    """Moves the channel axis where the layout changes (nothing to move for a flat (N, features) tensor)."""
    if wanted in ("any", lines.layout):
        return
    if len(shape) > 1:
        if not lines.moved:
            lines.forward += differs("channels_first", "torch", 8)
            lines.moved = True
        source, target = (-1, 1) if wanted == "first" else (1, -1)
        lines.forward.append(f"x = x.movedim({source}, {target})  # {shape_text(shape, wanted)}")
    lines.layout = wanted


def channel_dim(lines: Lines, shape: tuple) -> int:
    return 1 if lines.layout == "first" and len(shape) > 1 else -1


def penalize(lines: Lines, tensor: str, regularizer) -> None:
    if regularizer is None:
        return
    if regularizer.l1:
        lines.penalty.append(f"{py(regularizer.l1)} * {tensor}.abs().sum()")
    if regularizer.l2:
        lines.penalty.append(f"{py(regularizer.l2)} * {tensor}.square().sum()")
