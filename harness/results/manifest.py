"""The manifest: what was run, on what, with which settings actually in force in each framework."""

import os
import platform
import subprocess
import time
from pathlib import Path

from harness.core import defaults, folders
from harness.core.data import Dataset, split_class_counts, stratified
from harness.core.spec import Spec


def git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folders.PROJECT, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folders.PROJECT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit + ("+dirty" if dirty else "")) if commit else "unknown"


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version()}


def known_differences(spec: Spec) -> list[str]:
    """What the harness cannot make identical for this spec, in words for the report."""
    notes = ["Float32 kernels sum in different orders: expect differences of about 1e-7 relative per operation, "
             "which training can amplify."]
    optimizer = spec.optimizer.type
    if optimizer in ("adam", "adamw"):
        notes.append("Adam epsilon placement: Keras adds epsilon to sqrt(v) before the bias correction, PyTorch "
                     "after it. With the same epsilon the steps differ, most in the first steps (Keras' epsilon is "
                     "about 31.6x larger in PyTorch terms at step 1); no stock PyTorch setting is exact.")
    if optimizer in ("rmsprop", "adagrad"):
        notes.append(f"{optimizer} epsilon placement: Keras adds epsilon inside the square root, PyTorch outside; "
                     "the same epsilon gives slightly different steps when accumulated squares are small.")
    if any(layer.type == "dropout" and layer.rate > 0 for layer in spec.model.layers):
        notes.append("Dropout masks are drawn by each framework's own random generator: same rate, different "
                     "masks, so curves differ by sampling noise even from identical weights.")
    if spec.optimizer_defaults == "native":
        notes.append("optimizer_defaults: native: each framework used its own optimizer defaults for every "
                     "hyperparameter the spec does not state (see the defaults table), as a naive port would.")
    types = {layer.type for layer in spec.model.layers}
    if "batch_normalization" in types:
        notes.append("Batch normalization: stock PyTorch stores the unbiased (n - 1) batch variance in its running "
                     "variance, Keras the biased one; the harness updates PyTorch's moving statistics the Keras "
                     "way, so inference-mode outputs agree too.")
    if types & {"lstm", "simple_rnn"}:
        notes.append("LSTM / SimpleRNN: PyTorch's second bias vector is held at zero and frozen, so both "
                     "frameworks train the same single bias (two trained biases would learn twice as fast).")
    if spec.init == "native":
        notes.append("init: native: each framework used its own initializers (Keras glorot_uniform kernels and "
                     "zero biases, PyTorch kaiming_uniform(a=sqrt(5)) weights and uniform biases).")
    return notes


def _process(in_process: bool, runs_at_once: int, threads: int) -> str:
    if in_process:
        return "each run in the same process (--in-process)"
    if runs_at_once == 1:
        return "each run in a fresh process, one at a time"
    return f"each run in a fresh process, {runs_at_once} at a time ({threads} thread{'s' * (threads > 1)} each)"


def matched_settings(spec: Spec, dataset: Dataset, batch_size: int, threads: int, in_process: bool,
                     runs_at_once: int = 1) -> dict:
    return {
        "data": "one split (data seed {}{}), standardized with training-split statistics, the same arrays for both"
                .format(spec.data.seed, ", stratified by class" if stratified(spec, dataset.target.task) else ""),
        "initial_weights": (f"loaded from {spec.init_weights} into both models, for every seed" if spec.init_weights
                            else "one numpy draw per run seed (Keras distributions), loaded into both models"
                            if spec.init == "matched" else "native: each framework's own initializers"),
        "batch_order": "one numpy permutation per epoch and seed, consumed by both; the last partial batch kept",
        "batch_size": batch_size,
        "loss_reporting": "sample-weighted mean of pre-update batch losses per epoch, regularization included",
        "test_weights": ("the best epoch's (early_stopping.restore_best_weights)"
                         if spec.training.early_stopping and spec.training.early_stopping.restore_best_weights
                         else "the last epoch's"),
        "threads": threads,
        "process": _process(in_process, runs_at_once, threads),
        "runs_at_once": runs_at_once,
        "n_train": dataset.n_train, "n_val": len(dataset.x_val), "n_test": len(dataset.x_test),
        "label_format": dataset.target.label_format,
    }


def framework_facts(runs: list[dict]) -> dict:
    """Per framework, what its first run that built a model reported: versions, threads, hyperparameters, and the
    execution mode it trained in ({"mode": name, the adapter's settings}; absent from runs of older versions)."""
    per_framework = {}
    for run in runs:
        if run["framework"] not in per_framework and "hyperparameters" in run:
            facts = {key: run.get(key) for key in ("versions", "threads", "hyperparameters")}
            execution = {"execution": run["execution"]} if "execution" in run else {}
            per_framework[run["framework"]] = {**facts, **execution}
    return per_framework


def build(spec: Spec, dataset: Dataset, runs: list[dict], batch_size: int, threads: int, in_process: bool,
          runs_at_once: int = 1) -> dict:
    return {
        "name": spec.name, "description": spec.description,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": git_commit(), "machine": machine(),
        "task": dataset.target.task, "metric": dataset.target.metric,
        "matched": matched_settings(spec, dataset, batch_size, threads, in_process, runs_at_once),
        "known_differences": known_differences(spec),
        "defaults_diff": defaults.table(spec),
        **({"class_counts": counts} if (counts := split_class_counts(dataset)) else {}),
        "analysis": spec.analysis.model_dump(mode="json"),
        "frameworks": framework_facts(runs),
        "spec": spec.model_dump(mode="json"),
    }
