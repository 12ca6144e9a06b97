"""Class weights and label smoothing (issue 15): what the weights are, the loss both frameworks compute with them,
parity for every optimizer family, and `harness run` with its two scripts. Real frameworks, no mocks.

Tolerances: a loss of a handful of float32 operations agrees to 1e-6; parity uses parity.TOLERANCES through
test_parity.assert_parity (float32: loss 1e-5, gradients and weights 1e-4; float64 1e-10); harness run's curves
agree to 1e-4 per epoch (the issue's bound); a script's batch losses equal the run's to 1e-5 (as tests/test_code.py).
"""

import csv
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import SEED, one_error_line, write_spec
from sklearn.utils.class_weight import compute_class_weight
from test_parity import MLP, assert_parity, make_spec

import harness
from harness.cli import main
from harness.core import class_weights, validate
from harness.core.data import Target
from harness.core.errors import SpecError

LOSS_TOLERANCE = 1e-6
CURVE_TOLERANCE = 1e-4
SCRIPT_TOLERANCE = 1e-5
SPARSE = Target("classification", "sparse", "accuracy", "sparse_categorical", 3)
ONE_HOT = Target("classification", "dense", "accuracy", "categorical", 3)
BINARY = Target("classification", "dense", "accuracy", "binary", 1)

# ------------------------------------------------------------------------------------ the weights themselves

LABELS = {"sparse": (SPARSE, np.array([0, 0, 0, 1, 2, 2])), "one_hot": (ONE_HOT, np.eye(3)[[0, 0, 0, 1, 2, 2]]),
          "binary": (BINARY, np.array([[0.0], [1.0], [1.0], [1.0]]))}
# name -> (training.class_weight, labels, expected weight per class)
WEIGHT_CASES = {
    "dict_missing_class_weighs_1": ({0: 2.0, 2: 0.5}, "sparse", (2.0, 1.0, 0.5)),
    "dict_one_hot": ({1: 4.0}, "one_hot", (1.0, 4.0, 1.0)),
    "dict_binary": ({1: 3.0}, "binary", (1.0, 3.0)),
    "balanced_sparse": ("balanced", "sparse", (6 / 9, 2.0, 1.0)),
    "balanced_one_hot": ("balanced", "one_hot", (6 / 9, 2.0, 1.0)),
    "balanced_binary": ("balanced", "binary", (2.0, 4 / 6)),
    "none": (None, "sparse", None),
}


@pytest.mark.parametrize("case", WEIGHT_CASES)
def test_class_weights_per_class(case):
    chosen, labels, expected = WEIGHT_CASES[case]
    target, y = LABELS[labels]
    found = class_weights.class_weights(chosen, target, y)
    assert found == (None if expected is None else pytest.approx(expected, abs=1e-12))
    if chosen == "balanced":  # scikit-learn's formula
        indices = class_weights.class_labels(target, y)
        classes = np.arange(class_weights.class_count(target))
        assert found == pytest.approx(tuple(compute_class_weight("balanced", classes=classes, y=indices)), abs=1e-12)


@pytest.mark.parametrize("chosen, message", [
    ({3: 2.0}, "class indices must be in [0, 2] (the model's 3 classes); received 3"),
    ("balanced", "'balanced' needs every class in the training split; class 1 has no training sample (of 3)")])
def test_class_weights_refused_with_one_line(chosen, message):
    with pytest.raises(SpecError) as error:
        class_weights.class_weights(chosen, SPARSE, np.array([0, 2, 2]))
    assert str(error.value) == f"training.class_weight: {message}"


def test_cli_refuses_a_class_index_beyond_the_dataset(tmp_path, capsys):
    spec = {"name": "bad", "data": {"dataset": "iris"}, "loss": "categorical_crossentropy",
            "model": {"input_shape": [4], "layers": [{"type": "dense", "units": 3, "activation": "softmax"}]},
            "optimizer": "sgd", "training": {"class_weight": {0: 1.0, 7: 2.0}}}
    assert main(["validate", str(write_spec(tmp_path, spec))]) == 2
    assert one_error_line(capsys) == ("error: training.class_weight: class indices must be in [0, 2] (the model's 3 "
                                      "classes); received 7")


# --------------------------------------------------------------------------------- one loss, three ways

def _numpy_loss(target, raw, y, weights, smoothing) -> float:
    """Keras' definition: per-sample cross-entropy on smoothed targets, sum(w * loss) / batch size."""
    if target.accuracy == "binary":
        t = y * (1 - smoothing) + 0.5 * smoothing
        values = (np.maximum(raw, 0) - raw * t + np.log1p(np.exp(-np.abs(raw)))).mean(-1)
    else:
        t = (np.eye(3)[y] if y.ndim == 1 else y) * (1 - smoothing) + smoothing / 3
        log_p = raw - raw.max(-1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
        values = -(t * log_p).sum(-1)
    w = np.ones(len(raw)) if weights is None else np.asarray(weights)[class_weights.class_labels(target, y)]
    return float((w * values).sum() / len(raw))


def _inputs(target):
    rng = np.random.default_rng(5)
    raw = rng.normal(size=(8, target.units)).astype(np.float32)
    labels = rng.integers(0, 3 if target.units == 3 else 2, 8)
    if target.label_format == "sparse":
        return raw, labels
    return raw, (np.eye(3, dtype=np.float32)[labels] if target.units == 3 else labels[:, None].astype(np.float32))


# name -> (target, class weights, label smoothing)
LOSS_CASES = {
    "sparse_weighted": (SPARSE, (2.0, 1.0, 0.25), 0.0), "sparse_smoothed": (SPARSE, None, 0.1),
    "sparse_both": (SPARSE, (0.5, 3.0, 1.0), 0.2), "one_hot_weighted": (ONE_HOT, (2.0, 1.0, 0.25), 0.0),
    "one_hot_smoothed": (ONE_HOT, None, 0.1), "binary_weighted": (BINARY, (1.0, 3.0), 0.0),
    "binary_smoothed": (BINARY, None, 0.15), "binary_both": (BINARY, (0.4, 1.5), 0.3),
}


@pytest.mark.parametrize("case", LOSS_CASES)
def test_keras_and_torch_compute_keras_loss(adapters, case):
    import torch
    from scipy.special import expit, softmax

    import models_tf.losses as keras_losses
    import models_torch.losses as torch_losses

    plain, weights, smoothing = LOSS_CASES[case]
    target = dataclasses.replace(plain, class_weights=weights)
    loss = "binary_crossentropy" if target.accuracy == "binary" else "categorical_crossentropy"
    activation = "sigmoid" if target.accuracy == "binary" else "softmax"
    spec = validate.parse_spec({"name": "loss", "data": {"dataset": "iris"}, "loss": loss, "optimizer": "sgd",
                                "model": {"input_shape": [4], "layers": [{"type": "dense", "units": target.units,
                                                                          "activation": activation}]},
                                "training": {"label_smoothing": smoothing}})
    raw, y = _inputs(target)
    expected = _numpy_loss(target, raw.astype(np.float64), y, weights, smoothing)
    keras_class, keras_kwargs = keras_losses.loss_arguments(spec, target)
    probabilities = expit(raw) if loss == "binary_crossentropy" else softmax(raw, axis=-1)
    keras_value = float(keras_class(**keras_kwargs)(y, probabilities, sample_weight=keras_losses.sample_weights(
        target, y)))
    torch_fn, _, _ = torch_losses.loss_arguments(spec, target)
    labels = torch.from_numpy(y)
    torch_value = float(torch_fn(torch.from_numpy(raw), labels, torch_losses.sample_weights(target, labels)))
    assert keras_value == pytest.approx(expected, abs=LOSS_TOLERANCE)
    assert torch_value == pytest.approx(expected, abs=LOSS_TOLERANCE)
    assert abs(expected - _numpy_loss(target, raw.astype(np.float64), y, None, 0.0)) > 1e-2  # the option matters
    if weights is not None and target.label_format == "sparse":  # the naive port divides by sum(w[y]) (with
        # probability targets torch's mean divides by the batch size, and weight= is then Keras' rule unsmoothed)
        naive = torch.nn.functional.cross_entropy(torch.from_numpy(raw), labels, weight=torch.tensor(weights),
                                                  reduction="mean", label_smoothing=smoothing)
        assert abs(float(naive) - expected) > 1e-2


# ------------------------------------------------------------------------------ parity, every optimizer family

# name -> (optimizer setting of test_parity.OPTIMIZERS, its loss setting, training options): each option with
# each optimizer family, and each label encoding with each option
PARITY_CASES = {
    "weights_sgd": ("sgd_momentum", "categorical_integer", {"class_weight": {0: 2.0, 2: 0.5}}),
    "weights_adam": ("adam", "categorical_one_hot", {"class_weight": "balanced"}),
    "weights_adamw": ("adamw", "binary", {"class_weight": {1: 3.0}}),
    "weights_rmsprop": ("rmsprop_centered", "categorical_integer", {"class_weight": "balanced"}),
    "weights_adagrad": ("adagrad", "binary", {"class_weight": "balanced"}),
    "smoothing_sgd": ("sgd", "binary", {"label_smoothing": 0.15}),
    "smoothing_adam": ("adam_amsgrad", "categorical_integer", {"label_smoothing": 0.1}),
    "smoothing_adamw": ("adamw", "categorical_one_hot", {"label_smoothing": 0.2}),
    "smoothing_rmsprop": ("rmsprop_momentum", "categorical_integer", {"label_smoothing": 0.1}),
    "smoothing_adagrad": ("adagrad", "categorical_one_hot", {"label_smoothing": 0.1}),
    "both_sgd": ("sgd_nesterov", "binary", {"label_smoothing": 0.15, "class_weight": "balanced"}),
}
FLOAT64_CASES = ("weights_adam", "both_sgd")


def _parity_spec(directory, case):
    optimizer, loss_setting, training = PARITY_CASES[case]
    base = make_spec(directory, *MLP, optimizer, loss_setting)
    return validate.parse_spec({**base.model_dump(exclude_unset=True),
                                "training": {**base.training.model_dump(exclude_unset=True), **training}})


@pytest.mark.parametrize("dtype, case", [*(("float32", case) for case in PARITY_CASES),
                                         *(("float64", case) for case in FLOAT64_CASES)])
def test_parity_with_class_weights_and_label_smoothing(adapters, tmp_path, record_property, case, dtype):
    """tensorflow, torch and the numpy reference agree step by step (three pairs)."""
    assert_parity(adapters, _parity_spec(tmp_path, case), dtype, case, record_property, reference=True)


# ---------------------------------------------------------------------------------- harness run and its scripts

def _run_spec(name, training, binary):
    dataset, features = ("breast_cancer", 30) if binary else ("iris", 4)
    output = {"type": "dense", "units": 1 if binary else 3, "activation": "sigmoid" if binary else "softmax"}
    return validate.parse_spec({
        "name": name, "data": {"dataset": dataset}, "seeds": [SEED],
        "model": {"input_shape": [features], "layers": [{"type": "dense", "units": 8, "activation": "tanh"}, output]},
        "loss": "binary_crossentropy" if binary else "categorical_crossentropy",
        "optimizer": {"type": "sgd", "learning_rate": 0.1}, "training": {"epochs": 2, "batch_size": 16, **training}})


RUN_CASES = {
    "weights_and_smoothing_sparse": ({"class_weight": {0: 3.0, 2: 0.5}, "label_smoothing": 0.1}, False),
    "balanced_binary_smoothed": ({"class_weight": "balanced", "label_smoothing": 0.2}, True),
}


def _script_batch_losses(folder, script: str) -> list[float]:
    subprocess.run([sys.executable, script, "--weights", "initial_weights.npz", "--epochs", "1", "--batch-losses",
                    "losses.csv"], cwd=folder, check=True, capture_output=True, timeout=600)
    with open(folder / "losses.csv", newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


@pytest.mark.parametrize("case", RUN_CASES)
def test_harness_run_curves_agree_and_the_scripts_apply_the_options(adapters, tmp_path, case):
    training, binary = RUN_CASES[case]
    results = harness.run(_run_spec(case, training, binary), tmp_path / "out", in_process=True, tensorboard=False,
                          save_weights=False, log=lambda line: None)
    runs = {record["framework"]: record for record in
            (json.loads(path.read_text()) for path in (results.out_dir / "runs").glob("*.json"))}
    keras_epochs, torch_epochs = runs["tensorflow"]["epochs"], runs["torch"]["epochs"]
    assert len(keras_epochs) == len(torch_epochs) == 2
    for keras_epoch, torch_epoch in zip(keras_epochs, torch_epochs):
        for key in ("loss", "val_loss"):
            assert abs(keras_epoch[key] - torch_epoch[key]) <= CURVE_TOLERANCE, (key, keras_epoch, torch_epoch)
    keras_loss = runs["tensorflow"]["hyperparameters"]["loss"]
    torch_loss = runs["torch"]["hyperparameters"]["loss"]
    assert keras_loss["label_smoothing"] == torch_loss["label_smoothing"] == training["label_smoothing"]
    assert keras_loss["class_weight"] is not None and torch_loss["reduction"] == "sum(w * loss) / batch size"
    folder = results.out_dir / "code"
    for framework, script in (("tensorflow", "model_keras.py"), ("torch", "model_torch.py")):
        found = _script_batch_losses(folder, script)
        expected = runs[framework]["epochs"][0]["batch_losses"]
        assert len(found) == len(expected) > 1
        assert np.abs(np.array(found) - np.array(expected)).max() <= SCRIPT_TOLERANCE, framework


@pytest.mark.parametrize("training, settings", [
    ({}, []), ({"class_weight": "balanced"}, ["class weights (training.class_weight)"]),
    ({"label_smoothing": 0.1, "class_weight": {1: 2.0}},
     ["class weights (training.class_weight)", "label smoothing (training.label_smoothing)"])])
def test_the_defaults_table_names_the_weights_and_the_smoothing(training, settings):
    from harness.core import defaults

    spec = _run_spec("defaults", training, binary=False)
    rows = [row for row in defaults.table(spec) if "(training." in row["setting"]]
    assert [row["setting"] for row in rows] == settings
    if training.get("class_weight"):
        assert "sum(w[y] * loss) / sum(w[y])" in rows[0]["torch"] and "batch size on both" in rows[0]["harness"]
