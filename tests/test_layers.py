"""Every layer type, Keras against PyTorch with the real frameworks: one spec and one set of weights give the same
outputs, parameter counts and weights read back; a short training run of each lowers the loss along the same
curve in both. The traps each case aims at are in ../shared/reference/keras-torch-equivalence.md."""

import math

import numpy as np
import pytest
from conftest import SEED, dense, make_spec
from sklearn.datasets import load_digits

from harness.core import data, init, shapes
from harness.jobs.train import fit

# Forward outputs of at most a few small layers on unit-scale inputs: the two frameworks differ only in float32
# summation order (im2col vs direct convolution, fused gates), ~1e-7 relative on values below ~10. Every mapping
# error these cases aim at (a pad on the wrong side, H and W or gate blocks swapped, the flatten order, a
# padded average, a wrong epsilon or moving statistic) moves some output by more than 1e-3.
FORWARD_TOLERANCE = 1e-5
# SGD with momentum maps exactly (keras-torch-equivalence.md 1.10) and no dropout is involved, so the per-epoch
# losses differ by float32 round-off only: measured ~1e-7 over a few hundred steps for dense, conv and recurrent
# stacks (section 3). A trainable second torch RNN bias (2e-2), an unbiased BatchNorm variance or a wrong BN
# momentum (> 1e-3 on the validation loss) are far above it.
LOSS_CURVE_TOLERANCE = 1e-4
BATCH = 6
FLAT = {"type": "flatten"}


# ------------------------------------------------------------------------------------------ layer entries
# Biases start random (he_uniform), not zeros, so a misplaced or dropped bias shows.

def conv1d(filters, kernel_size, **options):
    return {"type": "conv1d", "filters": filters, "kernel_size": kernel_size, "bias_initializer": "he_uniform",
            **options}


def conv2d(filters, kernel_size, **options):
    return {**conv1d(filters, kernel_size, **options), "type": "conv2d"}


def pool(kind, **options):
    return {"type": kind, **options}


def rnn(kind, units, **options):
    return {"type": kind, "units": units, "bias_initializer": "he_uniform", **options}


def bi(kind, units, merge_mode, **options):
    return rnn(kind, units, bidirectional=True, merge_mode=merge_mode, **options)


def batch_norm(**options):
    return {"type": "batch_normalization", **options}


def embedding(input_dim, output_dim):
    return {"type": "embedding", "input_dim": input_dim, "output_dim": output_dim}


# name -> (input shape, layers). Every case ends in a flat output, so flatten also checks the (H, W, C) order.
# Comments give TensorFlow's SAME padding (before, after) where it is asymmetric or needs the strided formula.
FORWARD_CASES = {
    "conv1d-valid": ((11, 3), [conv1d(4, 3), FLAT]),
    "conv1d-same": ((11, 3), [conv1d(4, 3, padding="same"), FLAT]),
    "conv1d-same-even-kernel": ((11, 3), [conv1d(4, 4, padding="same"), FLAT]),                 # (1, 2)
    "conv1d-valid-stride2": ((11, 3), [conv1d(4, 4, strides=2), FLAT]),
    "conv1d-same-stride2-even-input": ((12, 3), [conv1d(4, 3, strides=2, padding="same"), FLAT]),  # (0, 1)
    "conv1d-same-stride2-kernel4": ((11, 3), [conv1d(4, 4, strides=2, padding="same"), FLAT]),     # (1, 2)
    "conv1d-dilation2": ((11, 3), [conv1d(4, 3, dilation_rate=2), FLAT]),
    "conv1d-dilation3-same": ((11, 3), [conv1d(4, 2, dilation_rate=3, padding="same"), FLAT]),     # (1, 2)
    "conv1d-no-bias-relu": ((11, 3), [conv1d(4, 3, use_bias=False, activation="relu"), FLAT]),
    "conv2d-valid": ((5, 7, 2), [conv2d(3, 3), FLAT]),
    # softmax over the channels (Keras' last axis) in a channels-first block too
    "conv2d-softmax-log_softmax": ((5, 6, 2), [conv2d(3, 2, activation="softmax"),
                                               {"type": "activation", "activation": "log_softmax"}, FLAT]),
    "conv2d-valid-stride2": ((7, 8, 2), [conv2d(3, 3, strides=2), FLAT]),
    "conv2d-same-7x7-k3-s2": ((7, 7, 2), [conv2d(3, 3, strides=2, padding="same"), FLAT]),         # (1, 1)
    "conv2d-same-8x8-k3-s2": ((8, 8, 2), [conv2d(3, 3, strides=2, padding="same"), FLAT]),         # (0, 1)
    "conv2d-same-7x7-k4-s2": ((7, 7, 2), [conv2d(3, 4, strides=2, padding="same"), FLAT]),         # (1, 2)
    "conv2d-same-8x8-k4-s2": ((8, 8, 2), [conv2d(3, 4, strides=2, padding="same"), FLAT]),         # (1, 1)
    "conv2d-same-8x8-k4-s1": ((8, 8, 2), [conv2d(3, 4, padding="same"), FLAT]),                    # (1, 2)
    "conv2d-same-8x8-k5-s3": ((8, 8, 2), [conv2d(3, 5, strides=3, padding="same"), FLAT]),         # (1, 2)
    "conv2d-kernel-3x2-same-strides-2x1": ((7, 8, 2), [conv2d(3, [3, 2], strides=[2, 1], padding="same"), FLAT]),
    "conv2d-kernel-3x2-valid": ((5, 6, 2), [conv2d(3, [3, 2], activation="tanh"), FLAT]),
    "conv2d-dilation2-same": ((7, 8, 2), [conv2d(3, 3, dilation_rate=2, padding="same"), FLAT]),
    "conv2d-flatten-dense": ((6, 5, 2), [conv2d(3, 3, activation="relu"), FLAT, dense(4)]),  # the flatten trap
    "conv2d-stack-no-bias": ((8, 7, 1), [conv2d(4, 3, use_bias=False, activation="elu"),
                                         conv2d(2, [2, 3], strides=2, padding="same"), FLAT, dense(3, "softmax")]),
    "max_pool1d-valid": ((11, 3), [pool("max_pool1d"), FLAT]),
    "max_pool1d-same-3-2": ((11, 3), [pool("max_pool1d", pool_size=3, strides=2, padding="same"), FLAT]),
    "average_pool1d-valid-3-1": ((11, 3), [pool("average_pool1d", pool_size=3, strides=1), FLAT]),
    "average_pool1d-same-2": ((11, 3), [pool("average_pool1d", padding="same"), FLAT]),  # last window 1 of 2
    "average_pool1d-same-3-2": ((12, 3), [pool("average_pool1d", pool_size=3, strides=2, padding="same"), FLAT]),
    "max_pool2d-valid": ((7, 8, 2), [pool("max_pool2d"), FLAT]),
    "max_pool2d-same-3-2": ((7, 8, 2), [pool("max_pool2d", pool_size=3, strides=2, padding="same"), FLAT]),
    "max_pool2d-same-2-on-7x7": ((7, 7, 2), [pool("max_pool2d", padding="same"), FLAT]),
    "average_pool2d-valid-3x2-1x2": ((7, 8, 2), [pool("average_pool2d", pool_size=[3, 2], strides=[1, 2]), FLAT]),
    "average_pool2d-same-3-2": ((7, 8, 2), [pool("average_pool2d", pool_size=3, strides=2, padding="same"), FLAT]),
    "average_pool2d-same-2x3-1": ((5, 6, 2), [pool("average_pool2d", pool_size=[2, 3], strides=1, padding="same"),
                                              FLAT]),
    "conv2d-max_pool2d-dense": ((8, 8, 1), [conv2d(4, 3, activation="relu"), pool("max_pool2d"), FLAT, dense(3)]),
    "global_average_pool1d": ((11, 3), [pool("global_average_pool1d")]),
    "global_max_pool1d": ((11, 3), [pool("global_max_pool1d")]),
    "global_average_pool2d": ((7, 8, 2), [pool("global_average_pool2d")]),
    "global_max_pool2d": ((7, 8, 2), [pool("global_max_pool2d")]),
    "conv1d-global_max_pool1d-dense": ((11, 3), [conv1d(5, 3), pool("global_max_pool1d"), dense(2)]),
    "reshape-to-sequence-conv1d": ((24,), [{"type": "reshape", "target_shape": [6, 4]}, conv1d(2, 3), FLAT]),
    "reshape-unknown-lstm": ((24,), [{"type": "reshape", "target_shape": [-1, 3]}, rnn("lstm", 3)]),
    "reshape-after-conv2d": ((6, 6, 1), [conv2d(3, 3), {"type": "reshape", "target_shape": [16, 3]}, conv1d(2, 3),
                                         FLAT]),
    "reshape-after-dense": ((5,), [dense(12), {"type": "reshape", "target_shape": [4, -1]},
                                   pool("global_average_pool1d")]),
    "reshape-to-image": ((36,), [{"type": "reshape", "target_shape": [4, 3, 3]}, conv2d(2, 2), FLAT]),
    "batch_normalization-after-dense": ((5,), [dense(6), batch_norm(momentum=0.9, epsilon=0.01)]),
    "batch_normalization-after-conv2d": ((5, 6, 2), [conv2d(3, 3), batch_norm(momentum=0.8, epsilon=1e-4), FLAT]),
    "batch_normalization-no-center": ((5, 6, 2), [conv2d(3, 3), batch_norm(center=False), FLAT]),
    "batch_normalization-no-scale": ((11, 3), [batch_norm(scale=False, epsilon=0.1), FLAT]),
    "batch_normalization-neither": ((5,), [dense(4), batch_norm(center=False, scale=False)]),
    "simple_rnn-tanh": ((5, 3), [rnn("simple_rnn", 4)]),
    "simple_rnn-relu-sequences": ((5, 3), [rnn("simple_rnn", 4, activation="relu", return_sequences=True), FLAT]),
    "simple_rnn-stacked": ((5, 3), [rnn("simple_rnn", 4, return_sequences=True), rnn("simple_rnn", 3)]),
    "simple_rnn-no-bias": ((5, 3), [rnn("simple_rnn", 4, use_bias=False)]),
    "lstm": ((5, 3), [rnn("lstm", 4)]),
    "lstm-sequences": ((5, 3), [rnn("lstm", 4, return_sequences=True), FLAT]),
    "lstm-no-bias": ((5, 3), [rnn("lstm", 4, use_bias=False)]),
    "lstm-no-forget-bias": ((5, 3), [rnn("lstm", 4, unit_forget_bias=False)]),
    "gru": ((5, 3), [rnn("gru", 4)]),
    "gru-sequences": ((5, 3), [rnn("gru", 4, return_sequences=True), FLAT]),
    "gru-no-bias": ((5, 3), [rnn("gru", 4, use_bias=False)]),
    "conv1d-gru-dense": ((9, 2), [conv1d(3, 2, strides=2, padding="same"), rnn("gru", 4), dense(2, "softmax")]),
    # bidirectional: every kind and merge, the last state (forward's last step, backward's first) and sequences
    "simple_rnn-bi-concat": ((5, 3), [bi("simple_rnn", 4, "concat")]),
    "simple_rnn-bi-mul-sequences-relu": ((5, 3), [bi("simple_rnn", 4, "mul", return_sequences=True,
                                                     activation="relu"), FLAT]),
    "lstm-bi-ave": ((5, 3), [bi("lstm", 4, "ave")]),
    "lstm-bi-sum-sequences": ((5, 3), [bi("lstm", 4, "sum", return_sequences=True), FLAT]),
    "lstm-bi-concat-sequences-no-bias": ((5, 3), [bi("lstm", 3, "concat", return_sequences=True, use_bias=False),
                                                  FLAT]),
    "gru-bi-concat-sequences": ((5, 3), [bi("gru", 4, "concat", return_sequences=True), FLAT]),
    "gru-bi-sum": ((5, 3), [bi("gru", 4, "sum")]),
    "gru-bi-mul-sequences": ((5, 3), [bi("gru", 4, "mul", return_sequences=True), FLAT]),
    "gru-bi-stacked-dense": ((6, 2), [bi("gru", 3, "ave", return_sequences=True), bi("lstm", 2, "concat"),
                                      dense(2, "softmax")]),
    "embedding-global_average_pool1d": ((7,), [embedding(11, 4), pool("global_average_pool1d")]),
    # PyTorch's explicit convolution padding, as harness import writes it: zero padding, then a 'valid' conv
    "zero_padding1d-conv1d-stride2": ((11, 3), [{"type": "zero_padding1d", "padding": 1}, conv1d(4, 5, strides=2),
                                                FLAT]),
    "zero_padding1d-asymmetric": ((11, 3), [{"type": "zero_padding1d", "padding": [0, 2]}, FLAT]),
    "zero_padding2d-conv2d": ((7, 8, 2), [{"type": "zero_padding2d", "padding": [1, 2]}, conv2d(3, 3, strides=2),
                                          FLAT]),
    "leaky_relu-0.01-conv1d": ((11, 3), [conv1d(4, 3), {"type": "leaky_relu", "negative_slope": 0.01}, FLAT]),
    "rescaling-conv2d": ((5, 6, 2), [{"type": "rescaling", "scale": 1 / 255, "offset": -0.5}, conv2d(3, 3), FLAT]),
    "zero_padding2d-pairs": ((5, 6, 2), [{"type": "zero_padding2d", "padding": [[0, 1], [2, 0]]}, FLAT,
                                         dense(3, "log_softmax")]),
    "embedding-lstm": ((7,), [embedding(11, 4), rnn("lstm", 3)]),
    "embedding-flatten-dense": ((7,), [embedding(11, 4), FLAT, dense(3)]),
}

RECURRENT = ("simple_rnn", "lstm", "gru")


# ---------------------------------------------------------------------------------------------- helpers

def _spec(case):
    input_shape, layers = FORWARD_CASES[case]
    return make_spec(layers, input_shape=input_shape, loss="mse", data={"standardize": False})  # data unused


def _weight_count(layer) -> int:
    """How many canonical arrays a layer holds (Keras get_weights order)."""
    if layer.type in ("dense", "conv1d", "conv2d"):
        return 1 + layer.use_bias
    if layer.type in RECURRENT:
        return (2 + layer.use_bias) * (1 + layer.bidirectional)
    if layer.type == "batch_normalization":
        return layer.scale + layer.center + 2  # [gamma] [beta] moving_mean moving_variance
    return int(layer.type == "embedding")


def _weights(spec) -> list[np.ndarray]:
    """The numpy initial weights, with every batch normalization tensor made non-trivial (gamma, beta and the
    moving mean random, the moving variance in [0.25, 2]) so that a swapped or ignored tensor shows."""
    weights, rng, position = init.initial_weights(spec.model, SEED), np.random.default_rng(3), 0
    for layer in spec.model.layers:
        count = _weight_count(layer)
        if layer.type == "batch_normalization":
            for index in range(position, position + count - 1):
                weights[index] = rng.normal(0.0, 1.0, weights[index].shape).astype(np.float32)
            last = position + count - 1
            weights[last] = rng.uniform(0.25, 2.0, weights[last].shape).astype(np.float32)
        position += count
    assert position == len(weights)
    return weights


def _input_batch(spec, rng) -> np.ndarray:
    """A random batch as the data pipeline delivers it: float32; token ids as integral float32 values."""
    shape = (BATCH, *spec.model.input_shape)
    first = spec.model.layers[0]
    if first.type == "embedding":
        return rng.integers(0, first.input_dim, shape).astype(np.float32)
    return rng.normal(0.0, 1.0, shape).astype(np.float32)


def _loaded(adapter, spec, weights):
    model = adapter.build_model(spec.model, seed=SEED)
    adapter.set_weights(model, weights)
    return model


def _forward(adapters, spec, weights, x) -> dict:
    """{framework: output for x} in inference mode (torch .eval(), Keras training=False)."""
    import torch

    models = {name: _loaded(adapter, spec, weights) for name, adapter in adapters.items()}
    with torch.no_grad():
        torch_out = models["torch"].eval()(torch.from_numpy(x)).numpy()
    return {"tensorflow": np.asarray(models["tensorflow"](x, training=False)), "torch": torch_out}


# ---------------------------------------------------------------------------------------- forward tests

@pytest.mark.parametrize("case", FORWARD_CASES)
def test_forward_outputs_agree(adapters, case):
    spec = _spec(case)
    x = _input_batch(spec, np.random.default_rng(1))
    outputs = _forward(adapters, spec, _weights(spec), x)
    expected_shape = (BATCH, *shapes.output_shape(spec.model))
    assert outputs["tensorflow"].shape == outputs["torch"].shape == expected_shape
    assert np.ptp(outputs["tensorflow"]) > 1e-2, "a constant output would hide mapping errors"
    np.testing.assert_allclose(outputs["torch"], outputs["tensorflow"], rtol=0, atol=FORWARD_TOLERANCE)


@pytest.mark.parametrize("case", FORWARD_CASES)
def test_parameter_counts_agree(adapters, case):
    """Trainable parameters: Keras == torch == the spec's count (torch's second RNN bias must not count)."""
    spec = _spec(case)
    counts = {name: adapter.count_params(adapter.build_model(spec.model, seed=SEED))
              for name, adapter in adapters.items()}
    expected = shapes.count_params(spec.model)
    assert counts == {"tensorflow": expected, "torch": expected}


@pytest.mark.parametrize("case", FORWARD_CASES)
def test_weights_round_trip_bit_exact(adapters, case):
    spec = _spec(case)
    weights = _weights(spec)
    for name, adapter in adapters.items():
        read = adapter.get_weights(_loaded(adapter, spec, weights))
        assert [w.shape for w in read] == [w.shape for w in weights], name
        for index, (got, want) in enumerate(zip(read, weights)):
            assert got.dtype == np.float32, (name, index)
            assert np.array_equal(got, want), f"{name}: weight {index} does not read back as loaded"


def test_every_layer_type_has_a_forward_case():
    from harness.core import registry

    covered = {layer["type"] for _, layers in FORWARD_CASES.values() for layer in layers}
    assert set(registry.LAYERS) - covered <= {"dropout", "activation"}  # dense-only layers: test_frameworks.py


# ------------------------------------------------------------------------------------------ tiny datasets

def _sequences(rng, n=240, steps=8, features=3):
    """3 classes: which feature has the largest mean over time, under unit noise."""
    x = rng.normal(0.0, 1.0, (n, steps, features))
    return x, x.mean(axis=1).argmax(axis=1)


def _tokens(rng, n=240, steps=10, vocabulary=12):
    """2 classes: whether more than a third of the ids are below 4."""
    x = rng.integers(0, vocabulary, (n, steps))
    return x, ((x < 4).sum(axis=1) > steps // 3).astype(np.int64)


def _digits(rng, n=360):
    x, y = load_digits(return_X_y=True)
    keep = rng.permutation(len(x))[:n]
    return x[keep], y[keep]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """{name: npz path}: small files, so every training case runs a few dozen steps per epoch."""
    folder, rng = tmp_path_factory.mktemp("layer_data"), np.random.default_rng(11)
    paths = {}
    for name, make in (("sequences", _sequences), ("tokens", _tokens), ("digits", _digits)):
        x, y = make(rng)
        paths[name] = folder / f"{name}.npz"
        np.savez(paths[name], x=x, y=y)
    return paths


# ---------------------------------------------------------------------------------------- training runs

SEQUENCE, IMAGE = (8, 3), (8, 8, 1)

# name -> (dataset, input shape, layers); every new layer type trains at least once
TRAINING_CASES = {
    "conv1d": ("sequences", SEQUENCE, [conv1d(6, 3, strides=2, padding="same", activation="relu"), FLAT,
                                       dense(3, "softmax")]),
    "conv2d": ("digits", IMAGE, [conv2d(4, 3, strides=2, padding="same", activation="relu"), FLAT,
                                 dense(10, "softmax")]),
    "max_pool1d": ("sequences", SEQUENCE, [conv1d(6, 3, activation="tanh"),
                                           pool("max_pool1d", pool_size=3, strides=2, padding="same"), FLAT,
                                           dense(3, "softmax")]),
    "average_pool1d": ("sequences", SEQUENCE, [conv1d(6, 3, padding="same", activation="tanh"),
                                               pool("average_pool1d", pool_size=3, strides=2, padding="same"),
                                               FLAT, dense(3, "softmax")]),
    "max_pool2d": ("digits", IMAGE, [conv2d(4, 3, padding="same", activation="relu"),
                                     pool("max_pool2d", pool_size=3, strides=2, padding="same"), FLAT,
                                     dense(10, "softmax")]),
    "average_pool2d": ("digits", IMAGE, [conv2d(4, 3, padding="same", activation="relu"),
                                         pool("average_pool2d", pool_size=3, strides=2, padding="same"), FLAT,
                                         dense(10, "softmax")]),
    "global_average_pool1d": ("sequences", SEQUENCE, [conv1d(6, 3, activation="relu"), pool("global_average_pool1d"),
                                                dense(3, "softmax")]),
    "global_max_pool1d": ("sequences", SEQUENCE, [conv1d(6, 3, activation="relu"), pool("global_max_pool1d"),
                                                  dense(3, "softmax")]),
    "global_average_pool2d": ("digits", IMAGE, [conv2d(8, 3, strides=2, activation="relu"),
                                                conv2d(16, 2, activation="relu"), pool("global_average_pool2d"),
                                                dense(10, "softmax")]),
    "global_max_pool2d": ("digits", IMAGE, [conv2d(8, 3, activation="relu"), pool("global_max_pool2d"),
                                            dense(10, "softmax")]),
    "reshape": ("digits", (64,), [{"type": "reshape", "target_shape": [8, 8, 1]},
                                  conv2d(4, 3, strides=2, activation="relu"), FLAT, dense(10, "softmax")]),
    "batch_normalization-dense": ("digits", (64,), [dense(16), batch_norm(momentum=0.9),
                                                    {"type": "activation", "activation": "relu"},
                                                    dense(10, "softmax")]),
    "batch_normalization-conv2d": ("digits", IMAGE, [conv2d(4, 3, activation="relu"),
                                                     batch_norm(momentum=0.8, epsilon=1e-4), FLAT,
                                                     dense(10, "softmax")]),
    "simple_rnn": ("sequences", SEQUENCE, [rnn("simple_rnn", 8), dense(3, "softmax")]),
    "simple_rnn-relu-stacked": ("sequences", SEQUENCE, [rnn("simple_rnn", 8, activation="relu",
                                                            return_sequences=True), rnn("simple_rnn", 6),
                                                        dense(3, "softmax")]),
    "lstm": ("sequences", SEQUENCE, [rnn("lstm", 8), dense(3, "softmax")]),
    "gru": ("sequences", SEQUENCE, [rnn("gru", 8, return_sequences=True), FLAT, dense(3, "softmax")]),
    "lstm-bidirectional-ave": ("sequences", SEQUENCE, [bi("lstm", 6, "ave"), dense(3, "softmax")]),
    "embedding": ("tokens", (10,), [embedding(12, 4), pool("global_average_pool1d"), dense(2, "softmax")]),
    "embedding-lstm": ("tokens", (10,), [embedding(12, 4), rnn("lstm", 6), dense(2, "softmax")]),
    "conv2d-dropout": ("digits", IMAGE, [conv2d(4, 3, strides=2, activation="relu"), {"type": "dropout",
                                                                                      "rate": 0.3},
                                         FLAT, dense(10, "softmax")]),
}
EPOCHS = 4
OPTIMIZER = {"type": "sgd", "learning_rate": 0.05, "momentum": 0.9}


def _training_spec(datasets, case, epochs=EPOCHS):
    name, input_shape, layers = TRAINING_CASES[case]
    return make_spec(layers, input_shape=input_shape, optimizer=OPTIMIZER, dataset="npz",
                     data={"path": str(datasets[name]), "standardize": name != "tokens"},  # ids stay ids
                     training={"epochs": epochs, "batch_size": 16})


def _curve(result, key) -> list[float]:
    return [row[key] for row in result["epochs"]]


@pytest.mark.parametrize("case", TRAINING_CASES)
def test_training_lowers_the_loss_along_the_same_curve(adapters, datasets, case):
    spec = _training_spec(datasets, case)
    dataset, weights = data.prepare(spec), init.initial_weights(spec.model, SEED)
    results = {name: fit(adapter, spec, dataset, SEED, weights=weights) for name, adapter in adapters.items()}
    for name, result in results.items():
        losses = _curve(result, "loss")
        assert result["status"] == "ok" and len(losses) == EPOCHS and all(map(math.isfinite, losses)), (name, losses)
        assert losses[-1] < 0.95 * losses[0], f"{name}: the training loss did not fall: {losses}"
    if any(layer.type == "dropout" for layer in spec.model.layers):
        return  # independent dropout masks: only training is required
    for key in ("loss", "val_loss"):  # val_loss: inference mode, after BatchNorm's moving statistics moved
        np.testing.assert_allclose(_curve(results["torch"], key), _curve(results["tensorflow"], key), rtol=0,
                                   atol=LOSS_CURVE_TOLERANCE, err_msg=key)
    assert results["torch"]["test"]["test_loss"] == pytest.approx(results["tensorflow"]["test"]["test_loss"],
                                                                  abs=LOSS_CURVE_TOLERANCE)


@pytest.mark.parametrize("case", ["simple_rnn", "lstm", "gru", "batch_normalization-conv2d"])
def test_weights_after_an_epoch_agree(adapters, datasets, case):
    """One epoch via each trainer, then every canonical weight compared: the torch RNN's second bias must not
    learn (it would double the bias step) and BatchNorm's moving statistics must move as in Keras."""
    spec = _training_spec(datasets, case, epochs=1)
    dataset, weights = data.prepare(spec), init.initial_weights(spec.model, SEED)
    order = data.epoch_order(SEED, 0, dataset.n_train)
    trained = {}
    for name, adapter in adapters.items():
        model = _loaded(adapter, spec, weights)
        adapter.make_trainer(spec, model, dataset.target).train_epoch(dataset.x_train[order], dataset.y_train[order],
                                                                      16)
        trained[name] = adapter.get_weights(model)
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(trained["tensorflow"], weights))
    assert moved > 1e-2, "the epoch must move the weights"
    for index, (got, want) in enumerate(zip(trained["torch"], trained["tensorflow"])):
        np.testing.assert_allclose(got, want, rtol=0, atol=LOSS_CURVE_TOLERANCE, err_msg=f"weight {index}")
