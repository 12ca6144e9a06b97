"""Comparing two parity traces: per layer and per step differences, the first divergence, and the verdict."""

from dataclasses import dataclass

import numpy as np

from harness.jobs.trace import Trace


def _max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) if np.size(a) else 0.0


def _scale(tensor, relative: bool) -> float:
    return max(1.0, float(np.max(np.abs(tensor)))) if relative and np.size(tensor) else 1.0


def _worst(tensors_a, tensors_b, names, relative: bool = False) -> tuple[float, str]:
    """The largest |a - b| over a list of tensors (relative: over max(1, max |a|) of each tensor), and the name
    of the tensor where it is."""
    deltas = [_max_abs(a, b) / _scale(a, relative) for a, b in zip(tensors_a, tensors_b)]
    if not deltas:
        return 0.0, ""
    k = int(np.argmax(deltas))
    return deltas[k], names[k]


@dataclass
class Comparison:
    """Side a against side b (for example tensorflow against torch)."""

    a: str
    b: str
    forward: list   # per layer: {index, type, max_abs, max_rel, ok}
    steps: list     # per step: {step, loss_a, loss_b, loss, gradients, gradient_tensor, weights, weight_tensor}
    tolerances: dict

    @property
    def first_forward_divergence(self):
        """The first layer whose output is beyond tolerance (None when every layer agrees)."""
        return next((row for row in self.forward if not row["ok"]), None)

    def _beyond(self, row) -> list[str]:
        # written as "not within" so that a NaN counts as beyond tolerance
        return [what for what in ("loss", "gradients", "weights") if not row[what] <= self.tolerances[what]]

    @property
    def first_step_divergence(self):
        """(step row, the quantities beyond tolerance) for the first failing step, or None."""
        return next(((row, self._beyond(row)) for row in self.steps if self._beyond(row)), None)

    def maxima(self) -> dict:
        return {what: max((row[what] for row in self.steps), default=0.0) for what in ("loss", "gradients", "weights")}

    @property
    def passed(self) -> bool:
        return self.first_forward_divergence is None and self.first_step_divergence is None


def compare(a_name: str, a: Trace, b_name: str, b: Trace, layer_types: list[str], weight_names: list[str],
            tolerances: dict) -> Comparison:
    forward = []
    for index, (out_a, out_b) in enumerate(zip(a.forward, b.forward)):
        scale = max(1.0, float(np.max(np.abs(out_a))) if np.size(out_a) else 1.0)
        delta = _max_abs(out_a, out_b)
        # outputs of order 1 are compared absolutely, larger ones relative to their size
        forward.append({"index": index, "type": layer_types[index], "max_abs": delta, "max_rel": delta / scale,
                        "ok": delta <= tolerances["forward"] * scale})
    steps = []
    for step, (loss_a, loss_b) in enumerate(zip(a.loss, b.loss)):
        gradients, gradient_tensor = _worst(a.gradients[step], b.gradients[step], weight_names,
                                            relative=tolerances.get("relative_gradients", False))
        weights, weight_tensor = _worst(a.weights[step], b.weights[step], weight_names)
        steps.append({"step": step + 1, "loss_a": float(loss_a), "loss_b": float(loss_b),
                      "loss": abs(float(loss_a) - float(loss_b)), "gradients": gradients,
                      "gradient_tensor": gradient_tensor, "weights": weights, "weight_tensor": weight_tensor})
    return Comparison(a_name, b_name, forward, steps, tolerances)
