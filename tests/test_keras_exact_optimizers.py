"""The Keras-exact torch optimizers (models_torch/optimizers.py) against the real Keras optimizers.

Both sides start from the same weights and apply the same 20 fixed gradients: Keras through keras.Variable and
optimizer.apply_gradients, torch through the class keras_exact_arguments picks for the same spec. A third of the
gradient elements are ~1e-7, the size of epsilon, where Keras and stock torch place epsilon differently; the bias
gets no gradient on two steps, where Keras skips it but still counts the step.
"""

import inspect

import numpy as np
import pytest
from conftest import SEED
from pydantic import TypeAdapter

from harness.core.spec import Optimizer

STEPS = 20
SHAPES = [(6, 5), (5,)]  # a kernel and its bias
NEAR_ZERO_SCALE = 1e-7  # gradient size of the near-zero elements, about Keras' default epsilon
NEAR_ZERO_FRACTION = 1 / 3
NO_BIAS_GRADIENT_STEPS = (3, 7)

# Every elementwise operation is IEEE-rounded and done in Keras' order (square roots correctly rounded on both
# sides), so float32 agrees bit for bit (measured: 0 for every case). 1e-6 relative, about 8 float32 ulps, leaves
# room for 1-ulp differences in pow or sqrt on other machines compounding over 20 steps (torch's own 1-ulp sqrt
# gives 4.2e-7 here), and is far below the error of a wrong rule: stock torch Adam and RMSprop with the same epsilon
# are 0.26 and 0.41 off on the near-zero elements (the negative control below).
FLOAT32_RTOL = 1e-6
# float64, with float32-representable hyperparameters (see DYADIC): measured 0 for every case. What may remain is
# torch's 1-ulp float64 sqrt (~1e-16), far below 1e-12.
FLOAT64_RTOL = 1e-12

# Spec optimizers, float32: the learning rates make the 20 steps move the weights by 0.04 to 9 (they start ~N(0, 1)).
CASES = {
    "sgd": {"type": "sgd", "learning_rate": 0.1},
    "sgd_momentum": {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9},
    "sgd_nesterov": {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
    "adam": {"type": "adam", "learning_rate": 0.01},
    "adam_amsgrad": {"type": "adam", "learning_rate": 0.01, "amsgrad": True},
    "adamw": {"type": "adamw", "learning_rate": 0.01, "weight_decay": 0.04},
    "rmsprop": {"type": "rmsprop", "learning_rate": 0.01},
    "rmsprop_momentum": {"type": "rmsprop", "learning_rate": 0.01, "momentum": 0.9},
    "rmsprop_centered": {"type": "rmsprop", "learning_rate": 0.01, "centered": True},
    "rmsprop_centered_momentum": {"type": "rmsprop", "learning_rate": 0.01, "momentum": 0.9, "centered": True},
    "adagrad": {"type": "adagrad", "learning_rate": 0.1},
}

# Keras rounds some float64 hyperparameters through float32: the learning rate is a floatx (float32) variable, and
# ops.cast(python_float, "float64") goes through tf.convert_to_tensor, which makes a float32 first (SGD momentum,
# Adam's betas in the bias correction, weight decay, Adagrad's initial accumulator). For float64 the cases use
# float32-representable (dyadic) values instead, so both sides hold the same numbers; test_keras_float64_... pins it.
DYADIC = {"learning_rate": 2.0 ** -6, "momentum": 0.875, "beta_1": 0.875, "beta_2": 1 - 2.0 ** -9,
          "epsilon": 2.0 ** -23, "rho": 0.875, "weight_decay": 2.0 ** -5, "initial_accumulator_value": 0.125}


# --------------------------------------------------------------------------------------------- helpers

def _spec_optimizer(config: dict, dtype: str = "float32"):
    optimizer = TypeAdapter(Optimizer).validate_python(config)
    if dtype == "float32":
        return optimizer
    fields = optimizer.model_dump()
    return optimizer.model_copy(update={f: v for f, v in DYADIC.items() if f in fields and fields[f] != 0})


def _problem(dtype: str):
    """(initial weights, gradients per step, near-zero masks): fixed, the same for every case."""
    rng = np.random.default_rng(SEED)
    weights = [rng.normal(size=shape).astype(dtype) for shape in SHAPES]
    near_zero = [rng.random(shape) < NEAR_ZERO_FRACTION for shape in SHAPES]
    gradients = []
    for step in range(STEPS):
        step_gradients = [(np.where(mask, NEAR_ZERO_SCALE, 1.0) * rng.normal(size=mask.shape)).astype(dtype)
                          for mask in near_zero]
        if step in NO_BIAS_GRADIENT_STEPS:
            step_gradients[1] = None
        gradients.append(step_gradients)
    return weights, gradients, near_zero


def _run_keras(optimizer_class, kwargs, dtype, weights, gradients) -> list[np.ndarray]:
    import keras

    optimizer = optimizer_class(**kwargs)
    variables = [keras.Variable(w, dtype=dtype) for w in weights]
    for step_gradients in gradients:
        optimizer.apply_gradients([(None if g is None else keras.ops.convert_to_tensor(g), v)
                                   for g, v in zip(step_gradients, variables)])
    # The slots (momenta, velocities, accumulators) follow the variable's dtype; the learning rate stays floatx.
    slots = [v for v in optimizer.variables if v.name not in ("iteration", "learning_rate")]
    assert all(v.dtype == dtype for v in slots + variables), [(v.path, v.dtype) for v in slots + variables]
    return [np.asarray(v) for v in variables]


def _apply_torch(optimizer, params, gradients):
    import torch

    for step_gradients in gradients:
        for param, g in zip(params, step_gradients):
            param.grad = None if g is None else torch.from_numpy(g)
        optimizer.step()


def _run_torch(optimizer_class, kwargs, weights, gradients) -> list[np.ndarray]:
    import torch

    params = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in weights]
    _apply_torch(optimizer_class(params, **kwargs), params, gradients)
    return [p.detach().numpy() for p in params]


def _max_relative_difference(a: list, b: list, masks=None) -> float:
    masks = masks or [np.ones(x.shape, bool) for x in a]
    return max(float(np.max(np.abs(x - y)[m] / np.abs(y)[m])) for x, y, m in zip(a, b, masks))


# ----------------------------------------------------------------------------------------------- tests

@pytest.mark.filterwarnings("ignore:Gradients do not exist")
@pytest.mark.parametrize("dtype, rtol", [("float32", FLOAT32_RTOL), ("float64", FLOAT64_RTOL)])
@pytest.mark.parametrize("case", CASES)
def test_keras_exact_optimizer_matches_keras(adapters, case, dtype, rtol):
    from models_torch.optimizers import keras_exact_arguments

    optimizer_spec = _spec_optimizer(CASES[case], dtype)
    weights, gradients, _ = _problem(dtype)
    keras_weights = _run_keras(*adapters["tensorflow"].optimizer_arguments(optimizer_spec), dtype, weights, gradients)
    torch_weights = _run_torch(*keras_exact_arguments(optimizer_spec), weights, gradients)
    for torch_w, keras_w, initial in zip(torch_weights, keras_weights, weights):
        assert torch_w.dtype == keras_w.dtype == np.dtype(dtype)
        assert not np.array_equal(keras_w, initial), "the optimizer did not move the weights"
        np.testing.assert_allclose(torch_w, keras_w, rtol=rtol, atol=0, err_msg=f"{case} {dtype}")


@pytest.mark.filterwarnings("ignore:Gradients do not exist")
@pytest.mark.parametrize("case", ["adam", "rmsprop"])
def test_stock_torch_optimizer_differs_from_keras(adapters, case):
    """The negative control: stock torch with the same epsilon fails the float32 tolerance on the near-zero elements."""
    optimizer_spec = _spec_optimizer(CASES[case])
    weights, gradients, near_zero = _problem("float32")
    keras_weights = _run_keras(*adapters["tensorflow"].optimizer_arguments(optimizer_spec), "float32", weights,
                               gradients)
    stock_weights = _run_torch(*adapters["torch"].optimizer_arguments(optimizer_spec), weights, gradients)
    assert _max_relative_difference(stock_weights, keras_weights, near_zero) > 100 * FLOAT32_RTOL


@pytest.mark.filterwarnings("ignore:Gradients do not exist")
def test_keras_float64_rounds_hyperparameters_through_float32(adapters):
    """Why the float64 cases use dyadic values: Keras SGD(momentum=0.9) on float64 variables runs momentum
    float32(0.9), and its learning rate is a float32 variable. Matching it needs those roundings on the torch side."""
    from models_torch.optimizers import KerasSGD

    weights, gradients, _ = _problem("float64")
    optimizer_spec = _spec_optimizer({"type": "sgd", "learning_rate": 0.1, "momentum": 0.9})
    keras_weights = _run_keras(*adapters["tensorflow"].optimizer_arguments(optimizer_spec), "float64", weights,
                               gradients)
    exact = dict(lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0)
    rounded = dict(exact, lr=float(np.float32(0.1)), momentum=float(np.float32(0.9)))
    assert _max_relative_difference(_run_torch(KerasSGD, exact, weights, gradients), keras_weights) > 1e-9
    assert _max_relative_difference(_run_torch(KerasSGD, rounded, weights, gradients), keras_weights) < FLOAT64_RTOL


@pytest.mark.parametrize("case", CASES)
def test_keras_exact_arguments_pass_every_constructor_parameter(case):
    from models_torch.optimizers import keras_exact_arguments

    optimizer_class, kwargs = keras_exact_arguments(_spec_optimizer(CASES[case]))
    parameters = set(inspect.signature(optimizer_class).parameters) - {"params"}
    assert set(kwargs) == parameters, f"{optimizer_class.__name__}: a parameter is left to its default"


def test_state_dict_round_trip_keeps_the_step_count(torch_adapter):
    """Adam's bias correction reads the global step: resuming from a state_dict must continue the same run."""
    import torch

    from models_torch.optimizers import KerasAdam

    weights, gradients, _ = _problem("float64")
    kwargs = dict(lr=0.01, betas=(0.9, 0.999), eps=1e-7, amsgrad=False, weight_decay=0.0)
    straight = _run_torch(KerasAdam, kwargs, weights, gradients)

    params = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in weights]
    first = KerasAdam(params, **kwargs)
    _apply_torch(first, params, gradients[:STEPS // 2])
    second = KerasAdam(params, **kwargs)
    second.load_state_dict(first.state_dict())
    _apply_torch(second, params, gradients[STEPS // 2:])
    assert second.state["iterations"] == STEPS
    assert all(np.array_equal(p.detach().numpy(), w) for p, w in zip(params, straight))


@pytest.mark.parametrize("argument, value", [("lr", -0.1), ("eps", -1e-7), ("weight_decay", -0.01),
                                             ("betas", (0.9, 1.0))])
def test_invalid_hyperparameter_is_rejected_with_its_name(torch_adapter, argument, value):
    import torch

    from models_torch.optimizers import KerasAdam

    kwargs = {**dict(lr=0.01, betas=(0.9, 0.999), eps=1e-7, amsgrad=False, weight_decay=0.0), argument: value}
    name = "beta_2" if argument == "betas" else argument
    with pytest.raises(ValueError, match=f"Invalid value for argument {name}"):
        KerasAdam([torch.nn.Parameter(torch.zeros(2))], **kwargs)
