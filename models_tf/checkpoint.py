"""A Keras run's training state for checkpoints: every variable that training changes, as numpy arrays.

The twin of models_torch/checkpoint.py. The model's variables (weights, batch normalization's moving statistics,
each dropout layer's seed-generator state) and the optimizer's (its iteration counter, learning rate and slots),
by position: their names carry Keras' per-process layer counters (dense_1), positions do not. Restoring assigns
every one of them, so the next step computes what it would have computed in the run that wrote the checkpoint.
"""

import numpy as np

from harness.core import checkpoint


def _variables(trainer) -> list[tuple[str, object]]:
    model = trainer.model
    if not model.optimizer.built:  # Keras builds its slots at the first step; a resumed run restores them first
        model.optimizer.build(model.trainable_variables)
    return ([(f"model/{i}", v) for i, v in enumerate(model.variables)]
            + [(f"optimizer/{i}", v) for i, v in enumerate(model.optimizer.variables)])


def training_state(trainer) -> dict[str, np.ndarray]:
    """{name: array} of every variable of the model and its optimizer."""
    return {name: np.array(variable.numpy()) for name, variable in _variables(trainer)}


def training_layout(trainer) -> dict[str, tuple]:
    """{name: (shape, dtype)} that a checkpoint of this trainer must hold."""
    return {name: (tuple(variable.shape), np.dtype(variable.dtype)) for name, variable in _variables(trainer)}


def restore_training_state(trainer, arrays: dict[str, np.ndarray]) -> None:
    """Assigns every variable from a checkpoint's arrays (checked against `training_layout` by the caller)."""
    expected = training_layout(trainer)
    if checkpoint.layout(arrays) != expected:
        raise ValueError("the checkpoint's arrays do not match this model's variables")
    for name, variable in _variables(trainer):
        variable.assign(arrays[name])
