"""Keras and PyTorch compiled from one spec compute the same thing: weights, parameter counts, forward pass,
batch order and the loss they report while training. Real frameworks, no mocks."""

import itertools

import numpy as np
import pytest
from conftest import SEED, dense, forward, make_spec, matched_models, max_weight_difference

from harness.core import data, init, registry, shapes

# Forward outputs: float32 through two small dense layers differ by summation order only, measured <= 2.4e-7 on
# probabilities and <= 1.2e-6 on linear outputs up to ~7 (float32 spacing there: 4.8e-7); 1e-5 keeps a
# margin and is far below any mapping error (a transposed kernel, a wrong slope or a missing bias: > 1e-2).
FORWARD_TOLERANCE = 1e-5
# Two epochs of SGD with momentum on the same batches: round-off only, measured <= 1.2e-7 on losses and weights.
TRAINING_TOLERANCE = 1e-5
# A different batch order after one epoch moves the weights by ~4e-2; 1e-3 separates it from round-off.
ORDER_SENSITIVITY = 1e-3

BATCH_SIZE = 16

LOSS_FOR_OUTPUT = {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy", "linear": "mse"}


def _flat_spec(hidden, output_activation, use_bias=True):
    """(4, 5) samples -> flatten -> dense(8, hidden) -> dense(3, output_activation)."""
    layers = [{"type": "flatten"}, dense(8, hidden, use_bias=use_bias), dense(3, output_activation, use_bias=use_bias)]
    return make_spec(layers, input_shape=(4, 5), loss=LOSS_FOR_OUTPUT[output_activation])


# name -> (spec, trainable parameters counted by hand)
SPECS = {
    "mlp_with_biases": (make_spec([dense(8, "relu"), dense(3, "softmax")]), 4 * 8 + 8 + 8 * 3 + 3),
    "no_bias": (make_spec([dense(8, "tanh", use_bias=False), dense(3, "softmax", use_bias=False)]), 4 * 8 + 8 * 3),
    "flatten_2d_input": (_flat_spec("elu", "sigmoid"), 20 * 8 + 8 + 8 * 3 + 3),
    "every_initializer": (make_spec(
        [dense(6, "gelu", kernel_initializer=name, bias_initializer=bias)
         for name, bias in zip(sorted(registry.INITIALIZERS), itertools.cycle(["ones", "glorot_normal"]))]
        + [{"type": "dropout", "rate": 0.0}, {"type": "activation", "activation": "softplus"}, dense(3, "linear")],
        loss="mse"), 4 * 6 + 6 + (len(registry.INITIALIZERS) - 1) * (6 * 6 + 6) + 6 * 3 + 3),
    "mixed_bias_and_no_bias": (make_spec([dense(5, "sigmoid", use_bias=False), dense(4, "leaky_relu"),
                                          dense(3, "softmax", use_bias=False)]), 4 * 5 + 5 * 4 + 4 + 4 * 3),
}

# Every registered activation in the hidden layer, the three output activations in turn.
ACTIVATION_CASES = [(hidden, output) for hidden, output
                    in zip(registry.ACTIVATIONS, itertools.cycle(["softmax", "sigmoid", "linear"]))]


# --------------------------------------------------------------------------------------------- helpers

def _dataset_and_spec(optimizer, **layer_options):
    """Iris (108 training samples: 6 batches of 16 and a last one of 12) and a 4 -> 10 -> 3 classifier."""
    spec = make_spec([dense(10, "tanh", **layer_options), dense(3, "softmax", **layer_options)], optimizer=optimizer)
    return spec, data.prepare(spec)


def _train_both(adapters, spec, dataset, epochs, torch_epoch_offset=0):
    """Trains matched models epoch by epoch. Returns ({framework: [(loss, metric)]}, {framework: [weights]},
    {framework: trainer}). Torch gets the order of epoch `epoch + torch_epoch_offset` (0: the same order)."""
    models = matched_models(adapters, spec)
    trainers = {name: adapter.make_trainer(spec, models[name], dataset.target) for name, adapter in adapters.items()}
    history = {name: [] for name in adapters}
    weights = {name: [] for name in adapters}
    for epoch in range(epochs):
        for name, adapter in adapters.items():
            offset = torch_epoch_offset if name == "torch" else 0
            order = data.epoch_order(SEED, epoch + offset, dataset.n_train)
            history[name].append(trainers[name].train_epoch(dataset.x_train[order], dataset.y_train[order],
                                                            BATCH_SIZE))
            weights[name].append(adapter.get_weights(models[name]))
    return history, weights, trainers


def _penalty(weights, spec) -> float:
    """Keras' regularization term, computed in numpy (float64) from canonical weights."""
    pairs, arrays = [], iter(weights)
    for layer in (layer for layer in spec.model.layers if layer.type == "dense"):
        pairs.append((next(arrays), layer.kernel_regularizer))
        if layer.use_bias:
            pairs.append((next(arrays), layer.bias_regularizer))
    return sum(r.l1 * np.abs(w.astype(np.float64)).sum() + r.l2 * np.square(w.astype(np.float64)).sum()
               for w, r in pairs if r is not None)


# ----------------------------------------------------------------------------------------------- tests

@pytest.mark.parametrize("case", SPECS)
def test_matched_weights_load_bit_identical(adapters, case):
    spec, _ = SPECS[case]
    expected = init.initial_weights(spec.model, SEED)
    models = matched_models(adapters, spec)
    for name, adapter in adapters.items():
        loaded = adapter.get_weights(models[name])
        assert [w.shape for w in loaded] == [w.shape for w in expected], name
        for index, (got, want) in enumerate(zip(loaded, expected)):
            assert got.dtype == np.float32, (name, index)
            assert np.array_equal(got, want), f"{name}: weight {index} is not the array loaded"


@pytest.mark.parametrize("case", SPECS)
def test_parameter_counts_agree(adapters, case):
    spec, by_hand = SPECS[case]
    counts = {name: adapter.count_params(adapter.build_model(spec.model, seed=SEED))
              for name, adapter in adapters.items()}
    assert counts == {"tensorflow": by_hand, "torch": by_hand}
    assert shapes.count_params(spec.model) == by_hand


@pytest.mark.parametrize("hidden, output", ACTIVATION_CASES)
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no_bias"])
def test_forward_outputs_agree(adapters, hidden, output, use_bias):
    spec = _flat_spec(hidden, output, use_bias=use_bias)
    x = np.random.default_rng(1).normal(0.0, 2.0, (32, 4, 5)).astype(np.float32)  # wide: negative side matters
    outputs = forward(matched_models(adapters, spec), x)
    assert outputs["tensorflow"].shape == outputs["torch"].shape == (32, 3)
    np.testing.assert_allclose(outputs["torch"], outputs["tensorflow"], rtol=0, atol=FORWARD_TOLERANCE)


def test_epoch_order_is_a_deterministic_permutation():
    n = 50
    first = data.epoch_order(SEED, 0, n)
    assert np.array_equal(first, data.epoch_order(SEED, 0, n))
    assert np.array_equal(np.sort(first), np.arange(n))
    assert not np.array_equal(first, np.arange(n))
    assert not np.array_equal(first, data.epoch_order(SEED, 1, n)), "epochs must be shuffled differently"
    assert not np.array_equal(first, data.epoch_order(SEED + 1, 0, n)), "seeds must give different orders"


@pytest.mark.parametrize("optimizer", [
    {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9},
    {"type": "sgd", "learning_rate": 0.05, "momentum": 0.8, "nesterov": True},
], ids=["momentum", "nesterov"])
def test_same_batches_give_the_same_training(adapters, optimizer):
    spec, dataset = _dataset_and_spec(optimizer)
    assert dataset.n_train % BATCH_SIZE, "the case needs a last partial batch"
    history, weights, _ = _train_both(adapters, spec, dataset, epochs=2)
    for epoch in range(2):
        np.testing.assert_allclose(history["torch"][epoch][0], history["tensorflow"][epoch][0],
                                   rtol=0, atol=TRAINING_TOLERANCE)
        assert history["torch"][epoch][1] == pytest.approx(history["tensorflow"][epoch][1], abs=1e-6)  # accuracy
        assert max_weight_difference(weights["torch"][epoch], weights["tensorflow"][epoch]) < TRAINING_TOLERANCE
    assert history["tensorflow"][1][0] < history["tensorflow"][0][0]


def test_a_different_batch_order_is_detected(adapters):
    spec, dataset = _dataset_and_spec({"type": "sgd", "learning_rate": 0.1, "momentum": 0.9})
    _, weights, _ = _train_both(adapters, spec, dataset, epochs=1, torch_epoch_offset=1)
    assert max_weight_difference(weights["torch"][0], weights["tensorflow"][0]) > ORDER_SENSITIVITY


def test_reported_losses_include_l1_and_l2_penalties(adapters):
    regularizer = {"l1": 0.01, "l2": 0.01}
    spec, dataset = _dataset_and_spec({"type": "sgd", "learning_rate": 0.1, "momentum": 0.9},
                                      kernel_regularizer=regularizer, bias_regularizer=regularizer)
    history, weights, trainers = _train_both(adapters, spec, dataset, epochs=1)
    penalty = _penalty(weights["tensorflow"][0], spec)
    assert penalty > 0.05, "the penalty must be large enough that leaving it out fails the checks below"
    np.testing.assert_allclose(history["torch"][0][0], history["tensorflow"][0][0], rtol=0, atol=TRAINING_TOLERANCE)
    evaluated = {name: trainer.evaluate(dataset.x_val, dataset.y_val)[0] for name, trainer in trainers.items()}
    np.testing.assert_allclose(evaluated["torch"], evaluated["tensorflow"], rtol=0, atol=TRAINING_TOLERANCE)
    # evaluate() = cross-entropy of the predictions + the penalty, in Keras as in the torch adapter
    probabilities = trainers["tensorflow"].predict(dataset.x_val).astype(np.float64)
    cross_entropy = -np.mean(np.log(probabilities[np.arange(len(dataset.y_val)), dataset.y_val]))
    np.testing.assert_allclose(evaluated["tensorflow"], cross_entropy + penalty, rtol=0, atol=TRAINING_TOLERANCE)


def test_native_init_uses_each_frameworks_own_initializers(adapters):
    spec = make_spec([{"type": "dense", "units": 8, "activation": "relu"},
                      {"type": "dense", "units": 3, "activation": "softmax"}], init="native")
    weights = {name: adapter.get_weights(adapter.build_model(spec.model, seed=SEED))
               for name, adapter in adapters.items()}
    assert [w.shape for w in weights["torch"]] == [w.shape for w in weights["tensorflow"]]
    assert max_weight_difference(weights["torch"], weights["tensorflow"]) > 0.05
    keras_biases, torch_biases = weights["tensorflow"][1::2], weights["torch"][1::2]
    assert all(np.all(b == 0) for b in keras_biases), "Keras: the spec's zeros bias initializer"
    assert all(np.any(b != 0) for b in torch_biases), "torch: nn.Linear's own U(-1/sqrt(fan_in), 1/sqrt(fan_in))"
