"""The parity trace: what `harness parity` compares, to prove (or disprove) that the two compiled models are the
same network, step by step.

1. Both models get the same initial weights; one batch goes through both, layer by layer (inference mode).
2. N training steps on identical batches with the framework-specific differences removed: one numpy dropout
   mask per step and layer, applied as x * mask / (1 - rate) on both sides; Keras' optimizer update rule on
   both sides; the same loss on logits and the same L1/L2 penalty.
3. For dense networks a numpy reference (harness.core.reference) computes the same trace as a third column.

Each framework computes its trace in its own worker process (`harness.jobs.execute`, job kind "parity"); the
numpy reference's trace is computed in the parent; the comparison, the verdict and the report are
`harness.parity`'s.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from harness.core import data, init, schedules, shapes
from harness.core.spec import Spec

# Stated tolerances: float32 round-off is ~1e-7 relative per operation and training for 50 steps amplifies it
# (Adam most, through small second moments); float64 leaves only ~1e-16 per operation.
TOLERANCES = {
    "float32": {"forward": 1e-5, "loss": 1e-5, "gradients": 1e-4, "weights": 1e-4},
    "float64": {"forward": 1e-10, "loss": 1e-10, "gradients": 1e-10, "weights": 1e-10},
    # Mixed precision: bfloat16 keeps 8 significant bits (a relative step of 2^-8 = 0.4 %), and the two
    # frameworks round at different places (Keras after the matmul and again after the bias add, torch's addmm
    # once), so outputs and gradients differ by a few bfloat16 steps: gradients are compared relative to each
    # tensor's largest (when above 1). The float32 weights then differ by the learning rate times that (SGD,
    # momentum multiplying it up to 1 / (1 - momentum)), or by a few lr where a near-zero gradient has opposite
    # signs (Adam's and RMSprop's first updates are about lr * sign(g) and 3.2 lr * sign(g)): the weights'
    # tolerance is WEIGHTS_IN_LR learning rates (`tolerances`).
    "bfloat16": {"forward": 3e-2, "loss": 3e-2, "gradients": 1e-1, "weights": None, "relative_gradients": True},
}
WEIGHTS_IN_LR = 5.0


def tolerances(spec: Spec, dtype: str) -> dict:
    """The stated tolerances for a parity check in `dtype`; in bfloat16 the weights' is relative to the
    optimizer's learning rate (the peak of a schedule)."""
    if dtype not in MIXED:
        return TOLERANCES[dtype]
    return {**TOLERANCES[dtype], "weights": WEIGHTS_IN_LR * spec.optimizer.learning_rate}
MIXED = ("bfloat16",)  # computed in this type, with float32 weights, data and loss
PROBE_SAMPLES = 64


def cast_dataset(dataset: data.Dataset, dtype: str) -> data.Dataset:
    """The dataset with float arrays in `dtype` (integer labels stay int64); float32 for mixed precision."""
    def convert(array):
        return array.astype("float32" if dtype in MIXED else dtype) if array.dtype.kind == "f" else array
    return data.Dataset(*(convert(getattr(dataset, name)) for name in
                          ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")),
                        dataset.target, dataset.target_mean, dataset.target_std)


def dropout_layers(spec: Spec) -> list[tuple[int, tuple[int, ...], float]]:
    """(layer index, the layer's input shape, rate) of every dropout layer."""
    return [(info.index, info.input_shape, layer.rate) for info, layer in zip(shapes.infer(spec.model),
                                                                             spec.model.layers)
            if layer.type == "dropout"]


def batches(spec: Spec, dataset: data.Dataset, steps: int, seed: int) -> Iterator[tuple]:
    """(x, y, masks) for each step: batches in the harness' epoch order; masks {layer index: 0/1 array}."""
    size, n, dtype = data.batch_size_of(spec, dataset.n_train), dataset.n_train, dataset.x_train.dtype
    per_epoch = math.ceil(n / size)
    dropouts = dropout_layers(spec)
    for step in range(steps):
        epoch, position = divmod(step, per_epoch)
        order = data.epoch_order(seed, epoch, n)[position * size:(position + 1) * size]
        rng = np.random.default_rng([seed, 3, step])
        masks = {index: (rng.random((len(order), *shape)) >= rate).astype(dtype) for index, shape, rate in dropouts}
        yield dataset.x_train[order], dataset.y_train[order], masks


@dataclass
class Trace:
    """What one side computed: layer outputs on the probe batch, then per step the loss, the gradients and the
    weights after the update (trainable weights, canonical layout)."""

    forward: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    gradients: list = field(default_factory=list)
    weights: list = field(default_factory=list)

    def save(self, path: Path) -> None:
        arrays = {f"forward_{i}": a for i, a in enumerate(self.forward)}
        arrays["loss"] = np.asarray(self.loss, np.float64)
        for step, (grads, weights) in enumerate(zip(self.gradients, self.weights)):
            arrays.update({f"grad_{step}_{k}": g for k, g in enumerate(grads)})
            arrays.update({f"weight_{step}_{k}": w for k, w in enumerate(weights)})
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> "Trace":
        with np.load(path) as arrays:
            names = set(arrays.files)
            trace = cls(forward=[arrays[f"forward_{i}"] for i in range(sum(n.startswith("forward_") for n in names))],
                        loss=list(arrays["loss"]))
            tensors = sum(n.startswith("grad_0_") for n in names)
            for step in range(len(trace.loss)):
                trace.gradients.append([arrays[f"grad_{step}_{k}"] for k in range(tensors)])
                trace.weights.append([arrays[f"weight_{step}_{k}"] for k in range(tensors)])
        return trace


class EpochRates:
    """What the epoch loop does to the learning rate, for a trace's steps: before each epoch's first step, a
    step: epoch schedule's rate, or reduce_on_plateau's decision on the previous epoch. The trace has no
    validation pass, so reduce_on_plateau monitors the epoch's mean step loss whatever the spec's monitor."""

    def __init__(self, spec: Spec, dataset: data.Dataset):
        self.optimizer = spec.optimizer
        self.steps_per_epoch = math.ceil(dataset.n_train / data.batch_size_of(spec, dataset.n_train))
        self.plateau = schedules.Plateau(spec.optimizer, "loss")  # "loss": lower is better
        self.rate, self.losses = schedules.rate(spec.optimizer, 0), []

    def before_step(self, step: int, trainer) -> None:
        epoch, position = divmod(step, self.steps_per_epoch)
        if position == 0 and schedules.per_epoch(self.optimizer):
            trainer.set_learning_rate(schedules.rate(self.optimizer, epoch))
        elif position == 0 and epoch > 0 and self.plateau.config is not None:
            reduced = self.plateau.update(float(np.mean(self.losses[-self.steps_per_epoch:])), self.rate)
            if reduced is not None:
                self.rate = reduced
                trainer.set_learning_rate(reduced)


def framework_trace(adapter, parity_adapter, spec: Spec, dataset: data.Dataset, weights: list, steps: int,
                    dtype: str, seed: int) -> Trace:
    """Runs in a worker: the trace of one framework."""
    trainable = [keep for _, _, keep in init.canonical_weights(spec.model, seed)]
    model = adapter.build_model(spec.model, seed=seed, dtype=dtype)
    adapter.set_weights(model, weights)
    trace = Trace(forward=parity_adapter.layer_outputs(model, dataset.x_train[:PROBE_SAMPLES]))
    trainer = parity_adapter.make_parity_trainer(spec, model, dataset.target, dtype, trainable)
    rates = EpochRates(spec, dataset)
    for step, (x, y, masks) in enumerate(batches(spec, dataset, steps, seed)):
        rates.before_step(step, trainer)
        loss, gradients = trainer.step(x, y, masks)
        rates.losses.append(loss)
        trace.loss.append(loss)
        trace.gradients.append(gradients)
        trace.weights.append([w for w, keep in zip(adapter.get_weights(model), trainable) if keep])
    return trace


def reference_trace(spec: Spec, dataset: data.Dataset, weights: list, steps: int, dtype: str, seed: int) -> Trace:
    """The numpy reference's trace (dense networks only; see harness.core.reference.supports)."""
    from harness.core.reference import Reference

    trainable = [keep for _, _, keep in init.canonical_weights(spec.model, seed)]
    reference = Reference(spec, [w.astype(dtype) for w in weights], dtype=np.dtype(dtype).type,
                          class_weights=dataset.target.class_weights)
    trace = Trace(forward=reference.forward(dataset.x_train[:PROBE_SAMPLES]))
    for x, y, masks in batches(spec, dataset, steps, seed):
        ordered = [masks[index] for index in sorted(masks)]  # the reference takes them in layer order
        loss, gradients = reference.loss_and_gradients(x, y, ordered)
        reference.step(x, y, ordered)
        trace.loss.append(loss)
        trace.gradients.append([g for g, keep in zip(gradients, trainable) if keep])
        trace.weights.append([w for w, keep in zip(reference.weights, trainable) if keep])
    return trace
