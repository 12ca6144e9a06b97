"""Issue 15's options together, as a user combines them: bidirectional recurrent layers, SGD with momentum under
a schedule (or reduce-on-plateau), each kind of gradient clipping, class weights and label smoothing. Each spec
passes `harness parity` at the float32 tolerances, and its `harness run` curves (no dropout) agree across the
frameworks to 1e-4 per epoch, with the same learning rate recorded on both sides."""

import pytest
from conftest import SEED, make_spec

from harness.core import data, init
from harness.jobs.train import fit
from harness.parity.run import run_parity

CASES = {
    "gru-sum-exponential-clipnorm-balanced": (
        {"type": "gru", "units": 8, "bidirectional": True, "merge_mode": "sum"},
        {"type": "sgd", "learning_rate": 0.05, "momentum": 0.9, "clipnorm": 1.0,
         "schedule": {"type": "exponential_decay", "decay_steps": 30, "decay_rate": 0.8}},
        {"class_weight": "balanced"}),
    "lstm-concat-cosine-global-weights-smoothing": (
        {"type": "lstm", "units": 8, "bidirectional": True},
        {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "global_clipnorm": 0.5,
         "schedule": {"type": "cosine_decay", "decay_steps": 150, "warmup_steps": 20}},
        {"class_weight": {0: 2.0, 3: 0.5}, "label_smoothing": 0.1}),
    "rnn-ave-piecewise-clipvalue": (
        {"type": "simple_rnn", "units": 8, "bidirectional": True, "merge_mode": "ave"},
        {"type": "sgd", "clipvalue": 0.1,
         "schedule": {"type": "piecewise_constant", "boundaries": [40, 80], "values": [0.1, 0.05, 0.01]}},
        {"class_weight": "balanced"}),
    "gru-mul-plateau-clipnorm": (  # min_delta 10: no epoch after the first improves: the rate halves each epoch
        {"type": "gru", "units": 8, "bidirectional": True, "merge_mode": "mul"},
        {"type": "sgd", "learning_rate": 0.05, "momentum": 0.5, "clipnorm": 0.5,
         "schedule": {"type": "reduce_on_plateau", "patience": 0, "factor": 0.5, "min_delta": 10.0}},
        {"class_weight": "balanced"}),
}


def _spec(recurrent, optimizer, training):
    return make_spec([recurrent, {"type": "dense", "units": 10, "activation": "softmax"}], input_shape=(8, 8),
                     dataset="digits", optimizer=optimizer, training={"epochs": 4, "batch_size": 32, **training})


@pytest.mark.parametrize("case", CASES)
def test_combined_options_train_alike_and_pass_parity(adapters, tmp_path, case):
    spec = _spec(*CASES[case])
    dataset, weights = data.prepare(spec), init.initial_weights(spec.model, SEED)
    keras_rows, torch_rows = (fit(adapter, spec, dataset, SEED, weights)["epochs"] for adapter in adapters.values())
    for keras_row, torch_row in zip(keras_rows, torch_rows, strict=True):
        for key in ("loss", "val_loss"):
            assert abs(keras_row[key] - torch_row[key]) < 1e-4, (key, keras_row, torch_row)
        assert keras_row["learning_rate"] == pytest.approx(torch_row["learning_rate"], rel=1e-6)
    if case.startswith("gru-mul-plateau"):
        # the first epoch sets the best; each later one misses it by more than min_delta (float32 rates)
        assert [row["learning_rate"] for row in torch_rows] == pytest.approx([0.05, 0.05, 0.025, 0.0125], rel=1e-6)
    result = run_parity(spec, tmp_path, steps=30, in_process=True, log=lambda line: None)
    comparison = result.comparisons[0]
    assert result.passed, (comparison.first_forward_divergence, comparison.first_step_divergence)
