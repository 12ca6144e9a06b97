"""The numpy reference (harness.core.reference): gradients against finite differences, optimizer updates against the
real Keras optimizers (float64, in a subprocess), one training step against a Keras model (float32, in process)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import dense, make_spec

from harness.core import init, registry
from harness.core.reference import Reference, supports
from harness.core.spec import Spec

REGULARIZER = {"l1": 0.01, "l2": 0.02}
KINK_MARGIN = 1e-3  # |pre-activation|, |weight|, |error| at least this far from a kink: >> the FD step 1e-6


# ------------------------------------------------------------------------------ gradients by finite differences

OUTPUT_LAYER = {"mse": dense(2), "mae": dense(2), "binary_crossentropy": dense(1, "sigmoid"),
                "categorical_crossentropy": dense(3, "softmax")}


def _draw_case(spec, loss, seed):
    """Weights with |w| >= 0.1 (no L1 kink nearby), inputs, labels and a fixed dropout mask, float64."""
    rng = np.random.default_rng(seed)
    weights = [rng.choice([-1.0, 1.0], w.shape) * rng.uniform(0.1, 1.0, w.shape)
               for w in init.initial_weights(spec.model, 0)]
    x = rng.normal(size=(6, 2, 3))
    masks = [np.array([[1, 0, 1, 1, 0]] * 3 + [[0, 1, 1, 1, 1]] * 3, dtype=np.float64)]
    targets = {"mse": rng.normal(size=(6, 2)), "mae": rng.normal(size=(6, 2)),
               "binary_crossentropy": np.array([0, 1, 1, 0, 1, 0]),
               "categorical_crossentropy": np.array([0, 1, 2, 2, 1, 0])}
    return weights, x, targets[loss], masks


def _away_from_kinks(spec, weights, x, y, masks) -> bool:
    """Whether every relu-like pre-activation and every MAE error is KINK_MARGIN from 0: a finite difference
    across a kink would be meaningless, not a reference bug."""
    records = Reference(spec, weights, np.float64)._run(x, masks, training=True)
    for layer, (_, z, _out, _) in zip(spec.model.layers, records):
        if getattr(layer, "activation", None) in ("relu", "leaky_relu", "elu") and np.abs(z).min() <= KINK_MARGIN:
            return False
    return spec.loss != "mae" or np.abs(records[-1][2] - y).min() > KINK_MARGIN


def _gradient_case(activation, loss):
    """A small net with every reference layer type, drawn with the first seed that keeps away from kinks."""
    layers = [{"type": "flatten"},
              dense(5, activation, kernel_regularizer=REGULARIZER, bias_regularizer=REGULARIZER),
              {"type": "dropout", "rate": 0.25},
              dense(4, kernel_regularizer=REGULARIZER),
              {"type": "activation", "activation": activation},
              OUTPUT_LAYER[loss]]
    spec = make_spec(layers, input_shape=(2, 3), loss=loss)
    for seed in range(20):
        case = _draw_case(spec, loss, seed)
        if _away_from_kinks(spec, *case):
            return (spec, *case)
    raise AssertionError("no seed in 0..19 keeps the case away from kinks")


def _numeric_gradients(reference, x, y, masks, step=1e-6):
    """Central differences of the loss, weight by weight, float64."""
    weights, grads = reference.weights, []
    for index, w in enumerate(weights):
        grad = np.zeros_like(w)
        for position in np.ndindex(w.shape):
            losses = []
            for sign in (1, -1):
                moved = [v.copy() for v in weights]
                moved[index][position] += sign * step
                losses.append(Reference(reference.spec, moved, np.float64).loss_and_gradients(x, y, masks)[0])
            grad[position] = (losses[0] - losses[1]) / (2 * step)
        grads.append(grad)
    return grads


@pytest.mark.parametrize("loss", list(registry.LOSSES))
@pytest.mark.parametrize("activation", list(registry.ACTIVATIONS))
def test_gradients_match_finite_differences(activation, loss):
    spec, weights, x, y, masks = _gradient_case(activation, loss)
    reference = Reference(spec, weights, np.float64)
    analytic = reference.loss_and_gradients(x, y, masks)[1]
    # rtol 1e-6: the central difference's truncation error is ~step^2 = 1e-12 relative; atol 1e-8 covers its
    # round-off, ~1e-16 * |loss| / step = 1e-10, on gradients that are near zero.
    for a, n in zip(analytic, _numeric_gradients(reference, x, y, masks)):
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("activation", list(registry.ACTIVATIONS))
def test_float32_stays_float32(activation):
    spec, weights, x, y, masks = _gradient_case(activation, "categorical_crossentropy")
    reference = Reference(spec, weights, np.float32)
    outputs = reference.forward(x, masks, training=True)
    loss, grads = reference.loss_and_gradients(x, y, masks)
    reference.step(x, y, masks)
    assert {a.dtype for a in outputs + grads + reference.weights} == {np.dtype(np.float32)}


def test_integer_and_one_hot_labels_agree():
    spec, weights, x, y, masks = _gradient_case("tanh", "categorical_crossentropy")
    reference = Reference(spec, weights, np.float64)
    loss, grads = reference.loss_and_gradients(x, y, masks)
    loss_one_hot, grads_one_hot = reference.loss_and_gradients(x, np.eye(3)[y], masks)
    assert loss == loss_one_hot
    for a, b in zip(grads, grads_one_hot):
        np.testing.assert_array_equal(a, b)


def test_kinks_take_the_zero_subgradient():
    """relu'(0) = 0 and d|w|/dw at w = 0 is sign(0) = 0, as TensorFlow's ReluGrad and Abs gradient give."""
    spec = make_spec([dense(2, "relu", kernel_regularizer={"l1": 0.5}), dense(1)], input_shape=(3,), loss="mse")
    reference = Reference(spec, [np.zeros((3, 2)), np.zeros(2), np.ones((2, 1)), np.ones(1)], np.float64)
    grads = reference.loss_and_gradients(np.ones((4, 3)), np.zeros(4))[1]
    assert not grads[0].any() and not grads[1].any() and grads[3].all()


def test_cross_entropy_uses_logits_without_clipping():
    """Keras computes CE from the logits of a softmax output: a saturated wrong answer costs 60, not -log(1e-7)."""
    spec = make_spec([dense(2, "softmax")], input_shape=(1,))
    reference = Reference(spec, [np.array([[30.0, -30.0]]), np.zeros(2)], np.float64)
    loss, _ = reference.loss_and_gradients(np.ones((1, 1)), np.array([1]))
    assert loss == pytest.approx(60.0, rel=1e-12)


def test_dropout_is_identity_in_inference_and_masked_in_training():
    spec = make_spec([{"type": "dropout", "rate": 0.5}, dense(2)], input_shape=(3,), loss="mse")
    reference = Reference(spec, [np.ones((3, 2)), np.zeros(2)], np.float64)
    x, mask = np.ones((1, 3)), np.array([[1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(reference.forward(x)[0], x)
    np.testing.assert_array_equal(reference.forward(x, [mask], training=True)[0], [[2.0, 0.0, 2.0]])
    with pytest.raises(ValueError, match="one mask per dropout layer"):
        reference.forward(x, training=True)


@pytest.mark.parametrize("layers, loss, reason", [
    ([{"type": "conv1d", "filters": 2, "kernel_size": 2}, {"type": "flatten"}, dense(2)], "mse", "conv1d"),
    ([dense(3), {"type": "batch_normalization"}], "mse", "batch_normalization"),
    ([dense(3, "relu")], "categorical_crossentropy", "softmax"),  # validate.parse_spec refuses it too
    ([dense(1, "softmax")], "binary_crossentropy", "sigmoid"),
])
def test_supports_rejects_with_a_reason(layers, loss, reason):
    spec = Spec.model_validate({"name": "test", "data": {"dataset": "iris"}, "loss": loss, "optimizer": "sgd",
                                "model": {"input_shape": [4, 2], "layers": layers}})
    ok, message = supports(spec)
    assert not ok and reason in message
    with pytest.raises(ValueError, match=reason):
        Reference(spec, [])


def test_supports_every_optimizer_loss_and_activation():
    for activation in registry.ACTIVATIONS:
        for loss, output in OUTPUT_LAYER.items():
            for optimizer in registry.OPTIMIZERS:
                spec = make_spec([dense(3, activation), output], loss=loss, optimizer=optimizer)
                assert supports(spec) == (True, "")


# ------------------------------------------------------------------------------ optimizers against Keras

# Non-default, non-dyadic hyper-parameters: where Keras rounds a python float through float32 (ops.cast), an
# implementation that does not would be off by ~1e-9, far outside the 1e-12 tolerance.
OPTIMIZER_CASES = {
    "sgd_momentum": {"type": "sgd", "learning_rate": 0.05, "momentum": 0.9},
    "sgd_nesterov": {"type": "sgd", "learning_rate": 0.05, "momentum": 0.85, "nesterov": True},
    "adam": {"type": "adam", "learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6},
    "adam_amsgrad": {"type": "adam", "learning_rate": 0.01, "beta_1": 0.85, "beta_2": 0.95, "epsilon": 1e-6,
                     "amsgrad": True},
    "adamw": {"type": "adamw", "learning_rate": 0.01, "beta_1": 0.85, "beta_2": 0.99, "epsilon": 1e-6,
              "weight_decay": 0.1},
    "rmsprop": {"type": "rmsprop", "learning_rate": 0.01, "rho": 0.8, "epsilon": 1e-6},
    "rmsprop_momentum_centered": {"type": "rmsprop", "learning_rate": 0.01, "rho": 0.85, "momentum": 0.7,
                                  "epsilon": 1e-6, "centered": True},
    "adagrad": {"type": "adagrad", "learning_rate": 0.1, "initial_accumulator_value": 0.3, "epsilon": 1e-6},
}
STEPS = 5
GRADIENT_SCALES = (1.0, 0.3, 2.0, 0.05, 0.5)  # shrinking gradients make AMSGrad's maximum matter

KERAS_FLOAT64 = """
import json, sys
import numpy as np
import keras
keras.config.set_floatx("float64")
cases, arrays = json.loads(sys.argv[1]), np.load(sys.argv[2])
weights = [arrays[f"w{i}"] for i in range(int(arrays["n"]))]
classes = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
           "rmsprop": keras.optimizers.RMSprop, "adagrad": keras.optimizers.Adagrad}
results = {}
for name, case in cases.items():
    variables = [keras.Variable(w, dtype="float64") for w in weights]
    optimizer = classes[case["type"]](**{k: v for k, v in case.items() if k != "type"})
    for step in range(int(arrays["steps"])):
        grads = [arrays[f"g{step}_{i}"] for i in range(len(weights))]
        optimizer.apply_gradients(zip(grads, variables))
    assert all(v.dtype == "float64" for v in variables + optimizer.variables[2:])
    results[name] = [np.asarray(v).tolist() for v in variables]
print(json.dumps(results))
"""


def _optimizer_problem():
    """A two-layer net's starting weights and STEPS lists of gradients, float64."""
    spec = make_spec([dense(4), dense(2)], input_shape=(3,), loss="mse")
    rng = np.random.default_rng(7)
    weights = [rng.normal(size=w.shape) for w in init.initial_weights(spec.model, 0)]
    grads = [[scale * rng.normal(size=w.shape) for w in weights] for scale in GRADIENT_SCALES]
    return weights, grads


@pytest.fixture(scope="module")
def keras_float64_weights(tmp_path_factory):
    """{case: the weights after STEPS Keras updates}, computed with floatx float64 in a separate process."""
    weights, grads = _optimizer_problem()
    arrays = {f"w{i}": w for i, w in enumerate(weights)}
    arrays.update({f"g{s}_{i}": g for s, step in enumerate(grads) for i, g in enumerate(step)})
    path = tmp_path_factory.mktemp("keras64") / "problem.npz"
    np.savez(path, n=len(weights), steps=STEPS, **arrays)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, "-c", KERAS_FLOAT64, json.dumps(OPTIMIZER_CASES), str(path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return {name: [np.array(w) for w in ws] for name, ws in json.loads(done.stdout.splitlines()[-1]).items()}


@pytest.mark.parametrize("case", list(OPTIMIZER_CASES))
def test_optimizer_steps_match_keras_float64(case, keras_float64_weights):
    weights, grads = _optimizer_problem()
    spec = make_spec([dense(4), dense(2)], input_shape=(3,), loss="mse", optimizer=OPTIMIZER_CASES[case])
    reference = Reference(spec, weights, np.float64)
    for step in grads:
        reference.apply_gradients(step)
    assert reference.iterations == STEPS
    difference = max(np.abs(a - b).max() for a, b in zip(reference.weights, keras_float64_weights[case]))
    moved = max(np.abs(a - b).max() for a, b in zip(reference.weights, weights))
    assert moved > 1e-3  # the steps did something
    assert difference < 1e-12, f"{case}: max |reference - keras| = {difference:.3g}"


# ------------------------------------------------------------------------------ a training step against Keras

def test_training_step_matches_keras_float32(tf_adapter):
    """Dense-relu-Dense-softmax with L2, one batch: loss, gradients (with model.losses) and the updated weights.

    Tolerance 1e-5 absolute on O(1) values: float32 round-off is ~1e-7 relative per operation, and TensorFlow's
    matmul and fused softmax-cross-entropy sum in other orders, so a few ulps over 16-term sums leave 10x margin.
    """
    import keras
    import tensorflow as tf

    l2 = {"l2": 0.01}
    optimizer = {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9}
    spec = make_spec([dense(16, "relu", kernel_regularizer=l2, bias_regularizer=l2),
                      dense(3, "softmax", kernel_regularizer=l2)], optimizer=optimizer)
    weights = init.initial_weights(spec.model, 3)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(32, 4)).astype(np.float32), rng.integers(0, 3, 32)

    regularizer = keras.regularizers.L1L2(l2=0.01)
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(16, "relu", kernel_regularizer=regularizer, bias_regularizer=regularizer),
        keras.layers.Dense(3, "softmax", kernel_regularizer=regularizer)])
    model.set_weights(weights)
    with tf.GradientTape() as tape:
        keras_loss = keras.losses.CategoricalCrossentropy()(np.eye(3, dtype=np.float32)[y], model(x, training=True))
        keras_loss = keras_loss + tf.add_n(model.losses)
    keras_grads = tape.gradient(keras_loss, model.trainable_variables)
    keras.optimizers.SGD(learning_rate=0.1, momentum=0.9).apply_gradients(zip(keras_grads, model.trainable_variables))

    reference = Reference(spec, weights, np.float32)
    loss, grads = reference.loss_and_gradients(x, y)
    reference.apply_gradients(grads)
    differences = {"loss": abs(loss - float(keras_loss))}
    pairs = [("gradients", grads, keras_grads), ("weights", reference.weights, model.get_weights())]
    for what, ours, theirs in pairs:
        differences[what] = max(np.abs(a - np.asarray(b)).max() for a, b in zip(ours, theirs))
    assert max(differences.values()) < 1e-5, differences
