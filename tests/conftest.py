"""Shared fixtures: both framework adapters, loaded once per session, and spec / model builders.

TensorFlow costs seconds to import, so the adapters come from session fixtures: a test that needs neither
framework (spec, data, report tests) never pays for it.
"""

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # before anything can import TensorFlow
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from harness.core import init, validate  # noqa: E402

THREADS = 1  # tiny models: one thread per framework is fastest and keeps float sums in a fixed order
SEED = 0


@pytest.fixture(scope="session")
def tf_adapter():
    import models_tf  # TensorFlow first, then torch: the import order both adapters are tested in

    models_tf.configure(THREADS, SEED)
    return models_tf


@pytest.fixture(scope="session")
def torch_adapter(tf_adapter):
    import models_torch

    models_torch.configure(THREADS, SEED)
    return models_torch


@pytest.fixture(scope="session")
def adapters(tf_adapter, torch_adapter):
    """{"tensorflow": models_tf, "torch": models_torch}, the names `harness.jobs.frameworks` uses."""
    return {"tensorflow": tf_adapter, "torch": torch_adapter}


def iris_mlp(name: str, epochs: int) -> dict:
    """A small raw spec that trains in seconds: iris, dense 8 relu, dense 3 softmax, Adam 0.01, batch 16, seed 0."""
    return {
        "name": name, "data": {"dataset": "iris", "validation_split": 0.2},
        "model": {"input_shape": [4], "layers": [{"type": "dense", "units": 8, "activation": "relu"},
                                                 {"type": "dense", "units": 3, "activation": "softmax"}]},
        "loss": "categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.01},
        "training": {"epochs": epochs, "batch_size": 16}, "seeds": [0],
    }


def make_spec(layers, input_shape=(4,), loss="categorical_crossentropy", optimizer="sgd", dataset="iris",
              **sections):
    """A validated Spec from the parts a test varies; `sections` (data=..., training=..., init=...) override."""
    data = {"dataset": dataset, **sections.pop("data", {})}
    return validate.parse_spec({"name": "test", "data": data, "loss": loss, "optimizer": optimizer,
                                "model": {"input_shape": list(input_shape), "layers": list(layers)}, **sections})


def dense(units, activation="linear", **options):
    """A dense layer entry. The default bias initializer is random, not zeros, so a misplaced bias shows."""
    return {"type": "dense", "units": units, "activation": activation, "bias_initializer": "he_uniform",
            **options}


def matched_models(adapters, spec, seed=SEED):
    """{framework: model}, each built and then loaded with the same numpy initial weights."""
    weights = init.initial_weights(spec.model, seed)
    models = {}
    for name, adapter in adapters.items():
        models[name] = adapter.build_model(spec.model, seed=seed)
        adapter.set_weights(models[name], weights)
    return models


def forward(models, x: np.ndarray) -> dict:
    """{framework: the model's output for x, (N, units)}, in inference mode (dropout off)."""
    import torch

    torch_model = models["torch"].eval()
    with torch.no_grad():
        torch_out = torch_model(torch.from_numpy(x)).numpy()
    return {"tensorflow": np.asarray(models["tensorflow"](x, training=False)), "torch": torch_out}


def max_weight_difference(weights_a, weights_b) -> float:
    """Largest |a - b| over two lists of arrays in the canonical layout (shapes must agree)."""
    assert [w.shape for w in weights_a] == [w.shape for w in weights_b]
    return max(float(np.max(np.abs(a - b))) for a, b in zip(weights_a, weights_b))


def write_spec(tmp_path, spec: dict, name: str = "spec.yaml") -> Path:
    """The spec mapping as a YAML file in tmp_path."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def one_error_line(capsys) -> str:
    """The CLI's error output: exactly one line starting 'error: ', no traceback, nothing on stdout."""
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert lines[0].startswith("error: ")
    return lines[0]
