"""A model brought in from Keras or PyTorch code, as both importers (models_tf/importer.py and
models_torch/importer.py) return it, and the spec it becomes.

An importer translates the original model into the spec's `model` section (plain data) and its weights into the
canonical layout (Keras `get_weights()` order and shapes of the spec's model). It keeps the original callable on a
spec-layout batch (channels last), so the proof can compare it with the other framework's model built from the
spec. Nothing here imports a framework.
"""

import re
from dataclasses import dataclass, field
from math import prod
from typing import Callable

import numpy as np

from harness.core import shapes
from harness.core.spec import ModelSpec
from harness.core.validate import output_activation

PROBE_SAMPLES = 16      # the batch an import's proof runs through both models
TOLERANCE = 1e-5        # float32: the largest difference an exact translation may show


@dataclass
class Imported:
    model: dict                                     # the spec's model section: {"input_shape": [...], "layers": [...]}
    weights: list[np.ndarray]                       # canonical layout of the spec's model, moving statistics included
    source: str                                     # "tensorflow" or "torch": the framework the model came from
    original_params: int                            # trainable parameters, as the source framework counts them
    notes: list[str] = field(default_factory=list)  # what the translation did that a reader should know
    run_original: Callable[[np.ndarray], np.ndarray] = None  # (N, *input_shape) channels last -> outputs, inference


def probe_batch(model: ModelSpec, seed: int = 0, samples: int = PROBE_SAMPLES) -> np.ndarray:
    """(samples, *input_shape) float32: standard normal values, or integer ids in [0, input_dim) when the model
    starts with an embedding (held as float32, as the harness holds token ids)."""
    rng = np.random.default_rng(seed)
    shape = (samples, *model.input_shape)
    first = model.layers[0]
    if first.type == "embedding":
        return rng.integers(0, first.input_dim, size=shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


def _loss(model: ModelSpec) -> tuple[str, str]:
    """(loss, the YAML comment that explains it) from the output the model ends in."""
    last, units = output_activation(model)[1], shapes.output_shape(model)[-1]
    if last == "softmax" and units >= 2:
        return "categorical_crossentropy", ""
    if last == "sigmoid" and units == 1:
        return "binary_crossentropy", ""
    if last in ("log_softmax", "linear") and units >= 2:
        return "mse", (f"the model ends in {'log-probabilities' if last == 'log_softmax' else 'logits'}: to train it "
                       f"as a classifier, set the last activation to softmax and the loss to "
                       f"categorical_crossentropy (the same classifier: softmax(logits) = exp(log_softmax))")
    return "mse", "the output is not a probability: mse is a placeholder, choose the loss you train with"


def _data(elements: int) -> tuple[dict, str]:
    """A built-in dataset whose samples fit the input (MNIST-1D: 40 values, digits: 64), else the user's npz."""
    if elements == 40:
        return {"dataset": "mnist1d", "validation_split": 0.1}, ""
    if elements == 64:
        return {"dataset": "digits", "validation_split": 0.1}, ""
    return ({"dataset": "npz", "path": "data.npz", "validation_split": 0.1},
            "a model file holds no data: data.npz is a placeholder for your arrays x, y (and x_test, y_test)")


def spec_name(stem: str) -> str:
    """A file name as a spec name (letters, digits, '_', '-', '.'; starting with a letter or digit)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._-")[:64]
    return name or "imported"


def spec_of(imported: Imported, name: str, origin: str) -> tuple[dict, list[str]]:
    """A complete spec (plain data, validated by the caller) around the imported model, and the comments that the
    written YAML opens with: what was guessed and what to replace."""
    loss, loss_note = _loss(ModelSpec.model_validate(imported.model))
    data, data_note = _data(prod(imported.model["input_shape"]))
    spec = {"name": spec_name(name), "description": f"Imported from {origin} by harness import",
            "data": data, "model": imported.model, "loss": loss,
            "optimizer": {"type": "adam", "learning_rate": 0.001}, "training": {"epochs": 10, "batch_size": 32}}
    comments = [f"Imported from {origin} ({imported.source}, {imported.original_params:,} trainable parameters "
                f"there). The model section is exact; data, loss, optimizer and training are not in a model file "
                f"and are guesses:"]
    comments += [f"- data: {data_note}"] if data_note else []
    comments += [f"- loss: {loss_note}"] if loss_note else []
    comments += [f"- {note}" for note in imported.notes]
    return spec, comments
