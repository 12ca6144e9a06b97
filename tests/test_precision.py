"""Mixed precision (training.precision: bfloat16): Keras' mixed_bfloat16 policy against torch.autocast(bfloat16),
the last layer in float32 on both sides, float32 weights and loss.

Parity in bfloat16 at its stated tolerances (harness.jobs.trace.TOLERANCES["bfloat16"]: forward and loss 3e-2,
gradients 1e-1 relative to each tensor's largest, weights 5 learning rates) for each optimizer family; a
`harness run` whose two curves stay within bfloat16's reach of each other; the models really compute in
bfloat16; the scripts say so."""

import numpy as np
import pytest
from conftest import make_spec

from harness.code.keras_script import keras_script
from harness.code.torch_script import torch_script
from harness.core import data, init
from harness.jobs.train import fit
from harness.parity.run import run_parity

DENSE = [{"type": "dense", "units": 32, "activation": "relu"}, {"type": "dropout", "rate": 0.2},
         {"type": "dense", "units": 16, "activation": "tanh"}, {"type": "dense", "units": 10, "activation": "softmax"}]
CONV = [{"type": "conv2d", "filters": 8, "kernel_size": 3, "activation": "relu"}, {"type": "max_pool2d"},
        {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]
GRU = [{"type": "gru", "units": 8}, {"type": "dense", "units": 10, "activation": "softmax"}]
OPTIMIZERS = {"sgd": {"type": "sgd", "learning_rate": 0.01, "momentum": 0.9},
              "adam": {"type": "adam", "learning_rate": 0.001}, "adamw": {"type": "adamw", "learning_rate": 0.001},
              "rmsprop": {"type": "rmsprop", "learning_rate": 0.001},
              "adagrad": {"type": "adagrad", "learning_rate": 0.01}}
CASES = [("dense", [64], DENSE, name) for name in OPTIMIZERS] + [
    ("conv", [8, 8, 1], CONV, "adam"), ("conv", [8, 8, 1], CONV, "sgd"), ("gru", [8, 8], GRU, "rmsprop")]


def _spec(layers, input_shape, optimizer, **training):
    return make_spec(layers, input_shape=tuple(input_shape), optimizer=OPTIMIZERS[optimizer], dataset="digits",
                     training={"batch_size": 32, "precision": "bfloat16", **training})


@pytest.mark.parametrize("model, input_shape, layers, optimizer", CASES,
                         ids=[f"{case[0]}-{case[3]}" for case in CASES])
def test_parity_in_bfloat16(tmp_path, model, input_shape, layers, optimizer):
    result = run_parity(_spec(layers, input_shape, optimizer), tmp_path, steps=25, in_process=True,
                        log=lambda line: None)
    assert result.dtype == "bfloat16" and [c.b for c in result.comparisons] == ["torch"]  # no numpy column
    comparison = result.comparisons[0]
    assert result.passed, (comparison.first_forward_divergence, comparison.first_step_divergence)
    # not float32 in disguise: bfloat16 rounding shows in the losses
    assert comparison.maxima()["loss"] > 1e-5


def test_both_models_compute_in_bfloat16(adapters):
    spec = _spec(DENSE, [64], "adam")
    weights = init.initial_weights(spec.model, 0)
    x = data.prepare(spec).x_test[:64]
    for name, adapter in adapters.items():
        outputs = {}
        for dtype in ("float32", "bfloat16"):
            model = adapter.build_model(spec.model, seed=0, dtype=dtype)
            adapter.set_weights(model, weights)
            outputs[dtype] = adapter.predict(model, x)
            assert all(w.dtype == np.float32 for w in adapter.get_weights(model)), name  # float32 master weights
        difference = np.abs(outputs["bfloat16"] - outputs["float32"]).max()
        assert 1e-4 < difference < 2e-2, (name, difference)  # bfloat16's 8 bits, not float32's 24
        assert outputs["bfloat16"].dtype == np.float32  # the last layer's float32


def test_a_bfloat16_run_trains_and_the_curves_agree(adapters):
    spec = _spec(DENSE[:1] + DENSE[2:], [64], "sgd", epochs=4)
    dataset = data.prepare(spec)
    weights = init.initial_weights(spec.model, 0)
    results = {name: fit(adapter, spec, dataset, 0, weights) for name, adapter in adapters.items()}
    losses = {name: np.array([row["loss"] for row in result["epochs"]]) for name, result in results.items()}
    assert losses["tensorflow"][-1] < 0.5 * losses["tensorflow"][0]
    np.testing.assert_allclose(losses["tensorflow"], losses["torch"], rtol=2e-2)
    accuracy = [result["test"]["test_accuracy"] for result in results.values()]
    assert min(accuracy) > 0.85 and abs(accuracy[0] - accuracy[1]) < 0.03


def test_the_scripts_state_mixed_precision():
    spec = _spec(DENSE, [64], "adam")
    target = data.prepare(spec).target
    keras_text = keras_script(spec, target, 0, 32, "a test")
    torch_text = torch_script(spec, target, 0, 32, "a test")
    assert keras_text.count('dtype="mixed_bfloat16"') == 3 and keras_text.count('dtype="float32"') == 1
    assert "with torch.autocast(x.device.type, dtype=torch.bfloat16):" in torch_text
    assert "x = x.float()" in torch_text
    for text in (keras_text, torch_text):
        assert "mixed_bfloat16" in text and "Differs from" in text
