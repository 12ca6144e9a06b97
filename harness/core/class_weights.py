"""training.class_weight as one weight per class index, computed once from the training split.

Both frameworks weight each training sample's loss by its class' weight and divide the sum by the batch size
(Keras' "sum_over_batch_size"); what the weights are is decided here, framework-free.
"""

from typing import Optional

import numpy as np

from harness.core.errors import SpecError

FIELD = "training.class_weight"


def class_labels(target, y: np.ndarray) -> np.ndarray:
    """The class index of each sample (N,), read as Keras' class_weight reads labels: integer labels as they are,
    one-hot rows by their argmax, a binary label (N, 1) rounded to 0 or 1."""
    if target.label_format == "sparse":
        return np.asarray(y, np.int64).reshape(-1)
    if target.accuracy == "binary":
        return np.round(y).astype(np.int64).reshape(-1)
    return np.argmax(y, axis=-1).astype(np.int64)


def class_count(target) -> int:
    """The classes a class weight can name: the output units, or 2 (labels 0 and 1) for a 1-unit sigmoid."""
    return 2 if target.accuracy == "binary" else target.units


def class_weights(chosen, target, y_train: np.ndarray) -> Optional[tuple[float, ...]]:
    """One weight per class index, or None without class weights.

    chosen: the spec's training.class_weight: None, "balanced" (n / (classes * count_c) on the training split,
    scikit-learn's formula) or {class index: weight}, where a class left out weighs 1 (Keras' rule,
    class_weight.get(y, 1.0) in keras/src/trainers/data_adapters/data_adapter_utils.py)."""
    if chosen is None or target.task != "classification":
        return None
    classes = class_count(target)
    if chosen == "balanced":
        counts = np.bincount(class_labels(target, y_train), minlength=classes)
        if (counts == 0).any():
            missing = int(np.argmin(counts))
            raise SpecError(FIELD, f"'balanced' needs every class in the training split; class {missing} has no "
                                   f"training sample (of {len(y_train)})")
        return tuple(float(len(y_train) / (classes * count)) for count in counts)
    outside = sorted(index for index in chosen if index >= classes)
    if outside:
        raise SpecError(FIELD, f"class indices must be in [0, {classes - 1}] (the model's {classes} classes); "
                               f"received {outside[0]}")
    return tuple(float(chosen.get(index, 1.0)) for index in range(classes))


def default_rows(spec) -> list[dict]:
    """The defaults-diff rows (harness.core.defaults.table) of training.class_weight and training.label_smoothing."""
    training, rows = spec.training, []
    if training.class_weight is not None:
        chosen = ("'balanced': n / (classes * count) on the training split" if training.class_weight == "balanced"
                  else f"{dict(sorted(training.class_weight.items()))}, a class left out at 1")
        rows.append({"setting": "class weights (training.class_weight)",
                     "keras": "fit(class_weight=...): sum(w[y] * loss) / batch size, a class left out weighs 1; "
                              "evaluate() unweighted",
                     "torch": "F.cross_entropy(weight=w), reduction 'mean' on class indices: sum(w[y] * loss) / "
                              "sum(w[y]), another scale each batch; BCE's pos_weight scales the positive term only",
                     "harness": f"{chosen}; sum(w[y] * loss) / batch size on both, validation and test unweighted"})
    if training.label_smoothing > 0:
        rows.append({"setting": "label smoothing (training.label_smoothing)",
                     "keras": "(Binary)CategoricalCrossentropy(label_smoothing=s): y (1 - s) + s / classes (binary "
                              "0.5 s); SparseCategoricalCrossentropy has none: one-hot labels needed",
                     "torch": "F.cross_entropy(label_smoothing=s) on integer or one-hot labels; "
                              "binary_cross_entropy_with_logits has none",
                     "harness": f"s = {training.label_smoothing!r} on both; Keras one-hot encodes integer labels "
                                "inside its loss, torch smooths a binary target by hand"})
    return rows
