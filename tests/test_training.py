"""Short real runs through `harness.jobs.train.fit` in both frameworks: every optimizer, loss and activation
trains; a huge learning rate diverges at once; early stopping and the extreme batch sizes behave alike."""

import math

import numpy as np
import pytest
from conftest import SEED, dense, make_spec

from harness.core import data, init, registry
from harness.jobs.train import fit

# SGD maps exactly and Adagrad to within its epsilon's placement, negligible once the accumulator starts at 0.1
# (keras-torch-equivalence.md, section 1.10): four epochs on the same batches differ by float32 round-off,
# measured <= 1.6e-7 on the epoch losses; 1e-5 leaves a wide margin. Stock torch Adam and RMSprop do not map
# exactly (measured 5e-6 and 1e-3 here), so their runs are only required to train.
MATCHED_LOSS_TOLERANCE = 1e-5
MATCHED_OPTIMIZERS = ("sgd", "adagrad")

# loss -> (data section, input shape, output layer): a dataset and an output that fit the loss
LOSS_SETUPS = {
    "categorical_crossentropy": ({"dataset": "iris"}, (4,), dense(3, "softmax")),
    "binary_crossentropy": ({"dataset": "moons", "n_samples": 200}, (2,), dense(1, "sigmoid")),
    "mse": ({"dataset": "regression", "n_samples": 200, "standardize_target": True}, (2,), dense(1)),
    "mae": ({"dataset": "regression", "n_samples": 200, "standardize_target": True}, (2,), dense(1)),
}

# Learning rates large enough that four short epochs make clear progress.
OPTIMIZERS = {
    "sgd": {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9},
    "adam": {"type": "adam", "learning_rate": 0.01},
    "adamw": {"type": "adamw", "learning_rate": 0.01},
    "rmsprop": {"type": "rmsprop", "learning_rate": 0.01},
    "adagrad": {"type": "adagrad", "learning_rate": 0.1},
}

# (optimizer, loss, hidden activation): each optimizer, each loss and each activation once
TRAINING_CASES = {
    **{f"optimizer-{name}": (name, "categorical_crossentropy", "relu") for name in registry.OPTIMIZERS},
    **{f"loss-{name}": ("sgd", name, "tanh") for name in registry.LOSSES},
    **{f"activation-{name}": ("sgd", "categorical_crossentropy", name) for name in registry.ACTIVATIONS},
}


# --------------------------------------------------------------------------------------------- helpers

def _spec(optimizer="sgd", loss="categorical_crossentropy", hidden="tanh", epochs=4, batch_size=16, **sections):
    data_section, input_shape, output = LOSS_SETUPS[loss]
    data_section = {**data_section, **sections.pop("data", {})}
    optimizer = OPTIMIZERS[optimizer] if isinstance(optimizer, str) else optimizer
    return make_spec([dense(8, hidden), output], input_shape=input_shape, loss=loss, optimizer=optimizer,
                     data=data_section, training={"epochs": epochs, "batch_size": batch_size,
                                                  **sections.pop("training", {})}, **sections)


def _fit_both(adapters, spec):
    """({framework: fit result}, dataset), both runs from the same numpy initial weights."""
    dataset = data.prepare(spec)
    weights = init.initial_weights(spec.model, SEED)
    return {name: fit(adapter, spec, dataset, SEED, weights=weights) for name, adapter in adapters.items()}, dataset


def _losses(result) -> list[float]:
    return [row["loss"] for row in result["epochs"]]


def _assert_trained(results, epochs):
    for name, result in results.items():
        losses = _losses(result)
        assert result["status"] == "ok", name
        assert len(losses) == epochs and all(map(math.isfinite, losses)), (name, losses)
        assert losses[-1] < losses[0], f"{name}: the training loss did not fall: {losses}"


def _assert_same_losses(results):
    np.testing.assert_allclose(_losses(results["torch"]), _losses(results["tensorflow"]), rtol=0,
                               atol=MATCHED_LOSS_TOLERANCE)


# ----------------------------------------------------------------------------------------------- tests

def test_every_registered_optimizer_and_loss_has_a_setup():
    assert set(OPTIMIZERS) == set(registry.OPTIMIZERS)
    assert set(LOSS_SETUPS) == set(registry.LOSSES)


@pytest.mark.parametrize("case", TRAINING_CASES)
def test_training_lowers_the_loss(adapters, case):
    optimizer, loss, hidden = TRAINING_CASES[case]
    results, _ = _fit_both(adapters, _spec(optimizer, loss, hidden))
    _assert_trained(results, epochs=4)
    if optimizer in MATCHED_OPTIMIZERS:
        _assert_same_losses(results)


def test_a_huge_learning_rate_diverges_at_once(adapters):
    spec = _spec({"type": "sgd", "learning_rate": 1e6}, "mse", epochs=5)
    results, _ = _fit_both(adapters, spec)
    for name, result in results.items():
        assert result["status"] == "diverged", name
        assert len(result["epochs"]) == 1, f"{name}: kept training after a non-finite loss"
        assert not math.isfinite(result["epochs"][-1]["loss"]), name
        losses = result["epochs"][-1]["batch_losses"]  # up to and including the first non-finite batch loss
        assert not math.isfinite(losses[-1]) and all(map(math.isfinite, losses[:-1])), name
        assert result["test"] == {} and not result["stopped_early"], name


@pytest.mark.parametrize("learning_rate, min_delta, epochs_run, best_epoch", [
    (1e-7, 1e-3, 2, 1),  # plateau: no improvement by min_delta after the first epoch, patience 1 -> stop after 2
    (0.05, 0.0, 4, 4),   # val_loss falls every epoch: runs to the limit
], ids=["plateau", "improving"])
def test_early_stopping_on_val_loss(adapters, learning_rate, min_delta, epochs_run, best_epoch):
    stopping = {"monitor": "val_loss", "patience": 1, "min_delta": min_delta}
    spec = _spec({"type": "sgd", "learning_rate": learning_rate}, epochs=4, training={"early_stopping": stopping})
    results, _ = _fit_both(adapters, spec)
    for name, result in results.items():
        assert len(result["epochs"]) == epochs_run, name
        assert result["stopped_early"] == (epochs_run < 4), name
        assert result["best_epoch"] == best_epoch, name
        assert result["status"] == "ok" and result["test"], name


@pytest.mark.parametrize("batch_size, learning_rate", [("full", 0.5), (1, 0.01)], ids=["full", "one"])
def test_extreme_batch_sizes(adapters, batch_size, learning_rate):
    spec = _spec({"type": "sgd", "learning_rate": learning_rate}, "binary_crossentropy", epochs=3,
                 batch_size=batch_size, data={"n_samples": 60})
    results, dataset = _fit_both(adapters, spec)
    expected = dataset.n_train if batch_size == "full" else 1
    assert {name: result["batch_size"] for name, result in results.items()} == {name: expected for name in results}
    _assert_trained(results, epochs=3)
    _assert_same_losses(results)
