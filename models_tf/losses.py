"""The spec's loss as a Keras loss object (class and every keyword argument stated), and its class weights.

The cross-entropies take the model's softmax/sigmoid output, from which Keras recovers the logits (the tag its
activations leave, models_tf.base). Class weights go to `fit(class_weight=...)` as a Keras user passes them: each
sample's loss times its class' weight, summed and divided by the batch size ("sum_over_batch_size"); validation
and test losses are not weighted (fit's class_weight weights training only).
"""

import keras
from keras import ops
from keras.src.trainers.data_adapters import data_adapter_utils

from harness.core import registry

_REDUCTION = "sum_over_batch_size"  # = sum over the batch / batch size, torch's "mean" without weights


class _OneHotCategoricalCrossentropy(keras.losses.Loss):
    """Integer labels one-hot encoded, then keras.losses.categorical_crossentropy with label smoothing:
    SparseCategoricalCrossentropy has no label_smoothing argument in Keras 3.15, so a Keras user one-hot encodes
    the labels; this does that inside the loss, leaving the labels (and the accuracy metric) sparse."""

    def __init__(self, label_smoothing: float, axis: int, reduction: str, name="categorical_crossentropy"):
        super().__init__(name=name, reduction=reduction, dtype=None)
        self.label_smoothing, self.axis = label_smoothing, axis

    def call(self, y_true, y_pred):  # y_true (B,) or (B, 1) class indices, y_pred (B, classes)
        indices = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        one_hot = ops.one_hot(indices, ops.shape(y_pred)[-1], axis=-1, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, from_logits=False,
                                                     label_smoothing=self.label_smoothing, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "from_logits": False, "label_smoothing": self.label_smoothing,
                "axis": self.axis, "labels": "one-hot encoded from class indices"}


def _categorical_crossentropy(target, smoothing):
    if target.label_format == "sparse" and smoothing:
        return _OneHotCategoricalCrossentropy, dict(label_smoothing=smoothing, axis=-1, reduction=_REDUCTION)
    if target.label_format == "sparse":
        return keras.losses.SparseCategoricalCrossentropy, dict(from_logits=False, ignore_class=None,
                                                                reduction=_REDUCTION, axis=-1)
    return keras.losses.CategoricalCrossentropy, dict(from_logits=False, label_smoothing=smoothing, axis=-1,
                                                      reduction=_REDUCTION)


def _binary_crossentropy(target, smoothing):  # Keras smooths y * (1 - s) + 0.5 * s
    return keras.losses.BinaryCrossentropy, dict(from_logits=False, label_smoothing=smoothing, axis=-1,
                                                 reduction=_REDUCTION)


def _mse(target, smoothing):
    return keras.losses.MeanSquaredError, dict(reduction=_REDUCTION)


def _mae(target, smoothing):
    return keras.losses.MeanAbsoluteError, dict(reduction=_REDUCTION)


# spec loss name -> (target, label smoothing) -> (Keras loss class, keyword arguments)
LOSSES = {"categorical_crossentropy": _categorical_crossentropy, "binary_crossentropy": _binary_crossentropy,
          "mse": _mse, "mae": _mae}


def loss_arguments(spec, target):
    """(Keras loss class, keyword arguments) for the spec's loss and training.label_smoothing; the labels' format
    (target.label_format) picks the sparse or the one-hot categorical cross-entropy."""
    return registry.get(LOSSES, spec.loss, "loss")(target, spec.training.label_smoothing)


def class_weight(target) -> dict | None:
    """fit's class_weight: {class index: weight} for every class (harness.core.class_weights), or None."""
    if target.class_weights is None:
        return None
    return {index: weight for index, weight in enumerate(target.class_weights)}


def sample_weights(target, y):
    """Each sample's weight (B,) float32 as fit(class_weight=...) makes it (Keras' own conversion), or None."""
    weights = class_weight(target)
    return None if weights is None else data_adapter_utils.class_weight_to_sample_weights(y, weights)
