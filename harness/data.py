"""Datasets, splits, scaling, target encoding and batch order: everything both frameworks must see identically.

The arrays are made once per experiment (fixed data seed), saved to one .npz file and loaded by every worker,
so the two frameworks train on the very same bytes.
"""

import struct
import warnings
import zipfile
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from math import prod
from pathlib import Path
from typing import Optional

import numpy as np

from harness import guard, shapes, timeseries
from harness.errors import SpecError
from harness.spec import DataSpec, Spec


@dataclass(frozen=True)
class Target:
    """How labels are encoded and scored. `sparse`: int64 class indices (N,); `dense`: float32 (N, units)."""

    task: str             # "classification" | "regression"
    label_format: str     # "sparse" | "dense"
    metric: str           # "accuracy" | "mae": the metric tracked per epoch
    accuracy: Optional[str]  # "sparse_categorical" | "categorical" | "binary" | None
    units: int


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


@dataclass
class Raw:
    x: np.ndarray
    y: np.ndarray
    x_test: Optional[np.ndarray]
    y_test: Optional[np.ndarray]
    task: Optional[str]  # None: decided from the loss (csv / npz)


# ------------------------------------------------------------------------------------------------ loading

def _sklearn(name: str, data: DataSpec) -> Raw:
    import sklearn.datasets as skd

    loaders = {"digits": skd.load_digits, "iris": skd.load_iris, "wine": skd.load_wine,
               "breast_cancer": skd.load_breast_cancer, "diabetes": skd.load_diabetes}
    if name in loaders:
        x, y = loaders[name](return_X_y=True)
        return Raw(x, y, None, None, "regression" if name == "diabetes" else "classification")
    if name == "moons":
        x, y = skd.make_moons(data.n_samples, noise=0.2 if data.noise is None else data.noise, random_state=data.seed)
        return Raw(x, y, None, None, "classification")
    if name == "blobs":
        x, y = skd.make_blobs(data.n_samples, n_features=data.n_features, centers=data.n_classes,
                              random_state=data.seed)
        return Raw(x, y, None, None, "classification")
    x, y = skd.make_regression(data.n_samples, n_features=data.n_features,
                               noise=10.0 if data.noise is None else data.noise, random_state=data.seed)
    return Raw(x, y, None, None, "regression")


def _mnist1d() -> Raw:
    from mnist1d.data import get_dataset_args, make_dataset

    made = make_dataset(get_dataset_args())  # the standard 4000 / 1000 split, generated locally
    return Raw(made["x"], made["y"], made["x_test"], made["y_test"], "classification")


# A csv or npz file is checked before anything large is allocated: its size (guard), its encoding or archive
# structure, every array's declared dtype and size, then its values (finite features and labels). Every failure
# is one SpecError line on `data.path` naming the file, the column or array, and the first bad row or index.

def _show(value, limit: int = 40) -> str:
    """repr(value), cut to `limit` characters: a message stays one short line whatever the file holds."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _show_names(names: list) -> str:
    shown = ", ".join(_show(name) for name in names[:8])
    return f"[{shown}{f', ... ({len(names) - 8} more)' if len(names) > 8 else ''}]"


def _first_nonfinite(values: np.ndarray) -> Optional[tuple]:
    """The index of the first NaN or infinite value in C order, or None (integer and bool arrays have none)."""
    if values.dtype.kind != "f":
        return None
    bad = ~np.isfinite(values)
    return tuple(int(i) for i in np.unravel_index(int(bad.argmax()), values.shape)) if bad.any() else None


def _nonfinite_text(value, csv: bool = False) -> str:
    return str(value) if not np.isnan(value) else "NaN (an empty or missing value)" if csv else "NaN"


# ---------------------------------------------------------------------------------------------- csv files

CSV_CHUNK_CELLS = 2 ** 20  # values parsed at a time: a text column never sits in memory as Python strings whole


@contextmanager
def _pandas_errors(name: str):
    """pandas' parser failures (and its warning that a row is longer than the header) as one line."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            yield
        except pd.errors.EmptyDataError:
            raise SpecError("data.path", f"{name} is empty; expected a header line naming the columns, then "
                                         f"data rows") from None
        except pd.errors.ParserWarning:  # the first data row is longer than the header: pandas would drop values
            raise SpecError("data.path", f"{name} must be comma-separated rows with one field per header column; "
                                         f"received a first data row with more fields than the header") from None
        except pd.errors.ParserError as error:
            problem = str(error).strip().splitlines()[0].removeprefix("Error tokenizing data. C error: ")
            raise SpecError("data.path", f"{name} must be comma-separated rows with one field per header column; "
                                         f"received: {_show(problem, 160)[1:-1]}") from None


def _csv_header(path: Path) -> list[str]:
    """The column names as written: pandas itself renames a repeated name 'a' to 'a.1'."""
    import pandas as pd

    with _pandas_errors(path.name):
        first = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, encoding="utf-8")
    names = [str(name) for name in first.iloc[0]] if len(first) else []
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise SpecError("data.path", f"{path.name}: column names must be unique; received {_show(repeated[0])} "
                                     f"{Counter(names)[repeated[0]]} times")
    return names


def _is_numeric(column) -> bool:
    """Numbers or bools. pandas' own tests: numpy's np.issubdtype raises on pandas' string dtype."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return is_numeric_dtype(column) or is_bool_dtype(column)


def _first_text(column) -> tuple[int, object]:
    """(row, value) of the first entry of a text column that is not a number."""
    import pandas as pd

    text = column[pd.to_numeric(column, errors="coerce").isna() & column.notna()]
    found = text if len(text) else column.dropna()  # e.g. a number too large for 64 bits, read as text
    return int(found.index[0]), found.iloc[0]


def _csv_features(chunk, name: str, first_row: int) -> np.ndarray:
    """A chunk's feature columns as float64 (rows, columns): numeric or bool columns, finite values only."""
    for column in chunk.columns:
        if not _is_numeric(chunk[column]):
            row, value = _first_text(chunk[column])
            raise SpecError("data.path", f"{name}: feature columns must be numeric; received text in column "
                                         f"{_show(column)} (data row {first_row + row + 1}: {_show(value)})")
    values = chunk.to_numpy(np.float64)
    bad = _first_nonfinite(values)
    if bad:
        column = _show(chunk.columns[bad[1]])
        raise SpecError("data.path", f"{name}: feature values must be finite numbers; received "
                                     f"{_nonfinite_text(values[bad], csv=True)} in column {column}, data row "
                                     f"{first_row + bad[0] + 1}")
    return values


def _csv_labels(labels, name: str, first_row: int):
    """A chunk's label column, checked: finite numbers, or class names without gaps."""
    if _is_numeric(labels):
        values = labels.to_numpy(np.float64)
        bad = _first_nonfinite(values)
        received = _nonfinite_text(values[bad], csv=True) if bad else ""
    else:
        missing = labels.isna().to_numpy()
        bad, received = ((int(missing.argmax()),), "an empty value") if missing.any() else (None, "")
    if bad:
        raise SpecError("data.path", f"{name}: the label column {_show(labels.name)} must hold finite numbers or "
                                     f"class names; received {received} in data row {first_row + bad[0] + 1}")
    return labels


def _csv(data: DataSpec) -> Raw:
    import pandas as pd

    path = guard.check_text_file(data.path, "data.path", "data")
    columns = _csv_header(path)
    if data.target not in columns:
        raise SpecError("data.target", f"column {data.target!r} is not in {path.name}; columns: "
                                       f"{_show_names(columns)}")
    if len(columns) == 1:
        raise SpecError("data.path", f"{path.name} must hold feature columns besides the label column "
                                     f"{data.target!r}; received no other column")
    features, labels, rows = [], [], 0
    with _pandas_errors(path.name), pd.read_csv(path, chunksize=max(1, CSV_CHUNK_CELLS // len(columns)),
                                                index_col=False, encoding="utf-8") as reader:
        for chunk in (chunk for chunk in reader if len(chunk)):  # a header-only file yields one empty chunk
            chunk = chunk.reset_index(drop=True)  # rows counted from 0 in each chunk
            features.append(_csv_features(chunk.drop(columns=[data.target]), path.name, rows))
            labels.append(_csv_labels(chunk[data.target], path.name, rows))
            rows += len(chunk)
    if rows == 0:
        raise SpecError("data.path", f"{path.name} has no data rows; expected rows of values below the header")
    y = pd.concat(labels, ignore_index=True)
    if _is_numeric(y):
        y = y.to_numpy()
    else:  # class names -> indices, in sorted order
        y = np.unique(y.astype(str).to_numpy(), return_inverse=True)[1]
    return Raw(np.concatenate(features), y, None, None, data.task)


# ---------------------------------------------------------------------------------------------- npz files

NPZ_ARRAYS = ("x", "y", "x_test", "y_test")
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's first entry, or an empty archive
NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, real floats
KIND_NAMES = {"c": "complex numbers, whose imaginary part would be lost", "U": "text", "S": "bytes",
              "M": "datetimes", "m": "time deltas", "V": "structured records or raw bytes", "O": "Python objects"}
# What a damaged archive or array raises: zipfile, zlib (inside zipfile) and numpy's .npy reader.
NPZ_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
                   TypeError, RuntimeError, NotImplementedError, struct.error)


def _npy_header(archive, key: str, name: str) -> tuple[tuple, np.dtype]:
    """(shape, dtype) that the member's .npy header declares, read without reading its data."""
    from numpy.lib import format as npy

    member = f"{key}.npy" if f"{key}.npy" in archive.zip.namelist() else key
    with archive.zip.open(member) as stream:
        try:
            version = npy.read_magic(stream)
        except ValueError:
            raise SpecError("data.path", f"{name}: {key!r} must be a .npy array (np.savez writes them); received "
                                         f"another kind of file") from None
        readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
        if version not in readers:
            raise SpecError("data.path", f"{name}: array {key!r} must be in .npy format 1.0 or 2.0; received "
                                         f"{version[0]}.{version[1]}")
        shape, _, dtype = readers[version](stream)
    return shape, dtype


def _check_header(key: str, shape: tuple, dtype: np.dtype, name: str) -> int:
    """The array's size in bytes, if its declared dtype and shape are ones the harness trains on."""
    if dtype.hasobject:
        raise SpecError("data.path", f"{name}: array {key!r} holds an object array (pickled data is never "
                                     f"loaded); expected numbers")
    if dtype.kind not in NUMERIC_KINDS:
        raise SpecError("data.path", f"{name}: array {key!r} must hold bool, integer or real float values; "
                                     f"received {dtype} ({KIND_NAMES.get(dtype.kind, dtype.kind)})")
    if len(shape) == 0:
        raise SpecError("data.path", f"{name}: array {key!r} must hold one sample per row; received a 0-d array "
                                     f"(a single value)")
    if prod(shape) == 0:
        raise SpecError("data.path", f"{name}: array {key!r} must not be empty; received shape {shape}")
    return prod(shape) * dtype.itemsize


def _npz_headers(archive, name: str) -> dict[str, tuple]:
    """{key: (shape, dtype)} of the arrays the harness reads, refused before any is loaded if they would not fit
    the data limit (a compressed archive can declare far more than its file size)."""
    headers = {key: _npy_header(archive, key, name) for key in NPZ_ARRAYS if key in archive.files}
    missing = [key for key in ("x", "y") if key not in headers]
    if missing:
        raise SpecError("data.path", f"{name} must hold arrays 'x' and 'y'; missing {missing}")
    if ("x_test" in headers) != ("y_test" in headers):
        present, absent = ("x_test", "y_test") if "x_test" in headers else ("y_test", "x_test")
        raise SpecError("data.path", f"{name}: x_test and y_test come together; received {present} without "
                                     f"{absent}")
    total = sum(_check_header(key, *headers[key], name) for key in headers)
    if total > guard.LIMITS["data"]:
        raise SpecError("data.path", f"{name}: its arrays would take {total / guard.GIB:,.1f} GiB once loaded; "
                                     f"at most {guard.LIMITS['data'] / guard.GIB:.0f} GiB are allowed")
    return headers


def _check_npz_arrays(arrays: dict, name: str) -> None:
    """Lengths and sample shapes that agree, and finite values."""
    for first, second in (("x", "y"), ("x_test", "y_test")):
        if first in arrays and len(arrays[first]) != len(arrays[second]):
            raise SpecError("data.path", f"{name}: {first} and {second} must hold the same number of samples; "
                                         f"received {len(arrays[first])} and {len(arrays[second])}")
    for test, train in (("x_test", "x"), ("y_test", "y")):
        if test in arrays and arrays[test].shape[1:] != arrays[train].shape[1:]:
            raise SpecError("data.path", f"{name}: {test}'s samples must have the shape of {train}'s, "
                                         f"{arrays[train].shape[1:]}; received {arrays[test].shape[1:]}")
    for key, values in arrays.items():
        bad = _first_nonfinite(values)
        if bad:
            raise SpecError("data.path", f"{name}: array {key!r} must hold finite numbers; received "
                                         f"{_nonfinite_text(values[bad])} at index {bad}")


def _npz(data: DataSpec) -> Raw:
    path = guard.check_file(data.path, "data.path", "data")
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if not magic.startswith(ZIP_MAGIC):
        what = "a single .npy array" if magic == b"\x93NUMPY" else "another kind of file"
        raise SpecError("data.path", f"{path.name} must be an .npz archive (np.savez) holding x and y; received "
                                     f"{what}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in _npz_headers(archive, path.name)}
    except SpecError:
        raise
    except NPZ_READ_ERRORS as error:
        problem = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise SpecError("data.path", f"{path.name} must be a readable .npz archive; received a damaged one "
                                     f"({_show(problem, 120)[1:-1]})") from None
    _check_npz_arrays(arrays, path.name)
    return Raw(arrays["x"], arrays["y"], arrays.get("x_test"), arrays.get("y_test"), data.task)


def load_raw(data: DataSpec) -> Raw:
    if data.dataset == "mnist1d":
        return _mnist1d()
    if data.dataset == "csv":
        return _csv(data)
    if data.dataset == "npz":
        return _npz(data)
    return _sklearn(data.dataset, data)


# ---------------------------------------------------------------------------------------------- splitting

def held_out(n: int, fraction: float) -> int:
    """How many of n samples a split fraction holds out."""
    return int(round(n * fraction))


def _split(x, y, fraction: float, rng: np.random.Generator):
    """Shuffles once, then holds out the last `fraction` of the samples."""
    order = rng.permutation(len(x))
    held = held_out(len(x), fraction)
    keep, out = order[:len(x) - held], order[len(x) - held:]
    return x[keep], y[keep], x[out], y[out]


def _check_split(field: str, fraction: float, n: int, what: str, optional: bool = False) -> None:
    """Every split the spec names gets at least one sample, and so does the training part it leaves."""
    held = held_out(n, fraction)
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
    bad = _first_nonfinite(cast)
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
    """Forecasting windows in time order (harness.timeseries), scaled with the training part's mean and std.

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
        x, y, x_test, y_test = _split(x, y, data.test_split, rng)
    _check_split("data.validation_split", data.validation_split, len(x), "validation", optional=True)
    x_train, y_train, x_val, y_val = _split(x, y, data.validation_split, rng)
    target = _target(spec, task, raw.y)
    xs = [_reshape(np.asarray(a, np.float64), spec.model.input_shape, data.dataset) for a in (x_train, x_val, x_test)]
    ys = [np.asarray(a) for a in (y_train, y_val, y_test)]
    classes = _class_count(ys, target, data.dataset)
    ys = [_encode(a, target, data.dataset, classes) for a in ys]
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
    return found


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
