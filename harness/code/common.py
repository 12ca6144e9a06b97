"""What both script writers share: Python literals and calls as text, wrapped comments, the differences table,
the scripts' docstring and command line, and the final formatting pass (ruff's formatter, default settings)."""

import subprocess
import sys
import textwrap

WIDTH = 88  # ruff's and black's default line length: the scripts pass `ruff format --check` with no settings

# topic -> (the comment in model_keras.py, the comment in model_torch.py). Each script says what it does about a
# difference at the place where it does it; the report marks these comments and the statement after each.
DIFFERS = {
    "adam_epsilon": (
        "Keras adds epsilon to sqrt(v) before the bias correction, torch.optim after it, so no setting makes "
        "the two updates equal; both scripts state the same epsilon (torch's default is 1e-8).",
        "torch.optim adds eps to sqrt(v_hat) after the bias correction, Keras to sqrt(v) before it, so no "
        "setting makes the two updates equal; eps is set to the Keras value (torch's default is 1e-8)."),
    "rmsprop_epsilon": (
        "Keras adds epsilon inside the square root, torch.optim.RMSprop outside; rho is torch's alpha.",
        "torch adds eps outside the square root, Keras inside; alpha is Keras' rho (torch's default 0.99, "
        "Keras' 0.9)."),
    "adagrad": (
        "Keras starts the accumulator at initial_accumulator_value and adds epsilon inside the square root.",
        "initial_accumulator_value is set to the Keras value (torch's default is 0); torch adds eps outside "
        "the square root, negligible once the accumulator is at least 0.1."),
    "l2_penalty": (
        "Keras adds the penalty to the loss (and to the loss it reports); PyTorch's weight_decay would only "
        "add its gradient, to every parameter, so model_torch.py adds the same penalty to its loss.",
        "Keras adds l1 * sum(|w|) + l2 * sum(w**2) of the regularized tensors to the loss; torch's "
        "weight_decay would add 2 * l2 * w to every gradient and leave the reported loss without it."),
    "logits": (
        "The model ends in its activation and the loss takes its output (Keras takes the logits from it "
        "internally).",
        "forward() returns logits: the loss takes them (as Keras does internally) and predict() applies the "
        "last activation."),
    "flatten": (
        "Flatten reads (height, width, channels), channels last.",
        "torch.flatten reads (channels, height, width), Keras (height, width, channels): load_weights "
        "reorders the next kernel's rows."),
    "flatten_last": (
        "Flatten reads (height, width, channels), channels last.",
        "Keras flattens (height, width, channels): the channels move last first, so the order is Keras'."),
    "channels_first": (
        "Keras convolutions take channels last (N, ..., C), as the data is.",
        "torch convolutions, pooling and batch norm take channels first (N, C, ...), the data is channels "
        "last: the tensor moves between the two here."),
    "same_padding": (
        "padding='same' is TensorFlow's: out = ceil(n / stride), the extra zero after.",
        "torch refuses padding='same' with strides and pads symmetrically: TensorFlow's 'same' padding is "
        "applied explicitly."),
    "same_pool": (
        "padding='same' is TensorFlow's: windows over the edge count only the real elements.",
        "TensorFlow's 'same' pooling: pad (with -inf for a maximum), and an average counts only the real "
        "elements of each window."),
    "recurrent_bias": (
        "One bias vector; torch's LSTM and RNN have two.",
        "torch has two bias vectors (bias_ih, bias_hh) where Keras has one; trained together they would learn "
        "twice as fast, so bias_hh is held at zero and frozen."),
    "gru_gates": (
        "GRU gate blocks are [z, r, h]; reset_after=True is the GRU torch implements.",
        "torch's GRU gate blocks are [r, z, n], Keras' [z, r, h]: load_weights swaps the first two."),
    "bidirectional": (
        "Bidirectional runs a copy of the layer over the reversed sequence (go_backwards=True) and flips its "
        "outputs back into time order before merge_mode combines the two; its weights are the forward layer's, "
        "then the backward layer's.",
        "bidirectional=True returns (N, T, 2H): the forward half, then the backward half, in time order; torch only "
        "concatenates, Keras' merge_mode is applied to the halves here. Keras' last state is the forward half's last "
        "step and the backward half's first (it has read the whole sequence backwards by then)."),
    "class_weight": (
        "fit(class_weight=...) multiplies each training sample's loss by its class' weight and divides the sum by "
        "the batch size; evaluate() is not weighted.",
        "nn.CrossEntropyLoss(weight=w) with reduction='mean' divides by sum(w[y]), Keras by the batch size: the "
        "per-sample losses are weighted, summed and divided by the batch size here; the evaluation loss is not "
        "weighted, as in Keras."),
    "label_smoothing": (
        "SparseCategoricalCrossentropy has no label_smoothing: the integer labels are one-hot encoded for "
        "CategoricalCrossentropy(label_smoothing=...).",
        "F.cross_entropy smooths integer labels itself (label_smoothing=...); Keras needs one-hot labels for it."),
    "binary_smoothing": (
        "BinaryCrossentropy(label_smoothing=s) trains on y * (1 - s) + 0.5 * s.",
        "BCEWithLogitsLoss has no label smoothing: the target is smoothed here as Keras does, y * (1 - s) + 0.5 * s."),
    "last_state": (
        "return_sequences=False: the last step's state.",
        "torch returns every step's state: [:, -1] is the last one (Keras' return_sequences=False)."),
    "batch_norm": (
        "momentum is the weight of the old moving average.",
        "torch's momentum is the weight of the new batch (Keras' 1 - momentum). torch also keeps the unbiased "
        "(n - 1) batch variance in running_var, Keras the biased one: inference outputs drift apart a little "
        "after training."),
    "init": (
        "",
        "torch's layers start from kaiming_uniform(a=sqrt(5)) kernels and uniform biases; Keras' from the "
        "initializers the spec names, which are applied here."),
    "leaky_relu": (
        "The slope is written out: Keras' LeakyReLU layer defaults to 0.3, its leaky_relu activation to 0.2.",
        "The slope is written out: torch's LeakyReLU defaults to 0.01."),
    "weights": (
        "The harness' canonical weights are Keras' layout: they load as they are.",
        "The harness' canonical weights are Keras' layout: kernels (in, out) are the transpose of torch's "
        "(out, in); convolution kernels (k..., in, out) move to (out, in, k...)."),
    "clipnorm": (
        "clipnorm clips each gradient tensor to that L2 norm on its own.",
        "Keras' clipnorm clips each gradient tensor on its own (g * clip / max(||g||, clip)); torch has no such "
        "clip, and clip_grad_norm_ is global, so it is written out."),
    "global_clipnorm": (
        "global_clipnorm scales all gradients together to at most that L2 norm.",
        "Keras' global_clipnorm scales every gradient by clip * min(1 / norm, 1 / clip); torch's clip_grad_norm_ "
        "uses clip / (norm + 1e-6), so it is written out."),
    "plateau": (
        "ReduceLROnPlateau is called after each epoch (one fit per epoch would restart its counters).",
        "Keras' ReduceLROnPlateau rule: min_delta is absolute, the rate drops when wait >= patience, then "
        "cooldown epochs pass. torch's ReduceLROnPlateau differs (a relative threshold by default, "
        "num_bad_epochs > patience, eps=1e-8), so the rule is written out."),
    "plateau_metric": (
        "The spec's plateau monitors a metric; this script computes none and monitors the loss instead.",
        "The spec's plateau monitors a metric; this script computes none and monitors the loss instead."),
    "momentum_rate": (
        "SGD's and RMSprop's momentum hold a velocity already multiplied by each step's learning rate.",
        "Keras' SGD and RMSprop momentum hold a velocity already multiplied by each step's rate, torch's "
        "momentum_buffer unscaled steps that the current rate multiplies: the buffers are scaled by old / new "
        "when the rate changes (not to 0, where Keras' velocity still moves the weights)."),
    "mixed_precision": (
        "mixed_bfloat16 runs every op of a layer in bfloat16 (the matmul, then the bias add, each rounded); "
        "torch.autocast runs matmuls and convolutions in bfloat16 (addmm rounds once) and the rest in its "
        "input's dtype. The last layer is float32 on both sides, so the loss takes float32 logits.",
        "torch.autocast runs matmuls and convolutions in bfloat16 (addmm rounds once) and other ops in their "
        "input's dtype; Keras' mixed_bfloat16 runs every op of a layer in bfloat16. The last layer runs in "
        "float32 on both sides (Keras' mixed-precision guide), so the loss takes float32 logits."),
}
PREFIX = {"keras": "Differs from PyTorch:", "torch": "Differs from Keras:"}


def comment(text: str, indent: int = 0) -> list[str]:
    """`# text`, wrapped to the scripts' line length at the given indentation."""
    return textwrap.wrap(text, WIDTH - indent, initial_indent=" " * indent + "# ",
                         subsequent_indent=" " * indent + "# ", break_on_hyphens=False)


def differs(topic: str, side: str, indent: int) -> list[str]:
    """The marked comment of one difference: side 'keras' or 'torch'."""
    text = DIFFERS[topic][0 if side == "keras" else 1]
    return comment(f"{PREFIX[side]} {text}", indent)


def shape_comment(shape) -> str:
    """A tensor's shape for a comment, the batch axis as N: (N, 8, 8, 16)."""
    return "(N, " + ", ".join(str(size) for size in shape) + ")"


class Raw(str):
    """Text that `py` writes as it is (an expression, not a string literal)."""


def py(value) -> str:
    """A Python literal: floats as repr gives them (exact), tuples for lists (shapes, sizes)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, (list, tuple)):
        items = ", ".join(py(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def call(function: str, *args, **kwargs) -> str:
    """`function(arg, ..., name=value, ...)`: positional values as given (text), keyword values as literals."""
    parts = [str(arg) for arg in args] + [f"{name}={py(value)}" for name, value in kwargs.items()]
    return f"{function}({', '.join(parts)})"




def docstring(title: str, spec_name: str, lines: list[str]) -> list[str]:
    """The module docstring: what the script is, where it came from, how to run it."""
    body = [f'"""{title}', "", *lines, '"""']
    return [line.rstrip() for line in body]


def usage(script: str, twin: str, seed: int) -> list[str]:
    """The shared part of both docstrings: the files, the options."""
    return [
        f"It imports only numpy and its framework; {twin} is the same network in the other",
        "framework. The harness wrote both next to data.npz (its prepared arrays) and",
        f"initial_weights.npz (its initial weights of seed {seed}).",
        "",
        f"    python {script}                                # train, print each epoch",
        f"    python {script} --weights initial_weights.npz  # from the harness' weights",
        "",
        "Options: --data FILE, --epochs N, --predict FILE (the outputs on the test set after",
        "training, .npy), --batch-losses FILE (every batch's loss, .csv).",
    ]


def constants(spec, seed: int, batch_size: int) -> list[str]:
    """The scripts' settings block: the seed, the epochs, the batch sizes; and what of the spec they leave out."""
    lines = ["HERE = Path(__file__).resolve().parent", f"SEED = {seed}", f"EPOCHS = {spec.training.epochs}",
             f"BATCH_SIZE = {batch_size}", f"EVAL_BATCH_SIZE = {spec.training.eval_batch_size}"]
    stopping = spec.training.early_stopping
    if stopping is not None:
        lines += comment(f"The spec stops early ({stopping.monitor}, patience {stopping.patience}, min_delta "
                         f"{stopping.min_delta}); this script trains every epoch.")
    return lines


ARGUMENTS = [
    'parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])',
    'parser.add_argument("--data", type=Path, default=HERE / "data.npz")',
    'parser.add_argument("--weights", type=Path, help="canonical weights (.npz)")',
    'parser.add_argument("--epochs", type=int, default=EPOCHS)',
    'parser.add_argument("--predict", type=Path, help="save the test outputs (.npy)")',
    'parser.add_argument("--batch-losses", type=Path, help="save each batch\'s loss (.csv)")',
    "args = parser.parse_args()",
]

WRITE_LOSSES = [
    "def write_batch_losses(path, rows):",
    '    """(epoch, batch, loss) rows as CSV."""',
    '    with open(path, "w", newline="") as handle:',
    "        writer = csv.writer(handle)",
    '        writer.writerow(["epoch", "batch", "loss"])',
    "        writer.writerows(rows)",
]


def formatted(lines: list[str]) -> str:
    """The script's text through ruff's formatter with its default settings (the generator writes calls on one
    line; the formatter wraps them as `ruff format` would)."""
    source = "\n".join(lines) + "\n"
    done = subprocess.run([sys.executable, "-m", "ruff", "format", "--isolated", "--stdin-filename", "script.py",
                           "-"], input=source, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # a generator bug: the text is not valid Python
        raise RuntimeError(f"ruff format refused the generated script: {done.stderr.strip()}\n{source}")
    return done.stdout
