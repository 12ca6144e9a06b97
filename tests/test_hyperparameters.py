"""Every hyperparameter reaches both frameworks explicitly: a framework default that leaks in fails here.

Values are read back from the objects the adapters build (Keras optimizer config, torch param_groups, layer
attributes) or measured numerically, never taken from the adapters' own argument tables.
"""

import inspect
import json
import math

import numpy as np
import pytest
from conftest import SEED, dense, forward, make_spec

from harness.core import registry
from harness.core.data import Target
from harness.core.spec_options import OptimizerOptions

# Keras keeps the learning rate in a float32 variable: relative rounding <= 6e-8. Any leaked default is
# off by far more (the closest pair, Adam's epsilon 1e-7 vs 1e-8, by a factor of 10).
VALUE_RTOL = 1e-7
# A loss of ~1 on 16 float32 samples: round-off ~1e-7. A leaked reduction ("sum") is 16x off; label
# smoothing 0.1 moves cross-entropy by ~0.1.
LOSS_TOLERANCE = 1e-6
# Activations on |x| <= 3 in float32: round-off <= 2.4e-7. The tanh approximation of gelu is off by up to
# 4.4e-4 on these points, a leaky slope of 0.01 instead of 0.2 by 0.19.
ACTIVATION_TOLERANCE = 1e-6

# Every field of every spec optimizer set to a value that is neither the spec's nor either framework's default.
UNUSUAL = {
    "sgd": {"learning_rate": 0.0123, "momentum": 0.7, "nesterov": True},
    "adam": {"learning_rate": 0.0037, "beta_1": 0.81, "beta_2": 0.987, "epsilon": 3e-6, "amsgrad": True},
    "adamw": {"learning_rate": 0.0041, "beta_1": 0.83, "beta_2": 0.991, "epsilon": 5e-6, "amsgrad": True,
              "weight_decay": 0.05},
    "rmsprop": {"learning_rate": 0.0029, "rho": 0.8, "momentum": 0.3, "epsilon": 2e-6, "centered": True},
    "adagrad": {"learning_rate": 0.021, "initial_accumulator_value": 0.3, "epsilon": 4e-6},
}

# The Keras 3 defaults, written out by hand: what a spec that names only the optimizer type must give both sides.
KERAS_DEFAULTS = {
    "sgd": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
    "adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False},
    "adamw": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False,
              "weight_decay": 0.004},
    "rmsprop": {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False},
    "adagrad": {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
}

# The class each spec type must build: AdamW's decay is decoupled, Adam(weight_decay) in torch is an L2 term.
OPTIMIZER_CLASSES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}

# Spec field -> (torch param_groups key, index into its tuple or None).
TORCH_NAMES = {"learning_rate": ("lr", None), "beta_1": ("betas", 0), "beta_2": ("betas", 1), "epsilon": ("eps", None),
               "rho": ("alpha", None)}

# Options no spec field covers: they must be off on both sides whatever the optimizer.
KERAS_OFF = {"clipnorm": None, "clipvalue": None, "global_clipnorm": None, "use_ema": False,
             "loss_scale_factor": None, "gradient_accumulation_steps": None}
TORCH_OFF = {"maximize": False, "differentiable": False, "capturable": False, "dampening": 0.0,
             "lr_decay": 0.0}  # checked where the optimizer has the option

# Constructor parameters that are not hyperparameters.
NOT_HYPERPARAMETERS = {"self", "params", "name", "kwargs"}

CLASSIFICATION_TARGET = Target("classification", "sparse", "accuracy", "sparse_categorical", 3)

# loss name, target, output layer, Keras loss class, its expected config (besides its name)
LOSS_CASES = {
    "cce_sparse": ("categorical_crossentropy", CLASSIFICATION_TARGET, dense(3, "softmax"),
                   "SparseCategoricalCrossentropy", {"from_logits": False, "ignore_class": None}),
    "cce_one_hot": ("categorical_crossentropy", Target("classification", "dense", "accuracy", "categorical", 3),
                    dense(3, "softmax"), "CategoricalCrossentropy",
                    {"from_logits": False, "label_smoothing": 0.0, "axis": -1}),
    "bce": ("binary_crossentropy", Target("classification", "dense", "accuracy", "binary", 1), dense(1, "sigmoid"),
            "BinaryCrossentropy", {"from_logits": False, "label_smoothing": 0.0, "axis": -1}),
    "mse": ("mse", Target("regression", "dense", "mae", None, 2), dense(2), "MeanSquaredError", {}),
    "mae": ("mae", Target("regression", "dense", "mae", None, 2), dense(2), "MeanAbsoluteError", {}),
}

# loss name -> the torch function its trainer calls, as hyperparameters() names it ("class")
TORCH_LOSS_FUNCTIONS = {"categorical_crossentropy": "torch.nn.functional.cross_entropy",
                        "binary_crossentropy": "torch.nn.functional.binary_cross_entropy_with_logits",
                        "mse": "torch.nn.functional.mse_loss", "mae": "torch.nn.functional.l1_loss"}

# hyperparameters(): one schema for both frameworks; what only one of them has sits under "framework"
HYPERPARAMETER_KEYS = {"optimizer", "loss", "layers", "framework"}
# execution_settings() with no execution asked for: what `harness run` trains with
DEFAULT_EXECUTION = {"tensorflow": {"run_eagerly": False, "steps_per_execution": 1, "jit_compile": False,
                                    "auto_scale_loss": False, "input": "dataset"},
                     "torch": {"compile": False, "compiled_step": False}}
# an execution asked for (harness bench's modes) -> what execution_settings() must then report
ASKED_EXECUTION = {"tensorflow": ({"jit_compile": True, "steps_per_execution": 4},
                                  {"run_eagerly": False, "steps_per_execution": 4, "jit_compile": True,
                                   "auto_scale_loss": False, "input": "dataset"}),
                   "torch": ({"compile": True}, {"compile": True, "compiled_step": False})}

ACTIVATION_INPUTS = [-3.0, -1.5, -1.0, -0.5, 0.25, 1.0, 2.5]
# activation -> f(x, parameter), and the parameter value both frameworks must use (the Keras one)
PARAMETRIZED_ACTIVATIONS = {
    "leaky_relu": (lambda x, slope: x if x > 0 else slope * x, 0.2),
    "elu": (lambda x, alpha: x if x > 0 else alpha * (math.exp(x) - 1.0), 1.0),
    "gelu": (lambda x, _: x * 0.5 * (1.0 + math.erf(x / math.sqrt(2.0))), None),  # exact, not the tanh form
}
# activation -> (its registry constant, an unusual value): set there, it must reach both frameworks. ELU's alpha
# is 1.0 in the registry and in both frameworks' defaults, so only this shows that it is really passed.
REGISTRY_PARAMETERS = {"leaky_relu": ("LEAKY_RELU_NEGATIVE_SLOPE", 0.3), "elu": ("ELU_ALPHA", 0.7)}


# --------------------------------------------------------------------------------------------- helpers

HIDDEN = (dense(5, "relu"),)


def _trainers(adapters, optimizer, loss="categorical_crossentropy", output=None, target=CLASSIFICATION_TARGET,
              hidden=HIDDEN):
    """{framework: Trainer} for a small model, built for real (Keras compiles; torch builds its optimizer)."""
    spec = make_spec([*hidden, output or dense(3, "softmax")], loss=loss, optimizer=optimizer)
    return {name: adapter.make_trainer(spec, adapter.build_model(spec.model, seed=SEED), target)
                  for name, adapter in adapters.items()}


def _keras_values(optimizer, fields) -> dict:
    """The spec fields, read back from a Keras optimizer's config."""
    config = optimizer.get_config()
    return {field: config[field] for field in fields}


def _torch_values(optimizer, fields) -> dict:
    """The spec fields, read back from a torch optimizer's first parameter group."""
    group = optimizer.param_groups[0]
    values = {}
    for field in fields:
        key, index = TORCH_NAMES.get(field, (field, None))
        values[field] = group[key] if index is None else group[key][index]
    return values


def _assert_values(received: dict, expected: dict, where: str):
    assert set(received) == set(expected), where
    for field, value in expected.items():
        if isinstance(value, float):
            assert received[field] == pytest.approx(value, rel=VALUE_RTOL, abs=0), f"{where}: {field}"
        else:
            assert received[field] is value, f"{where}: {field} is {received[field]!r}"  # True, False, None


def _constructor_parameters(cls) -> set:
    return {name for name, parameter in inspect.signature(cls).parameters.items()
            if name not in NOT_HYPERPARAMETERS and parameter.kind is not parameter.VAR_KEYWORD}


def _reference_loss(loss: str, label_format: str, raw: np.ndarray, y: np.ndarray) -> float:
    """The loss in float64 numpy, from logits for the cross-entropies, mean over every element."""
    raw = raw.astype(np.float64)
    if loss == "categorical_crossentropy":
        log_normalizer = np.log(np.exp(raw).sum(-1))
        picked = raw[np.arange(len(y)), y] if label_format == "sparse" else (raw * y).sum(-1)
        return float(np.mean(log_normalizer - picked))
    if loss == "binary_crossentropy":
        return float(np.mean(np.log1p(np.exp(raw)) - y * raw))
    return float(np.mean(np.square(raw - y) if loss == "mse" else np.abs(raw - y)))


def _loss_inputs(target, rng):
    """(raw outputs (16, units) float32, labels in the target's format)."""
    raw = rng.normal(0.0, 1.5, (16, target.units)).astype(np.float32)
    if target.task == "regression":
        return raw, rng.normal(0.0, 1.0, raw.shape).astype(np.float32)
    if target.accuracy == "binary":
        return raw, rng.integers(0, 2, raw.shape).astype(np.float32)
    labels = rng.integers(0, target.units, len(raw))
    return raw, labels if target.label_format == "sparse" else np.eye(target.units, dtype=np.float32)[labels]


def _probabilities(loss: str, raw: np.ndarray) -> np.ndarray:
    """The model's output for raw pre-activations: softmax / sigmoid / identity, float32."""
    raw64 = raw.astype(np.float64)
    if loss == "categorical_crossentropy":
        exp = np.exp(raw64 - raw64.max(-1, keepdims=True))
        return (exp / exp.sum(-1, keepdims=True)).astype(np.float32)
    if loss == "binary_crossentropy":
        return (1.0 / (1.0 + np.exp(-raw64))).astype(np.float32)
    return raw


def _activation_outputs(adapters, activation: str) -> dict:
    """{framework: activation applied to ACTIVATION_INPUTS}, through a model holding just that activation."""
    spec = make_spec([{"type": "activation", "activation": activation}], input_shape=(len(ACTIVATION_INPUTS),),
                     loss="mse")
    models = {name: adapter.build_model(spec.model, seed=SEED) for name, adapter in adapters.items()}
    outputs = forward(models, np.array([ACTIVATION_INPUTS], np.float32))
    return {name: output[0] for name, output in outputs.items()}


# ----------------------------------------------------------------------------------------------- tests

@pytest.mark.parametrize("framework", ["tensorflow", "torch"])
@pytest.mark.parametrize("optimizer", registry.OPTIMIZERS)
def test_optimizer_arguments_cover_every_constructor_parameter(adapters, framework, optimizer):
    spec = make_spec([dense(3, "softmax")], optimizer=optimizer)
    cls, kwargs = adapters[framework].optimizer_arguments(spec.optimizer)
    assert set(kwargs) == _constructor_parameters(cls), f"{cls.__name__}: a parameter is left to its default"


def test_the_unusual_values_cover_every_spec_field():
    for optimizer, values in UNUSUAL.items():
        spec = make_spec([dense(3, "softmax")], optimizer=optimizer)
        # the schedule and clipping fields every optimizer shares are tests/test_schedules.py's
        assert set(values) == set(type(spec.optimizer).model_fields) - {"type", *OptimizerOptions.model_fields}, \
            optimizer
        assert set(values) == set(KERAS_DEFAULTS[optimizer]), optimizer
        defaults = spec.optimizer.model_dump()
        assert all(values[field] != defaults[field] for field in values), f"{optimizer}: a value is the default"


@pytest.mark.parametrize("optimizer", registry.OPTIMIZERS)
def test_unusual_optimizer_values_reach_both_frameworks(adapters, optimizer):
    values = UNUSUAL[optimizer]
    trainers = _trainers(adapters, {"type": optimizer, **values})
    assert type(trainers["tensorflow"].model.optimizer).__name__ == OPTIMIZER_CLASSES[optimizer]
    assert type(trainers["torch"].optimizer).__name__ == OPTIMIZER_CLASSES[optimizer]
    _assert_values(_keras_values(trainers["tensorflow"].model.optimizer, values), values, f"Keras {optimizer}")
    _assert_values(_torch_values(trainers["torch"].optimizer, values), values, f"torch {optimizer}")


@pytest.mark.parametrize("optimizer", registry.OPTIMIZERS)
def test_spec_defaults_are_the_keras_defaults_on_both_sides(adapters, optimizer):
    import torch

    expected = KERAS_DEFAULTS[optimizer]
    trainers = _trainers(adapters, {"type": optimizer})
    keras_optimizer, torch_optimizer = trainers["tensorflow"].model.optimizer, trainers["torch"].optimizer
    _assert_values(_keras_values(keras_optimizer, expected), expected, f"Keras {optimizer}")
    _assert_values(_torch_values(torch_optimizer, expected), expected, f"torch {optimizer}")
    # The table is Keras' own defaults, and torch's own differ from it, so a leaked torch default shows above.
    _assert_values(_keras_values(type(keras_optimizer)(), expected), expected, f"Keras' own {optimizer} defaults")
    torch_own = _torch_values(type(torch_optimizer)([torch.zeros(1, requires_grad=True)]), expected)
    assert torch_own != pytest.approx(expected, rel=VALUE_RTOL), f"torch's {optimizer} defaults are the Keras ones"


@pytest.mark.parametrize("optimizer", registry.OPTIMIZERS)
def test_options_without_a_spec_field_are_off(adapters, optimizer):
    trainers = _trainers(adapters, {"type": optimizer})
    keras_config = trainers["tensorflow"].model.optimizer.get_config()
    assert {key: keras_config[key] for key in KERAS_OFF} == KERAS_OFF
    group = trainers["torch"].optimizer.param_groups[0]
    present = {key: value for key, value in TORCH_OFF.items() if key in group}
    assert {key: group[key] for key in present} == present
    if optimizer != "adamw":  # no decay of any kind unless the spec asks for AdamW's decoupled one
        assert keras_config["weight_decay"] is None
        assert group["weight_decay"] == 0.0


@pytest.mark.parametrize("case", LOSS_CASES)
def test_losses_are_configured_and_computed_alike(adapters, case):
    import torch

    loss, target, output, keras_class, keras_config = LOSS_CASES[case]
    trainers = _trainers(adapters, "sgd", loss=loss, output=output, target=target)
    keras_loss = trainers["tensorflow"].model.loss
    assert type(keras_loss).__name__ == keras_class
    config = keras_loss.get_config()
    assert {key: config[key] for key in keras_config} == keras_config
    assert config["reduction"] == "sum_over_batch_size"
    raw, labels = _loss_inputs(target, np.random.default_rng(3))
    expected = _reference_loss(loss, target.label_format, raw, labels)
    # Keras on numpy probabilities clips them to [1e-7, 1 - 1e-7]: no effect for logits this small (|z| < 7)
    keras_value = float(keras_loss(labels, _probabilities(loss, raw)))
    torch_trainer = trainers["torch"]
    assert trainers["tensorflow"].hyperparameters()["loss"]["class"] == keras_class
    assert torch_trainer.hyperparameters()["loss"]["class"] == TORCH_LOSS_FUNCTIONS[loss]
    assert torch_trainer.on_logits == (loss in registry.CLASSIFICATION_LOSSES)
    torch_value = float(torch_trainer.loss_fn(torch.from_numpy(raw), torch.from_numpy(labels)))
    assert keras_value == pytest.approx(expected, abs=LOSS_TOLERANCE)
    assert torch_value == pytest.approx(expected, abs=LOSS_TOLERANCE)


def test_dropout_rate_reaches_both_frameworks(adapters):
    import keras
    import torch

    rate = 0.37
    spec = make_spec([dense(6, "relu"), {"type": "dropout", "rate": rate}, dense(3, "softmax")])
    models = {name: adapter.build_model(spec.model, seed=SEED) for name, adapter in adapters.items()}
    keras_layers = [layer for layer in models["tensorflow"].layers if isinstance(layer, keras.layers.Dropout)]
    torch_modules = [module for module in models["torch"].modules() if isinstance(module, torch.nn.Dropout)]
    assert [layer.rate for layer in keras_layers] == [rate]
    assert [module.p for module in torch_modules] == [rate]
    ones = np.ones((1, 20000), np.float32)
    dropped = {"tensorflow": np.asarray(keras_layers[0](ones, training=True)),
               "torch": torch_modules[0].train()(torch.from_numpy(ones)).numpy()}
    for name, values in dropped.items():
        # 20000 Bernoulli draws: the zero fraction has a standard deviation of 0.0034; 0.02 is ~6 of them
        assert np.mean(values == 0) == pytest.approx(rate, abs=0.02), name
        np.testing.assert_allclose(values[values != 0], 1 / (1 - rate), rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("activation", PARAMETRIZED_ACTIVATIONS)
def test_activation_parameters_are_the_keras_ones_on_both_sides(adapters, activation):
    function, parameter = PARAMETRIZED_ACTIVATIONS[activation]
    expected = [function(x, parameter) for x in ACTIVATION_INPUTS]
    for name, output in _activation_outputs(adapters, activation).items():
        np.testing.assert_allclose(output, expected, rtol=0, atol=ACTIVATION_TOLERANCE, err_msg=name)


@pytest.mark.parametrize("activation", REGISTRY_PARAMETERS)
def test_activation_parameters_come_from_the_registry(adapters, monkeypatch, activation):
    constant, unusual = REGISTRY_PARAMETERS[activation]
    monkeypatch.setattr(registry, constant, unusual)
    function, _ = PARAMETRIZED_ACTIVATIONS[activation]
    expected = [function(x, unusual) for x in ACTIVATION_INPUTS]
    for name, output in _activation_outputs(adapters, activation).items():
        np.testing.assert_allclose(output, expected, rtol=0, atol=ACTIVATION_TOLERANCE, err_msg=name)


def test_hyperparameters_have_one_schema_on_both_sides(adapters):
    hidden = (dense(5, "relu", kernel_regularizer={"l2": 0.01}), {"type": "dropout", "rate": 0.25})
    trainers = _trainers(adapters, {"type": "adam"}, hidden=hidden)
    reported = {name: trainer.hyperparameters() for name, trainer in trainers.items()}
    for name, settings in reported.items():
        assert set(settings) == HYPERPARAMETER_KEYS, name
        assert settings["optimizer"]["class"] == "Adam", name
        assert isinstance(settings["layers"], list) and len(settings["layers"]) == 3, name
        assert json.loads(json.dumps(settings)) == settings, f"{name}: not plain JSON"
    assert reported["tensorflow"]["loss"]["class"] == "SparseCategoricalCrossentropy"
    assert reported["torch"]["loss"]["class"] == TORCH_LOSS_FUNCTIONS["categorical_crossentropy"]
    compile_arguments = {k: v for k, v in DEFAULT_EXECUTION["tensorflow"].items() if k != "input"}  # not Keras'
    assert reported["tensorflow"]["framework"] == {"compile": compile_arguments}
    assert reported["torch"]["framework"] == {"dropout_rates": [0.25], "regularized_tensors": 1}


@pytest.mark.parametrize("framework", ["tensorflow", "torch"])
def test_execution_settings_report_how_the_steps_run(adapters, framework):
    adapter = adapters[framework]
    spec = make_spec([dense(3, "softmax")])
    default = adapter.make_trainer(spec, adapter.build_model(spec.model, seed=SEED), CLASSIFICATION_TARGET)
    assert default.execution_settings() == DEFAULT_EXECUTION[framework]
    asked, expected = ASKED_EXECUTION[framework]
    trainer = adapter.make_trainer(spec, adapter.build_model(spec.model, seed=SEED), CLASSIFICATION_TARGET,
                                   execution=asked)
    settings = trainer.execution_settings()
    assert settings == expected
    settings.clear()  # a copy: the caller cannot change the trainer's settings
    assert trainer.execution_settings() == expected
