"""Parity mode: Keras and PyTorch (and, for dense networks, the numpy reference) compute the same network, step by
step. Real frameworks, no mocks.

Each case trains 50 steps (several epochs of 72 samples in batches of 16 and a last one of 8) from the same initial
weights on identical batches and shared dropout masks, through the low-level API (parity.framework_trace, both
frameworks in this process), and must pass parity_compare.compare at parity.TOLERANCES: float32 forward 1e-5
(relative above 1), loss 1e-5, gradients and weights 1e-4; float64 1e-10 for all four. Every case runs in float32
and in float64, and must move the weights by more than MIN_TRAINING_MOVEMENT.

Covering design. The full product, 20 layer types x 11 optimizer settings (SGD plain, momentum, Nesterov; Adam,
AMSGrad, AdamW; RMSprop plain, centered, momentum, both; Adagrad) x 5 loss settings (mse, mae, binary
cross-entropy, categorical cross-entropy on integer and on one-hot labels) x 4 penalties (none, L1, L2, L1+L2) x
2 dropout settings x 2 dtypes, is ~17,600 runs of ~1-4 s: about half a day, where this file has ~4 minutes. A mapping
error lives in one layer (its layout, weights, mask or penalty) or in one optimizer or loss rule, and any case that
contains it fails; so every option of every dimension must run, but not every combination. What runs:

- LAYER_CASES (23, x 2 dtypes): every layer type, pools in 'valid' and 'same', convolutions strided, dilated and
  'same', batch normalization after dense and after conv2d (center off), recurrent layers stacked with
  return_sequences, embedding ids. Each case gets one (optimizer, loss, penalty, dropout) mix, LAYER_MIXES: three
  cycles of coprime lengths (11 optimizer settings, 5 loss settings, 8 = penalty x dropout), so each option of each
  dimension runs with at least two layer types and in different company each time. The dropout, when on, follows
  the first layer, so its mask is applied in that layer's output layout (channels first in torch after a conv).
- MLP_CASES (11, x 2 dtypes), dense networks, compared three ways (tensorflow-torch, tensorflow-numpy,
  torch-numpy): every optimizer setting on one small MLP, the loss setting and penalty x dropout rotating in the
  same way, so every loss, both label encodings, dropout and L1+L2 also meet the numpy reference.

Nothing is skipped. KNOWN_DEVIATIONS lists the float64 cases that cannot reach 1e-10 (constants that TensorFlow
rounds to float32), with cause and measured differences; they are asserted at FLOAT32_CONSTANT_BOUND and asserted to
still miss 1e-10, so a fix makes the test fail until the entry goes. Keras models of both precisions are built in
this one process (test_keras_models_of_both_precisions_in_one_process guards that).

Also here: `harness parity` through the real CLI in worker processes (MLP in float32 and float64, a CNN and a GRU
on MNIST-1D), and deliberately broken translations (GRU gate order, flatten order) that must FAIL with the first
diverging layer named in the report, and exit status 1 from the CLI.
"""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SEED

from harness.cli import main
from harness.core import data, init, registry, shapes, validate
from harness.jobs import frameworks
from harness.jobs import trace as parity
from harness.parity.compare import compare
from harness.parity.run import run_parity

ROOT = Path(__file__).resolve().parent.parent
STEPS = 50
N_SAMPLES = 100  # 20 test, 8 validation, 72 training samples: per epoch 4 batches of 16 and a last one of 8
BATCH_SIZE = 16
CLASSES = 3
VOCABULARY = 12
DROPOUT_RATE = 0.3
DTYPES = ("float32", "float64")
# The weights must move by at least this much over the 50 steps (100x the float32 weight tolerance), so that a
# trainer that did nothing, or far too little, cannot pass by agreeing with itself.
MIN_TRAINING_MOVEMENT = 1e-2

OPTIMIZERS = {
    "sgd": {"type": "sgd", "learning_rate": 0.05},
    "sgd_momentum": {"type": "sgd", "learning_rate": 0.02, "momentum": 0.9},
    "sgd_nesterov": {"type": "sgd", "learning_rate": 0.02, "momentum": 0.9, "nesterov": True},
    "adam": {"type": "adam", "learning_rate": 0.01},
    "adam_amsgrad": {"type": "adam", "learning_rate": 0.01, "amsgrad": True},
    "adamw": {"type": "adamw", "learning_rate": 0.01, "weight_decay": 0.04},
    "rmsprop": {"type": "rmsprop", "learning_rate": 0.005},
    "rmsprop_centered": {"type": "rmsprop", "learning_rate": 0.005, "centered": True},
    "rmsprop_momentum": {"type": "rmsprop", "learning_rate": 0.002, "momentum": 0.9},
    "rmsprop_centered_momentum": {"type": "rmsprop", "learning_rate": 0.002, "momentum": 0.9, "centered": True},
    "adagrad": {"type": "adagrad", "learning_rate": 0.05},
}
# loss setting -> (spec loss, output units, output activation); the two categorical settings differ in their labels
LOSSES = {
    "categorical_integer": ("categorical_crossentropy", CLASSES, "softmax"),
    "categorical_one_hot": ("categorical_crossentropy", CLASSES, "softmax"),
    "binary": ("binary_crossentropy", 1, "sigmoid"),
    "mse": ("mse", 1, "linear"),
    "mae": ("mae", 1, "linear"),
}
REGULARIZATIONS = {"none": None, "l1": {"l1": 0.01}, "l2": {"l2": 0.01}, "l1_l2": {"l1": 0.01, "l2": 0.01}}


def dense(units, activation="linear"):
    return {"type": "dense", "units": units, "activation": activation, "bias_initializer": "he_uniform"}


def conv(kind, filters, kernel_size, activation="relu", **options):
    return {"type": kind, "filters": filters, "kernel_size": kernel_size, "activation": activation,
            "bias_initializer": "he_uniform", **options}


def recurrent(kind, units, **options):
    return {"type": kind, "units": units, "bias_initializer": "he_uniform", **options}


FLAT = {"type": "flatten"}
EMBEDDING = {"type": "embedding", "input_dim": VOCABULARY, "output_dim": 4}

# name -> (input shape, the layers before the output dense layer). Stacks check two variants at once where neither
# has a known float64 deviation (valid and 'same' max pooling, strided and dilated convolutions).
LAYER_CASES = {
    "activation_gelu": ((6,), [dense(8), {"type": "activation", "activation": "gelu"}]),
    "activation_leaky_relu": ((6,), [dense(8), {"type": "activation", "activation": "leaky_relu"}]),
    "dropout": ((6,), [dense(8, "sigmoid"), {"type": "dropout", "rate": 0.5}, dense(6, "softplus")]),
    "dense_on_sequences_flatten": ((3, 4), [dense(5, "elu"), FLAT]),
    "reshape": ((12,), [{"type": "reshape", "target_shape": [6, -1]}, conv("conv1d", 3, 3), FLAT]),
    "batch_normalization": ((6,), [dense(8), {"type": "batch_normalization"},
                                   {"type": "activation", "activation": "relu"}]),
    "batch_normalization_conv2d": ((6, 6, 1), [conv("conv2d", 3, 3, "linear"),
                                               {"type": "batch_normalization", "momentum": 0.9, "center": False},
                                               FLAT]),
    "conv1d": ((12, 2), [conv("conv1d", 4, 3, strides=2),
                         conv("conv1d", 3, 3, "tanh", padding="same", dilation_rate=2), FLAT]),
    "conv2d": ((7, 7, 2), [conv("conv2d", 3, [3, 2]), conv("conv2d", 3, 3, "elu", strides=2, padding="same"), FLAT]),
    "max_pool1d": ((12, 2), [conv("conv1d", 3, 3), {"type": "max_pool1d"},
                             {"type": "max_pool1d", "pool_size": 3, "strides": 2, "padding": "same"}, FLAT]),
    "average_pool1d": ((12, 2), [conv("conv1d", 3, 3, "tanh"),
                                 {"type": "average_pool1d", "pool_size": 3, "strides": 1}, FLAT]),
    "average_pool1d_same": ((11, 2), [{"type": "average_pool1d", "pool_size": 3, "strides": 2, "padding": "same"},
                                      FLAT]),
    "max_pool2d": ((7, 7, 1), [conv("conv2d", 3, 2, "tanh"), {"type": "max_pool2d"},
                               {"type": "max_pool2d", "pool_size": 3, "strides": 2, "padding": "same"}, FLAT]),
    "average_pool2d": ((6, 6, 2), [{"type": "average_pool2d"}, FLAT]),
    "average_pool2d_same": ((7, 7, 1), [conv("conv2d", 2, 2, "tanh"), {"type": "average_pool2d", "pool_size": [3, 2],
                                                                       "strides": 2, "padding": "same"}, FLAT]),
    "global_average_pool1d": ((10, 2), [conv("conv1d", 4, 3), {"type": "global_average_pool1d"}]),
    "global_max_pool1d": ((10, 2), [conv("conv1d", 4, 3, "tanh"), {"type": "global_max_pool1d"}]),
    "global_average_pool2d": ((6, 6, 1), [conv("conv2d", 4, 3), {"type": "global_average_pool2d"}]),
    "global_max_pool2d": ((6, 6, 1), [conv("conv2d", 4, 3, "tanh"), {"type": "global_max_pool2d"}]),
    "simple_rnn": ((4, 3), [recurrent("simple_rnn", 4, activation="relu", return_sequences=True),
                            recurrent("simple_rnn", 6)]),
    "lstm": ((4, 3), [recurrent("lstm", 5, return_sequences=True), recurrent("lstm", 4)]),
    "gru": ((4, 3), [recurrent("gru", 5, return_sequences=True), recurrent("gru", 4)]),
    "embedding": ((6,), [EMBEDDING, FLAT]),
    # the layers harness import writes (appended: the cases above keep their optimizer and loss settings)
    "rescaling_leaky_relu": ((6,), [{"type": "rescaling", "scale": 0.5, "offset": -0.25}, dense(8),
                                    {"type": "leaky_relu", "negative_slope": 0.01}]),
    "zero_padding1d": ((10, 2), [{"type": "zero_padding1d", "padding": [1, 2]}, conv("conv1d", 3, 3), FLAT]),
    "zero_padding2d": ((5, 5, 1), [{"type": "zero_padding2d", "padding": [[1, 0], [0, 2]]}, conv("conv2d", 2, 3),
                                   FLAT]),
}
LAYER_MIXES = dict(zip(LAYER_CASES, zip(itertools.cycle(OPTIMIZERS), itertools.cycle(LOSSES),
                                        itertools.cycle(itertools.product(REGULARIZATIONS, (False, True))))))

MLP = ((6,), [dense(8, "tanh"), dense(6, "elu")])
# name -> (optimizer, loss, regularization, dropout): every optimizer setting on MLP, with the loss setting and the
# regularization x dropout combination rotating as for the layers, so each of them meets the reference too
MLP_CASES = {optimizer: (optimizer, loss, regularization, dropout) for optimizer, loss, (regularization, dropout)
             in zip(OPTIMIZERS, itertools.cycle(LOSSES), itertools.cycle(itertools.product(REGULARIZATIONS,
                                                                                           (False, True))))}

# Combinations that cannot reach parity.TOLERANCES, with the cause and the differences measured (tensorflow-torch,
# max over the 50 steps). Each is asserted within FLOAT32_CONSTANT_BOUND and asserted to still fail at the stated
# tolerances, so that a fix shows up here. Mirroring the rounding on the torch side brings each to ~4e-16 (checked).
# A constant rounded to float32 is off by at most 2**-24 ~ 6e-8 relative; 1e-6 leaves room for 50 steps and stays
# far below any mapping error (a wrong gate order, flatten order or epsilon: > 1e-3).
FLOAT32_CONSTANT_BOUND = 1e-6
KNOWN_DEVIATIONS = {
    ("activation_gelu", "float64"):
        "Keras' exact gelu is TensorFlow's 0.5 x erfc(-x cast(0.7071067811865476, float64)) "
        "(tensorflow/python/ops/nn_ops.py gelu): cast() makes a float32 tensor of the python float first, so "
        "1/sqrt(2) is float32-rounded; torch and numpy use the float64 constant. Measured forward 5.0e-9, "
        "loss 2.5e-9, gradients 2.0e-9, weights 1.9e-9",
    ("activation_leaky_relu", "float64"):
        "TensorFlow's LeakyRelu op takes alpha as a float32 attribute, so negative_slope 0.2 is float32-rounded "
        "(0.20000000298) also for float64 tensors; torch and numpy use 0.2. Measured forward 1.1e-8, "
        "loss 3.5e-9, gradients 2.5e-9, weights 4.1e-9",
}


# --------------------------------------------------------------------------------------------- helpers

def _regularized(layer: dict, regularizer) -> dict:
    """The layer with `regularizer` on each of its weights (kernels, recurrent kernels, biases, embeddings)."""
    names = {"dense": ("kernel_regularizer", "bias_regularizer"), "conv1d": ("kernel_regularizer", "bias_regularizer"),
             "conv2d": ("kernel_regularizer", "bias_regularizer"), "embedding": ("embeddings_regularizer",),
             **dict.fromkeys(("simple_rnn", "lstm", "gru"),
                             ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer"))}
    return {**layer, **dict.fromkeys(names.get(layer["type"], ()), regularizer)} if regularizer else layer


def _data_file(directory: Path, loss_setting: str, input_shape, ids: bool) -> tuple[Path, str]:
    """(npz file of N_SAMPLES samples for the loss setting, task). The targets are a fixed function of the inputs:
    a random projection, its tanh for regression, its quantile bins for classification. data.prepare checks the
    label range of each split on its own, so the highest class holds 60 % of the samples: every split has it."""
    rng = np.random.default_rng([SEED, *input_shape])
    x = rng.integers(0, VOCABULARY, (N_SAMPLES, *input_shape)) if ids else rng.normal(size=(N_SAMPLES, *input_shape))
    score = x.reshape(N_SAMPLES, -1) @ rng.normal(size=x[0].size) / np.sqrt(x[0].size)
    if loss_setting in ("mse", "mae"):
        y, task = np.tanh(score), "regression"
    else:
        edges = [0.4] if loss_setting == "binary" else [0.2, 0.4]
        y, task = np.searchsorted(np.quantile(score, edges), score), "classification"
        y = np.eye(CLASSES)[y] if loss_setting == "categorical_one_hot" else y
    path = directory / f"{loss_setting}_{'ids' if ids else 'x'}_{'x'.join(map(str, input_shape))}.npz"
    np.savez(path, x=x, y=y)
    return path, task


def make_spec(directory: Path, input_shape, body, optimizer="sgd", loss_setting="categorical_integer",
              regularization="none", dropout=False):
    """`body`, then the output dense layer for the loss, on an npz dataset made for it in `directory`. With
    `dropout`, a dropout layer follows the first layer; `regularization` goes on every weight."""
    loss, units, activation = LOSSES[loss_setting]
    layers = [_regularized(layer, REGULARIZATIONS[regularization]) for layer in [*body, dense(units, activation)]]
    if dropout:
        layers.insert(1, {"type": "dropout", "rate": DROPOUT_RATE})
    ids = body[0]["type"] == "embedding"
    path, task = _data_file(directory, loss_setting, input_shape, ids)
    return validate.parse_spec({
        "name": "parity_case", "data": {"dataset": "npz", "path": str(path), "task": task, "standardize": not ids},
        "model": {"input_shape": list(input_shape), "layers": layers}, "loss": loss,
        "optimizer": OPTIMIZERS[optimizer], "training": {"batch_size": BATCH_SIZE}})



def traces(adapters, spec, dtype: str, reference: bool = False) -> tuple[dict, list]:
    """({side: parity.Trace} over STEPS steps, initial weights): each framework in this process, and the numpy
    reference if asked."""
    dataset = parity.cast_dataset(data.prepare(spec), dtype)
    weights = [w.astype(dtype) for w in init.initial_weights(spec.model, SEED)]
    found = {name: parity.framework_trace(adapter, frameworks.load_parity(name), spec, dataset, weights, STEPS,
                                          dtype, SEED) for name, adapter in adapters.items()}
    if reference:
        found["numpy"] = parity.reference_trace(spec, dataset, weights, STEPS, dtype, SEED)
    return found, weights


def comparisons(spec, found: dict, tolerances: dict) -> list:
    """compare() for every pair of sides, after checking that each side recorded every layer and step (compare
    zips, so a short trace would otherwise pass unnoticed)."""
    layer_types = [info.type for info in shapes.infer(spec.model)]
    names = [name for name, _, keep in init.canonical_weights(spec.model, SEED) if keep]
    for side, trace in found.items():
        assert len(trace.forward) == len(layer_types), side
        assert len(trace.loss) == len(trace.weights) == len(trace.gradients) == STEPS, side
        assert all(len(step) == len(names) for step in trace.weights), side
    return [compare(a, found[a], b, found[b], layer_types, names, tolerances)
            for a, b in itertools.combinations(found, 2)]


def _summary(comparison) -> str:
    forward = max(row["max_abs"] for row in comparison.forward)
    maxima = ", ".join(f"{what} {value:.1e}" for what, value in comparison.maxima().items())
    where = comparison.first_forward_divergence or comparison.first_step_divergence
    return f"{comparison.a}-{comparison.b}: forward {forward:.1e}, {maxima}; first divergence {where}"


def assert_parity(adapters, spec, dtype: str, case: str, record_property, reference: bool = False) -> None:
    """Every pair of sides agrees within parity.TOLERANCES[dtype], or for a KNOWN_DEVIATIONS case: tensorflow
    against the others within FLOAT32_CONSTANT_BOUND but not within the tolerances. The weights moved."""
    found, initial = traces(adapters, spec, dtype, reference)
    trainable = [keep for _, _, keep in init.canonical_weights(spec.model, SEED)]
    start = [w for w, keep in zip(initial, trainable) if keep]
    movement = max(float(np.max(np.abs(end - begin))) for end, begin in zip(found["torch"].weights[-1], start))
    assert movement > MIN_TRAINING_MOVEMENT, f"50 steps moved the weights by {movement:.1e} only"
    known = (case, dtype) in KNOWN_DEVIATIONS
    strict = comparisons(spec, found, parity.TOLERANCES[dtype])
    loose = comparisons(spec, found, dict.fromkeys(parity.TOLERANCES[dtype], FLOAT32_CONSTANT_BOUND)) if known else []
    for comparison, relaxed in itertools.zip_longest(strict, loose):
        record_property(f"{comparison.a}-{comparison.b}", json.dumps(
            {"forward": max(row["max_abs"] for row in comparison.forward), **comparison.maxima()}))
        if known and comparison.a == "tensorflow":
            assert not comparison.passed, f"fixed? remove KNOWN_DEVIATIONS[{case!r}, {dtype!r}]: {_summary(comparison)}"
            assert relaxed.passed, f"beyond the known deviation ({KNOWN_DEVIATIONS[case, dtype]}): {_summary(relaxed)}"
        else:
            assert comparison.passed, _summary(comparison)


# ----------------------------------------------------------------------------------- layers x everything

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", LAYER_CASES)
def test_every_layer_type_trains_identically(adapters, tmp_path, record_property, case, dtype):
    input_shape, body = LAYER_CASES[case]
    optimizer, loss, (regularization, dropout) = LAYER_MIXES[case]
    spec = make_spec(tmp_path, input_shape, body, optimizer, loss, regularization, dropout)
    assert_parity(adapters, spec, dtype, case, record_property)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MLP_CASES)
def test_dense_networks_agree_with_the_numpy_reference(adapters, tmp_path, record_property, case, dtype):
    spec = make_spec(tmp_path, *MLP, *MLP_CASES[case])
    assert_parity(adapters, spec, dtype, case, record_property, reference=True)


def bidirectional(kind, units, merge_mode, **options):
    return recurrent(kind, units, bidirectional=True, merge_mode=merge_mode, **options)


# Bidirectional layers with each optimizer family (float32): every kind and merge, the last state and sequences,
# an L2 penalty and a dropout mask on the merged output. name -> (optimizer, loss, regularization, dropout, body)
BIDIRECTIONAL_CASES = {
    "sgd_momentum": ("sgd_momentum", "categorical_integer", "l2", False,
                     [bidirectional("gru", 4, "concat", return_sequences=True), bidirectional("lstm", 3, "ave")]),
    "adam": ("adam", "mse", "none", True, [bidirectional("lstm", 4, "sum", return_sequences=True), FLAT]),
    "adamw": ("adamw", "binary", "l1", False, [bidirectional("simple_rnn", 4, "mul", activation="relu")]),
    "rmsprop": ("rmsprop_centered", "categorical_one_hot", "l1_l2", False,
                [bidirectional("gru", 4, "mul", return_sequences=True), bidirectional("simple_rnn", 3, "concat")]),
    "adagrad": ("adagrad", "categorical_integer", "none", False, [bidirectional("gru", 5, "ave")]),
}


@pytest.mark.parametrize("case", BIDIRECTIONAL_CASES)
def test_bidirectional_layers_train_identically(adapters, tmp_path, record_property, case):
    optimizer, loss, regularization, dropout, body = BIDIRECTIONAL_CASES[case]
    spec = make_spec(tmp_path, (4, 3), body, optimizer, loss, regularization, dropout)
    assert_parity(adapters, spec, "float32", f"bidirectional_{case}", record_property)


def test_the_covering_design_covers_every_option():
    """Every layer type, optimizer setting, loss setting and regularization x dropout combination is in a layer case
    and in a reference case."""
    layer_types = {layer["type"] for _, body in LAYER_CASES.values() for layer in body}
    assert layer_types | {"dense", "dropout"} == set(registry.LAYERS)
    every = (set(OPTIMIZERS), set(LOSSES), set(itertools.product(REGULARIZATIONS, (False, True))))
    assert tuple({mix[k] for mix in LAYER_MIXES.values()} for k in range(3)) == every
    assert tuple({mix[k] for mix in [(o, loss, (r, d)) for o, loss, r, d in MLP_CASES.values()]}
                 for k in range(3)) == every
    assert set(KNOWN_DEVIATIONS) <= set(itertools.product(LAYER_CASES, DTYPES))


def test_keras_models_of_both_precisions_in_one_process(tf_adapter, torch_adapter):
    spec = validate.parse_spec({"name": "precision", "data": {"dataset": "iris"}, "loss": "mse", "optimizer": "sgd",
                                "model": {"input_shape": [4], "layers": [dense(2)]}})
    tf_parity = frameworks.load_parity("tensorflow")
    for dtype in ("float32", "float64", "float32"):
        model = tf_adapter.build_model(spec.model, seed=SEED, dtype=dtype)
        assert tf_parity.layer_outputs(model, np.ones((2, 4), dtype))[0].dtype == dtype


# ------------------------------------------------------------------------------------ the command line

GRU_MNIST1D = {
    "name": "mnist1d_gru", "description": "parity test: a GRU on MNIST-1D as a sequence of 40 steps",
    "data": {"dataset": "mnist1d", "validation_split": 0.1},
    "model": {"input_shape": [40, 1], "layers": [{"type": "gru", "units": 16}, dense(10, "softmax")]},
    "loss": "categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.01},
    "training": {"batch_size": 32},
}
CNN_MNIST1D = {
    "name": "mnist1d_cnn", "description": "parity test: a small CNN on MNIST-1D",
    "data": {"dataset": "mnist1d", "validation_split": 0.1},
    "model": {"input_shape": [40, 1], "layers": [
        {"type": "conv1d", "filters": 8, "kernel_size": 5, "strides": 2, "padding": "same", "activation": "relu"},
        {"type": "max_pool1d"}, FLAT, dense(10, "softmax")]},
    "loss": "categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.01},
    "training": {"batch_size": 100},
}
# name -> (spec file in experiments/, the spec written to tmp_path when that file is absent, dtype, steps, pairs)
CLI_CASES = {
    "mlp_float32": ("mlp_mnist1d", None, "float32", STEPS, 3),  # with the CLI's defaults
    "mlp_float64": ("mlp_mnist1d", None, "float64", STEPS, 3),
    # The numpy reference has no conv or gru layers. The test's own small CNN, not experiments/mnist1d_cnn.yaml:
    # with that file's stratified split (issue 15) its batch at step 3 gives TensorFlow and torch gradients of
    # the first conv bias 3e-3 apart in float32 (Adam at lr 0.01 then moves the weights 1.8e-2 apart), while in
    # float64 the two agree to 2.6e-15 over the same 20 steps: float32 round-off amplified, not a translation.
    "cnn": ("parity_small_cnn", CNN_MNIST1D, "float32", 20, 1),
    "gru": ("mnist1d_gru", GRU_MNIST1D, "float32", 20, 1),
}
REPORT_FILES = ("parity.md", "parity_steps.csv", "parity_forward.csv", "parity.json", "parity_deltas.png")


def _spec_file(name: str, fallback, directory: Path) -> Path:
    path = ROOT / "experiments" / f"{name}.yaml"
    if path.is_file() or fallback is None:
        return path
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(fallback))
    return path


@pytest.mark.parametrize("case", CLI_CASES)
def test_harness_parity_passes_in_worker_processes(tmp_path, case):
    name, fallback, dtype, steps, pairs = CLI_CASES[case]
    spec_path, out = _spec_file(name, fallback, tmp_path), tmp_path / "parity"
    options = [] if (dtype, steps) == ("float32", STEPS) else ["--dtype", dtype, "--steps", str(steps)]
    done = subprocess.run([sys.executable, "-m", "harness", "parity", str(spec_path), "--out", str(out), *options],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert all((out / file).stat().st_size > 0 for file in REPORT_FILES)
    assert (out / "parity_deltas.png").read_bytes().startswith(b"\x89PNG")
    report = json.loads((out / "parity.json").read_text())
    assert (report["passed"], report["dtype"], report["steps"], len(report["pairs"])) == (True, dtype, steps, pairs)
    for pair in report["pairs"]:
        assert pair["tolerances"] == parity.TOLERANCES[dtype]
        assert all(pair["maxima"][what] <= parity.TOLERANCES[dtype][what] for what in pair["maxima"]), pair
    assert len(pd.read_csv(out / "parity_forward.csv")) == len(validate.load_spec(spec_path).model.layers)
    assert len(pd.read_csv(out / "parity_steps.csv")) == steps
    assert "— PASS" in (out / "parity.md").read_text() and "| PASS |" in done.stdout


# ------------------------------------------------------------------------------------ broken translations

def _write(directory: Path, raw: dict) -> Path:
    path = directory / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


GRU_IRIS = {"name": "gru_iris", "data": {"dataset": "iris"},
            "model": {"input_shape": [4, 1], "layers": [{"type": "gru", "units": 6, "bias_initializer": "he_uniform"},
                                                        dense(3, "softmax")]},
            "loss": "categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.01}}
CONV_DIGITS = {"name": "conv_digits", "data": {"dataset": "digits"},
               "model": {"input_shape": [8, 8, 1], "layers": [conv("conv2d", 4, 3), FLAT, dense(10, "softmax")]},
               "loss": "categorical_crossentropy", "optimizer": {"type": "sgd", "learning_rate": 0.05}}
# name -> (module path, attribute, broken value, spec, index and type of the first layer that must diverge)
BREAKS = {
    # torch's GRU gate blocks are [r, z, n], Keras' [z, r, h]: without the swap the weights load into wrong gates
    "gru_gates_not_reordered": ("models_torch.recurrent", "_swap_first_blocks", lambda array, units: array,
                                GRU_IRIS, 0, "gru"),
    # a flatten that takes any layout flattens torch's (C, H, W) tensor, not Keras' (H, W, C) order
    "flatten_in_channels_first_order": ("models_torch.layers", "Flatten.wants", "any", CONV_DIGITS, 1, "flatten"),
}
BROKEN_STEPS = 5


@pytest.mark.parametrize("case", BREAKS)
def test_a_broken_translation_fails_naming_the_first_diverging_layer(adapters, tmp_path, monkeypatch, case):
    module, attribute, broken, raw, index, layer_type = BREAKS[case]
    spec = validate.parse_spec(raw)
    intact = run_parity(spec, tmp_path / "intact", steps=BROKEN_STEPS, in_process=True, log=lambda line: None)
    assert intact.passed, "the spec must pass before it is broken"
    monkeypatch.setattr(f"{module}.{attribute}", broken)
    result = run_parity(spec, tmp_path / "broken", steps=BROKEN_STEPS, in_process=True, log=lambda line: None)
    assert not result.passed
    layer = result.comparisons[0].first_forward_divergence
    assert (layer["index"], layer["type"]) == (index, layer_type)
    assert layer["max_abs"] > 1e3 * parity.TOLERANCES["float32"]["forward"]
    assert all(row["ok"] for row in result.comparisons[0].forward[:index]), "the layers before it still agree"
    report = (tmp_path / "broken" / "parity.md").read_text()
    assert report.startswith(f"# Parity: {raw['name']} — FAIL")
    assert f"forward, layer {index} ({layer_type})" in report
    assert json.loads((tmp_path / "broken" / "parity.json").read_text())["passed"] is False


def test_harness_parity_exit_status_is_1_on_a_broken_translation(adapters, tmp_path, monkeypatch, capsys):
    path = _write(tmp_path, CONV_DIGITS)
    arguments = ["parity", str(path), "--in-process", "--steps", str(BROKEN_STEPS), "--out"]
    assert main([*arguments, str(tmp_path / "intact")]) == 0
    monkeypatch.setattr("models_torch.layers.Flatten.wants", "any")
    assert main([*arguments, str(tmp_path / "broken")]) == 1
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "forward, layer 1 (flatten)" in printed
