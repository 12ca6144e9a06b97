"""Every Keras execution mode trains what the default graph mode trains: the same batches in the same order, the
last partial batch kept, the same batch losses and epoch losses (float32 round-off apart), and the same
detection of a non-finite loss. Runs go through harness.jobs.train.fit, as `harness run --execution
tensorflow=MODE` trains them."""

import math

import pytest
from conftest import SEED, dense, make_spec

from harness.core import data, execution, init
from harness.jobs.train import fit

# Dropout off (XLA draws other dropout masks than the graph), an L2 penalty (the batch loss includes it), class
# weights (the dataset input carries them as sample weights) and 96 training samples in batches of 20 with N = 2
# steps per call: 5 batches, the last one of 16, and a last call of one step.
SPEC = dict(layers=[dense(8, "relu", kernel_regularizer={"l2": 0.01}), dense(3, "softmax")],
            optimizer={"type": "adam", "learning_rate": 0.01}, data={"validation_split": 0.2, "test_split": 0.2},
            training={"epochs": 3, "batch_size": 20, "class_weight": "balanced", "steps_per_execution": 2})
# The modes without XLA run the graph mode's ops in the same order: bit-identical, required (measured: 0). XLA fuses
# them and rounds differently: at most 2.4e-7 here (measured); 1e-5 is the bound for float32 round-off.
# (On experiments/mlp_mnist1d.yaml without dropout XLA stays within 2e-8 for six epochs, then the round-off grows
# to 3.8e-5 by epoch 9; in float64 the two agree to 4.4e-16.)
XLA_TOLERANCE = 1e-5
MODES = [mode for mode in execution.MODES["tensorflow"] if mode != "eager"]  # eager: 20x slower, same ops
# name -> (mode, the trainer settings over the mode's own): every mode, and the numpy arrays input (Keras' own
# pipeline, sliced from the arrays) in place of the default tf.data.Dataset
VARIANTS = {**{mode: (mode, {}) for mode in MODES},
            "graph, numpy arrays": ("graph", {"input": "arrays"}), "spe, numpy arrays": ("spe", {"input": "arrays"})}


@pytest.fixture(scope="module")
def runs(tf_adapter):
    """{variant: fit result} of the same spec, seed and initial weights in every variant."""
    spec = make_spec(**SPEC)
    dataset = data.prepare(spec)
    weights = init.initial_weights(spec.model, SEED)
    found = {}
    for name, (mode, extra) in VARIANTS.items():
        settings = {**execution.settings_of("tensorflow", mode, spec.training.steps_per_execution), **extra}
        found[name] = fit(tf_adapter, spec, dataset, SEED, weights=weights, execution=(mode, settings))
    return found, dataset


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_mode_trains_what_the_graph_mode_trains(runs, variant):
    results, dataset = runs
    (mode, extra), found, graph = VARIANTS[variant], results[variant], results["graph"]
    tolerance = XLA_TOLERANCE if execution.MODES["tensorflow"][mode][0].get("jit_compile") else 0.0
    assert found["status"] == "ok" and found["execution"]["mode"] == mode
    assert found["execution"]["input"] == extra.get("input", "dataset")
    assert len(found["epochs"]) == len(graph["epochs"]) == 3
    batches = math.ceil(dataset.n_train / 20)
    assert dataset.n_train % 20, "the spec must leave a last partial batch"
    for epoch, expected in zip(found["epochs"], graph["epochs"]):
        assert len(epoch["batch_losses"]) == batches, f"{mode}: one loss per batch, the partial one included"
        assert max(abs(a - b) for a, b in zip(epoch["batch_losses"], expected["batch_losses"])) <= tolerance
        for key in ("loss", "metric", "val_loss", "val_metric"):
            assert abs(epoch[key] - expected[key]) <= tolerance, f"{mode} epoch {epoch['epoch']}: {key}"
    assert abs(found["test"]["test_loss"] - graph["test"]["test_loss"]) <= tolerance


@pytest.mark.parametrize("mode", ["graph", "spe", "epoch"])  # one check for all modes: the XLA ones add nothing
def test_a_non_finite_loss_is_found_at_the_end_of_its_epoch(tf_adapter, mode):
    """SGD at rate 1e6 on mse overflows within the first epoch: every mode marks the run diverged after it, with
    the batch losses up to the first non-finite one."""
    spec = make_spec([dense(8, "tanh"), dense(1)], input_shape=(2,), loss="mse",
                     optimizer={"type": "sgd", "learning_rate": 1e6}, dataset="regression",
                     data={"n_samples": 200, "standardize_target": True},
                     training={"epochs": 3, "batch_size": 16, "steps_per_execution": 4})
    dataset = data.prepare(spec)
    result = fit(tf_adapter, spec, dataset, SEED, weights=init.initial_weights(spec.model, SEED),
                 execution=(mode, execution.settings_of("tensorflow", mode, spec.training.steps_per_execution)))
    assert result["status"] == "diverged" and len(result["epochs"]) == 1, mode
    losses = result["epochs"][0]["batch_losses"]
    assert not math.isfinite(losses[-1]) and all(math.isfinite(value) for value in losses[:-1]), mode
    assert math.isnan(result["epochs"][0]["loss"]), mode


@pytest.mark.parametrize("setting, value", [("input", "tfrecord"), ("epoch_per_execution", 1),
                                            ("epoch_per_execution", "yes")])
def test_a_bad_trainer_setting_is_one_message_naming_it(tf_adapter, setting, value):
    spec = make_spec([dense(3, "softmax")])
    target = data.prepare(spec).target
    with pytest.raises(ValueError, match=f"{setting}: expected one of .*; received {value!r}"):
        tf_adapter.make_trainer(spec, tf_adapter.build_model(spec.model, seed=SEED), target, {setting: value})
