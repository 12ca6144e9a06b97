"""Datasets, splits, scaling, target encoding and batch order: everything both frameworks must see identically.

The arrays are made once per experiment (fixed data seed), saved to one .npz file and loaded by every worker,
so the two frameworks train on the very same bytes.
"""

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from harness.core import class_weights, data_files, shapes, splits, timeseries
from harness.core.datasets import load_raw
from harness.core.errors import SpecError
from harness.core.spec import Spec


@dataclass(frozen=True)
class Target:
    """How labels are encoded and scored. `sparse`: int64 class indices (N,); `dense`: float32 (N, units)."""

    task: str             # "classification" | "regression"
    label_format: str     # "sparse" | "dense"
    metric: str           # "accuracy" | "mae": the metric tracked per epoch
    accuracy: Optional[str]  # "sparse_categorical" | "categorical" | "binary" | None
    units: int
    class_weights: Optional[tuple] = None  # one per class index (harness.core.class_weights), or None


@dataclass
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    target: Target
    target_mean: float = 0.0  # regression targets were scaled as (y - mean) / std when standardize_target
    target_std: float = 1.0
    baseline_test: Optional[np.ndarray] = None  # a naive forecast of y_test (N, units), in original units
    given_test: bool = False  # the dataset came with its own test set (data.test_split unused); not saved

    @property
    def n_train(self) -> int:
        return len(self.x_train)


# ---------------------------------------------------------------------------------------------- splitting

def stratified(spec: Spec, task: str) -> bool:
    """Whether the splits keep the class proportions: data.stratify, by default on for classification."""
    return task == "classification" and spec.data.stratify is not False


def _check_split(field: str, fraction: float, n: int, what: str, optional: bool = False) -> None:
    """Every split the spec names gets at least one sample, and so does the training part it leaves."""
    held = splits.held_out(n, fraction)
    if held == 0 and (fraction > 0 or not optional):
        hint = f" (use at least {1 / n:.3g})" if n > 1 else ""
        raise SpecError(field, f"must hold out at least one {what} sample{', or be 0 for none' if optional else ''}; "
                               f"received {fraction}, which holds out 0 of {n} samples{hint}")
    if held == n:
        raise SpecError(field, f"must leave at least one sample for training; received {fraction}, which holds "
                               f"out all {n} samples")


def _reshape(x: np.ndarray, input_shape: list[int], name: str) -> np.ndarray:
    sample = x.shape[1:]
    if tuple(sample) == tuple(input_shape):
        return x
    if int(np.prod(sample)) != int(np.prod(input_shape)):
        raise SpecError("model.input_shape", f"{input_shape} does not fit the samples of dataset {name!r}, which "
                                             f"have shape {list(sample)} ({int(np.prod(sample))} values)")
    return x.reshape((len(x), *input_shape))  # same values, read in C order


# ------------------------------------------------------------------------------------------------ targets

def _target(spec: Spec, task: str, y: np.ndarray) -> Target:
    units = shapes.output_shape(spec.model)[-1]
    if task == "regression":
        return Target("regression", "dense", "mae", None, units)
    if spec.loss == "binary_crossentropy":
        return Target("classification", "dense", "accuracy", "binary", units)
    if spec.loss == "categorical_crossentropy" and y.ndim == 1:
        return Target("classification", "sparse", "accuracy", "sparse_categorical", units)
    return Target("classification", "dense", "accuracy", "categorical", units)


def _as_float32(values: np.ndarray, name: str) -> np.ndarray:
    """float32, which both frameworks train in; a value beyond its range (about 3.4e38) would become inf."""
    cast = values.astype(np.float32)
    bad = data_files.first_nonfinite(cast)
    if bad:
        raise SpecError("data", f"dataset {name!r}: values must fit in float32 (magnitude below 3.4e38) once "
                                f"scaled; received {values[bad]:.3g} at index {bad}")
    return cast


def _class_count(ys: list[np.ndarray], target: Target, name: str) -> int:
    """The number of classes, from the labels of every split together (a small split may lack the last class),
    checked against the model's output. 0 where the labels are not class indices (regression, one-hot)."""
    where = f"dataset {name!r}"
    if target.task == "regression" or (ys[0].ndim == 2 and ys[0].shape[1] > 1):
        return 0
    if ys[0].ndim > 2:
        raise SpecError("data", f"{where}: classification labels must be one class index or one one-hot row per "
                                f"sample; received labels of shape {list(ys[0].shape[1:])} per sample")
    labels = np.concatenate([y.reshape(-1) for y in ys]).astype(np.float64)
    bad = ~np.isfinite(labels) | (labels != np.round(labels)) | (labels < 0)
    if bad.any():
        raise SpecError("data", f"{where}: classification labels must be integers >= 0; received e.g. "
                                f"{labels[bad][:3]}")
    classes = int(labels.max()) + 1
    if target.accuracy == "binary" and (classes > 2 or target.units != 1):
        raise SpecError("data", f"{where} has {classes} classes; binary_crossentropy needs labels 0/1 and a "
                                f"1-unit output, the model outputs {target.units} units")
    if target.accuracy != "binary" and classes != target.units:
        raise SpecError("data", f"{where} has {classes} classes but the model outputs {target.units} units "
                                f"(the last dense layer needs units: {classes})")
    return classes


def _encode(y: np.ndarray, target: Target, name: str, classes: int = 0) -> np.ndarray:
    """Labels -> the arrays both frameworks train on; `classes` from `_class_count` (0: not class indices)."""
    where = f"dataset {name!r}"
    if len(y) == 0:  # an empty split (validation_split: 0) has nothing to check
        sparse = target.label_format == "sparse"
        return np.zeros((0,) if sparse else (0, target.units), np.int64 if sparse else np.float32)
    if not classes:  # regression targets, one-hot or multi-label rows
        y = y.reshape(len(y), -1)
        if y.shape[1] != target.units:
            what = "target column(s)" if target.task == "regression" else "labels of width"
            raise SpecError("data", f"{where} has {y.shape[1]} {what} but the model outputs {target.units} units")
        return _as_float32(y, name)
    labels = y.reshape(-1).astype(np.int64)
    if target.accuracy == "binary":
        return labels.reshape(-1, 1).astype(np.float32)
    if target.label_format == "sparse":
        return labels
    return np.eye(classes, dtype=np.float32)[labels]


def _check_task(spec: Spec, task: str) -> None:
    if task == "regression" and spec.loss in ("binary_crossentropy", "categorical_crossentropy"):
        raise SpecError("loss", f"{spec.loss} needs class labels; dataset {spec.data.dataset!r} is a regression "
                                f"dataset (allowed: mse, mae)")


# ---------------------------------------------------------------------------------------------- time series

def _prepare_series(spec: Spec) -> Dataset:
    """Forecasting windows in time order (harness.core.timeseries), scaled with the training part's mean and std.

    Inputs and targets are values of one series, so both use the same two numbers: `standardize` scales the
    inputs, `standardize_target` the targets. The test set carries the naive last-value forecast as a baseline.
    """
    data = spec.data
    _check_task(spec, "regression")
    window = timeseries.window_length(data.dataset, spec.model.input_shape)
    parts = timeseries.make_windows(timeseries.load_series(data.dataset), window, data.validation_split,
                                    data.test_split)
    x_shift, x_scale = (parts.mean, parts.std) if data.standardize else (0.0, 1.0)
    y_shift, y_scale = (parts.mean, parts.std) if data.standardize_target else (0.0, 1.0)
    target = _target(spec, "regression", parts.y[0])
    xs = [_reshape((x - x_shift) / x_scale, spec.model.input_shape, data.dataset).astype(np.float32)
          for x in parts.x]
    ys = [_encode((y - y_shift) / y_scale, target, data.dataset) for y in parts.y]
    return Dataset(xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], target, y_shift, y_scale,
                   baseline_test=timeseries.naive_last_value(parts.x[2]))


# ------------------------------------------------------------------------------------------------- public

def _check_token_ids(spec: Spec, xs: list[np.ndarray], name: str) -> None:
    """An embedding's inputs are token ids: integers in [0, input_dim), or the lookup fails inside a framework."""
    first = spec.model.layers[0]
    if first.type != "embedding":
        return
    values = np.concatenate([a.reshape(-1) for a in xs])
    bad = (values != np.round(values)) | (values < 0) | (values >= first.input_dim)
    if bad.any():
        raise SpecError("model.layers[0].input_dim", f"dataset {name!r}: an embedding's inputs must be integer ids "
                                                     f"in [0, {first.input_dim}); received {values[bad.argmax()]:g}")


def prepare(spec: Spec) -> Dataset:
    """Loads, splits, reshapes, scales and encodes the spec's dataset. Deterministic in `spec.data.seed`."""
    data = spec.data
    if data.dataset in timeseries.SERIES:
        return _prepare_series(spec)
    raw = load_raw(data)
    task = raw.task or ("classification" if spec.loss in ("binary_crossentropy", "categorical_crossentropy")
                        else "regression")
    _check_task(spec, task)
    rng = np.random.default_rng([data.seed, 7])
    x, y, x_test, y_test = raw.x, raw.y, raw.x_test, raw.y_test
    if x_test is None:
        _check_split("data.test_split", data.test_split, len(x), "test")
        x, y, x_test, y_test = splits.split(x, y, data.test_split, rng, stratified(spec, task))
    _check_split("data.validation_split", data.validation_split, len(x), "validation", optional=True)
    x_train, y_train, x_val, y_val = splits.split(x, y, data.validation_split, rng, stratified(spec, task))
    target = _target(spec, task, raw.y)
    xs = [_reshape(np.asarray(a, np.float64), spec.model.input_shape, data.dataset) for a in (x_train, x_val, x_test)]
    _check_token_ids(spec, xs, data.dataset)
    ys = [np.asarray(a) for a in (y_train, y_val, y_test)]
    classes = _class_count(ys, target, data.dataset)
    ys = [_encode(a, target, data.dataset, classes) for a in ys]
    target = replace(target, class_weights=class_weights.class_weights(spec.training.class_weight, target, ys[0]))
    if data.standardize:
        mean, std = xs[0].mean(axis=0), xs[0].std(axis=0)
        std[std == 0] = 1.0
        xs = [(a - mean) / std for a in xs]
    xs = [_as_float32(a, data.dataset) for a in xs]
    dataset = Dataset(xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], target, given_test=raw.x_test is not None)
    if task == "regression" and data.standardize_target:
        dataset.target_mean, dataset.target_std = float(ys[0].mean()), float(ys[0].std() or 1.0)
        for name in ("y_train", "y_val", "y_test"):
            setattr(dataset, name, ((getattr(dataset, name) - dataset.target_mean) / dataset.target_std)
                    .astype(np.float32))
    return dataset


def split_class_counts(dataset: Dataset) -> Optional[dict[str, list[int]]]:
    """{train, val, test: samples per class index} of a classification dataset; None for regression."""
    if dataset.target.task != "classification":
        return None
    classes = 2 if dataset.target.accuracy == "binary" else dataset.target.units
    return splits.class_counts({"train": dataset.y_train, "val": dataset.y_val, "test": dataset.y_test}, classes)


def _stratify_notes(spec: Spec, dataset: Dataset) -> list[str]:
    counts = split_class_counts(dataset)
    if not (counts and stratified(spec, dataset.target.task)):
        return []
    made = {name: c for name, c in counts.items() if not (name == "test" and dataset.given_test)}
    return [f"stratify: the {name} split ({sum(made[name])} samples) has no sample of class(es) "
            f"{', '.join(map(str, classes))}, too few for a share of every split; the split keeps the class "
            f"proportions as far as it can" for name, classes in splits.missing_classes(made).items()]


def notes(spec: Spec, dataset: Dataset) -> list[str]:
    """Plain sentences on what the harness made of a legitimate but unusual spec, for the log and the manifest."""
    found = []
    size = spec.training.batch_size
    if size != "full" and size > dataset.n_train:
        found.append(f"batch_size {size} is larger than the {dataset.n_train} training samples: each epoch is one "
                     f"batch of {dataset.n_train}")
    if len(dataset.x_val) == 0:
        found.append("validation_split 0: no validation split, the val figures are left empty")
    if dataset.given_test and "test_split" in spec.data.model_fields_set:
        found.append(f"test_split {spec.data.test_split} is not used: dataset {spec.data.dataset!r} comes with its "
                     f"own test set of {len(dataset.x_test)} samples")
    return found + _stratify_notes(spec, dataset)


def save(dataset: Dataset, path: Path) -> None:
    arrays = {k: v for k, v in vars(dataset).items() if isinstance(v, np.ndarray)}
    meta = {**asdict(dataset.target), "target_mean": dataset.target_mean, "target_std": dataset.target_std}
    np.savez(path, **arrays, meta=np.array(repr(meta)))


def load(path: Path) -> Dataset:
    import ast

    with np.load(path) as arrays:
        meta = ast.literal_eval(str(arrays["meta"]))
        mean, std = meta.pop("target_mean"), meta.pop("target_std")
        baseline = arrays["baseline_test"] if "baseline_test" in arrays else None
        return Dataset(*(arrays[k] for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")),
                       Target(**meta), mean, std, baseline)


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The permutation of the training samples for one epoch; both frameworks consume it as it is."""
    return np.random.default_rng([seed, 1, epoch]).permutation(n)


def batch_size_of(spec: Spec, n_train: int) -> int:
    """'full' -> the whole training set (batch gradient descent)."""
    size = spec.training.batch_size
    return n_train if size == "full" else min(size, n_train)
