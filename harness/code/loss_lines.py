"""The scripts' lines for class weights and label smoothing, both sides: what each framework needs to compute the
loss the harness trains with (harness.core.class_weights; models_tf/losses.py, models_torch/losses.py)."""

from harness.code.common import call, differs


def weighted(target) -> bool:
    return target.class_weights is not None


def sparse_smoothing(spec, target) -> bool:
    """Integer labels with label smoothing: Keras needs them one-hot."""
    return (spec.loss == "categorical_crossentropy" and target.label_format == "sparse"
            and spec.training.label_smoothing > 0)


def keras_constants(target) -> list[str]:
    """CLASS_WEIGHT, fit's class_weight argument, when the spec weights classes."""
    if not weighted(target):
        return []
    weights = {index: weight for index, weight in enumerate(target.class_weights)}
    return [*differs("class_weight", "keras", 0), f"CLASS_WEIGHT = {weights!r}"]


def keras_one_hot(spec, target) -> list[str]:
    """main()'s lines that one-hot encode integer labels for CategoricalCrossentropy(label_smoothing=...)."""
    if not sparse_smoothing(spec, target):
        return []
    return [*differs("label_smoothing", "keras", 4), '    for name in ("y_train", "y_val", "y_test"):',
            f'        data[name] = np.eye({target.units}, dtype="float32")[data[name]]']


def torch_constants(target) -> list[str]:
    if not weighted(target):
        return []
    return [f"CLASS_WEIGHTS = torch.tensor({list(target.class_weights)!r}, dtype=torch.float32)"]


def _torch_labels(target) -> str:
    """The class index of each sample as Keras' class_weight reads it."""
    if target.label_format == "sparse":
        return "y"
    return "y.round().long().reshape(-1)" if target.accuracy == "binary" else "y.argmax(-1)"


def torch_loss_function(spec, target) -> list[str]:
    """A module-level loss_fn(logits, y, weighted=False) where an nn loss module cannot say it: class weights
    (Keras' reduction) or binary label smoothing. [] where main()'s nn loss does."""
    smoothing = spec.training.label_smoothing
    binary = spec.loss == "binary_crossentropy"
    if not weighted(target) and not (binary and smoothing):
        return []
    body = ["def loss_fn(logits, y, weighted=False):",
            '    """The per-sample losses, their mean, or with weighted=True sum(w[y] * loss) / batch size."""']
    if binary:
        if smoothing:
            body += [*differs("binary_smoothing", "torch", 4),
                     f"    target = y * {1.0 - smoothing!r} + {0.5 * smoothing!r}"]
        target_name = "target" if smoothing else "y"
        loss = call("nn.functional.binary_cross_entropy_with_logits", "logits", target_name, weight=None,
                    reduction="none", pos_weight=None) + ".mean(-1)"
    else:
        loss = call("nn.functional.cross_entropy", "logits", "y", weight=None, ignore_index=-100, reduction="none",
                    label_smoothing=smoothing)
    body += [f"    losses = {loss}", "    if not weighted:", "        return losses.mean()"]
    if weighted(target):
        body += [*differs("class_weight", "torch", 4),
                 f"    return (losses * CLASS_WEIGHTS[{_torch_labels(target)}]).sum() / len(losses)"]
    else:
        body += ["    return losses.mean()"]
    return [*body, "", ""]
