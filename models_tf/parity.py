"""Parity mode for Keras: every layer's output, and training steps on shared dropout masks.

The step is written out (GradientTape, then the Keras optimizer) so that the gradients can be read; it computes
what `fit` computes: the compiled loss on the softmax/sigmoid output (Keras takes the logits path) plus the
regularization losses, then one `apply_gradients`.
"""

import numpy as np
import tensorflow as tf

from models_tf.losses import loss_arguments, sample_weights
from models_tf.model import precision
from models_tf.optimizers import keras_exact_arguments


def layer_outputs(model, x: np.ndarray) -> list[np.ndarray]:
    """Each layer's output for x in inference mode, channels last: [(N, *shape_i)]."""
    outputs, h = [], tf.convert_to_tensor(x)
    for layer in model.layers:
        h = layer(h, training=False)
        outputs.append(np.asarray(tf.cast(h, tf.float32) if h.dtype == tf.bfloat16 else h))
    return outputs


class ParityTrainer:
    """Stock Keras optimizer and loss; the dropout layers named in `masks` apply x * mask / (1 - rate)."""

    def __init__(self, spec, model, target, dtype: str, trainable: list[bool]):
        # `trainable` (which canonical weights train) is not needed here: Keras' trainable_variables are exactly
        # those weights, in get_weights() order, so the tape's gradients already are the canonical ones. It is
        # taken so that both adapters' trainers have one signature (torch has to pick them out of its parameters).
        self.model, self.target = model, target
        optimizer_class, kwargs = keras_exact_arguments(spec.optimizer)
        loss_class, loss_kwargs = loss_arguments(spec, target)
        with precision(dtype):
            self.optimizer = optimizer_class(**kwargs)
            self.loss = loss_class(**loss_kwargs)
        self.optimizer.build(model.trainable_variables)

    def _forward(self, x, masks: dict):
        h = tf.convert_to_tensor(x)
        for index, layer in enumerate(self.model.layers):
            if index in masks:
                h = h * tf.convert_to_tensor(masks[index], dtype=h.dtype) / (1.0 - layer.rate)
            else:
                h = layer(h, training=True)
        return h

    def step(self, x: np.ndarray, y: np.ndarray, masks: dict) -> tuple[float, list[np.ndarray]]:
        """One update. Returns the pre-update loss (penalty included) and the gradients, canonical layout."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss = self.loss(y, self._forward(x, masks), sample_weight=sample_weights(self.target, y))
            for penalty in self.model.losses:
                loss = loss + penalty
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))  # clips, then updates, at the schedule's rate
        return float(loss), [np.asarray(g) for g in gradients]

    def set_learning_rate(self, rate: float) -> None:
        """The rate of the next updates (a step: epoch schedule, reduce_on_plateau)."""
        self.optimizer.learning_rate = rate


def make_parity_trainer(spec, model, target, dtype: str, trainable: list[bool]) -> ParityTrainer:
    """`trainable` marks the canonical weights that train; Keras' trainable_variables are exactly those."""
    return ParityTrainer(spec, model, target, dtype, trainable)


def optimizer_convention() -> str:
    return "Keras' own optimizer"
